"""Smoke tests of benchmarks/: the scripts run and the three packages agree.

All are marked ``slow`` (excluded from the default run); run them with
``python -m pytest -m slow tests/test_benchmarks_smoke.py``. They check that
the benchmark scripts work and that the optima agree, never how long a fit
takes.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import multilevel as ml

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _module(name: str):
    """Import benchmarks/NAME.py under a private module name (once)."""
    key = f"multilevel_bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[key] = mod  # dataclasses look their module up here
        spec.loader.exec_module(mod)
    return sys.modules[key]


def _has_r() -> bool:
    return _module("run").r_available()


needs_r = pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not on PATH")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / "run.py"), "--quiet", *args],
                          capture_output=True, text=True, check=False, timeout=600)


def test_simulate_is_deterministic():
    sim = _module("simulate")
    a = sim.simulate(rows=5000, groups=50)
    b = sim.simulate(rows=5000, groups=50)
    assert a.equals(b)
    assert a.shape == (5000, 7) and a["g"].nunique() == 50
    fit = ml.lmer(sim.FORMULA, a, reml=False)
    # the simulated fixed effects are recovered roughly
    assert fit.fixef["x2"] == pytest.approx(-0.3, abs=0.1)


def test_list_names_every_workload():
    proc = run_script("--list")
    assert proc.returncode == 0, proc.stderr
    for key in ("sleepstudy", "gcsemv", "leebryk", "penicillin", "insteval", "sim1m"):
        assert key in proc.stdout


def test_small_workloads_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_script("sleepstudy", "gcsemv", "penicillin", "--repeat", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "| workload | rows | multilevel s |" in text
    assert text.count("\n| ") == 4  # header + three workloads
    rows = {r["workload"]: r for r in json.loads(out.read_text())}
    assert set(rows) == {"sleepstudy", "gcsemv", "penicillin"}
    assert rows["gcsemv"]["nobs"] == 1725
    for r in rows.values():
        assert r["multilevel"]["seconds"] > 0
        assert r["multilevel"]["objective"] == pytest.approx(
            ml.lmer(r["formula"], ml.datasets.load(r["workload"]), reml=r["reml"]).objective)
    # mixedlm (the bench extra) fits every workload, to the same optima
    if importlib.util.find_spec("mixedlm") is not None:
        for r in rows.values():
            assert r["mixedlm"]["objective"] == pytest.approx(r["multilevel"]["objective"], abs=0.01)
    # statsmodels cannot fit crossed random effects: it is skipped, with a reason
    assert rows["penicillin"]["statsmodels"]["seconds"] is None
    assert "crossed" in rows["penicillin"]["statsmodels"]["note"]
    pytest.importorskip("statsmodels")
    for key in ("sleepstudy", "gcsemv"):
        assert rows[key]["statsmodels"]["objective"] == pytest.approx(
            rows[key]["multilevel"]["objective"], abs=0.01)
    if _has_r():
        for r in rows.values():
            assert r["lme4"]["objective"] == pytest.approx(r["multilevel"]["objective"], abs=0.01)


def test_small_simulation_with_memory_and_r(tmp_path):
    out = tmp_path / "sim.json"
    proc = run_script("sim1m", "--sim-rows", "20000", "--sim-groups", "200", "--repeat", "1",
                      "--with-slow-r", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(out.read_text())
    assert row["nobs"] == 20000
    mem = row["memory"]
    assert "error" not in mem, mem
    assert mem["peak_traced_mib"] > 0 and mem["maxrss_mib"] >= mem["maxrss_before_fit_mib"]
    assert "multilevel memory: peak traced allocations" in proc.stdout
    if _has_r():
        assert row["lme4"]["objective"] == pytest.approx(row["multilevel"]["objective"], abs=0.01)


@needs_r
def test_lme4_time_script_directly():
    if not _has_r():
        pytest.skip("R without lme4/jsonlite")
    csv, side = _module("run").bundled_paths("sleepstudy")
    formula = "Reaction ~ 1 + Days + (1 + Days | Subject)"
    proc = subprocess.run(["Rscript", str(BENCH / "lme4_time.R"), str(csv), formula, "TRUE", "2",
                           str(side)], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["seconds"]) == 2 and out["nobs"] == 180
    ours = ml.lmer(formula, ml.datasets.load("sleepstudy"))
    assert out["objective"] == pytest.approx(ours.objective, abs=1e-4)


def run_glmm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / "glmm.py"), "--quiet", *args],
                          capture_output=True, text=True, check=False, timeout=600)


def test_glmm_list_names_every_workload():
    proc = run_glmm("--list")
    assert proc.returncode == 0, proc.stderr
    for key in ("verbagg", "verbagg_nagq0", "cbpp", "cbpp_agq25", "grouseticks",
                "verbagg_slope", "hsb82_slope", "rasch", "rasch_agq15"):
        assert key in proc.stdout


def test_glmm_cbpp_without_r(tmp_path):
    out = tmp_path / "glmm.json"
    proc = run_glmm("cbpp", "cbpp_agq25", "--repeat", "1", "--no-r", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("Command: python ") and "glmm.py --quiet cbpp cbpp_agq25 --repeat 1" in text
    assert "| workload | rows | multilevel s | mixedlm s | glmer s |" in text
    assert text.count("\n| ") == 3  # header + two workloads
    doc = json.loads(out.read_text())
    assert doc["command"].endswith("--no-r --json " + str(out))
    rows = {r["workload"]: r for r in doc["results"]}
    assert set(rows) == {"cbpp", "cbpp_agq25"}
    data = ml.datasets.load("cbpp")
    for r in rows.values():
        assert r["nobs"] == 56
        ml_row = r["multilevel"]
        assert ml_row["seconds"] > 0 and len(ml_row["runs"]) == 1 and ml_row["feval"] > 0
        fit = ml.glmer(r["formula"], data, family=r["family"], link=r["link"], nagq=r["nagq"])
        assert ml_row["loglik"] == pytest.approx(fit.loglik)
        assert r["glmer"]["seconds"] is None and "--no-r" in r["glmer"]["note"]
        assert r["delta_loglik"] is None
        if r["mixedlm"]["seconds"] is not None:  # the bench extra: the same likelihood, cbind as weights
            assert abs(r["delta_loglik_mixedlm"]) < 1e-2, r["mixedlm"]
    # the absolute-scale log-likelihoods: nAGQ = 25 close to the Laplace value
    assert rows["cbpp_agq25"]["multilevel"]["loglik"] == pytest.approx(
        rows["cbpp"]["multilevel"]["loglik"], abs=0.1)


@needs_r
def test_glmer_time_script_directly():
    if not _has_r():
        pytest.skip("R without lme4/jsonlite")
    csv, side = _module("run").bundled_paths("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    proc = subprocess.run(["Rscript", str(BENCH / "glmer_time.R"), str(csv), formula, "binomial",
                           "logit", "25", "2", str(side)], capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(out["seconds"]) == 2 and out["nobs"] == 56 and out["nagq"] == 25
    assert out["feval"] > 0
    # lme4's nAGQ > 1 logLik is relative to the saturated model; the absolute one is ours
    assert out["loglik_absolute"] == pytest.approx(out["loglik"] + out["loglik_saturated"])
    ours = ml.glmer(formula, ml.datasets.load("cbpp"), nagq=25)
    assert ours.loglik > out["loglik_absolute"] - 1e-4
    assert ours.loglik == pytest.approx(out["loglik_absolute"], abs=1e-3)


def run_bayes(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH / "bayes.py"), "--quiet", *args],
                          capture_output=True, text=True, check=False, timeout=900)


def test_bayes_list_names_every_workload():
    proc = run_bayes("--list")
    assert proc.returncode == 0, proc.stderr
    for key in ("gcsemv", "anorexia", "rasch"):
        assert key in proc.stdout


def test_bayes_gcsemv_tiny_run(tmp_path):
    pytest.importorskip("numpyro")
    out = tmp_path / "bayes.json"
    proc = run_bayes("gcsemv", "--chains", "2", "--draws", "30", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert text.startswith("Command: python ") and "bayes.py --quiet gcsemv --chains 2 --draws 30" in text
    assert "| workload | sampler | seconds first call | seconds second call |" in text
    assert text.count("\n| ") == 4  # header + the default (auto) + NUTS + collapsed
    assert "rstanarm" in text and "Load average" in text
    doc = json.loads(out.read_text())
    assert doc["references"]["anorexia"]["min_ess_per_s"] == pytest.approx(64.6, abs=0.1)
    rows = {r["sampler"]: r for r in doc["results"]}
    assert set(rows) == {"auto", "nuts", "collapsed"}
    for r in rows.values():
        assert "error" not in r, r
        assert r["workload"] == "gcsemv" and r["nobs"] == 1725
        assert (r["chains"], r["draws"], r["warmup"]) == (2, 30, 30)
        first, second = r["calls"]
        assert first["seconds"] > 0 and second["seconds"] > 0
        assert first["min_bulk_ess"] > 0 and first["min_tail_ess"] > 0 and first["max_rhat"] > 0.9
        # monitored: fixed effects, SDs, the correlation and sigma; not the random effects
        assert set(first["bulk_ess"]) == {"b_Intercept", "b_femaleF", "sd_school__Intercept",
                                          "sd_school__femaleF", "cor_school__Intercept__femaleF",
                                          "sigma"}
        assert first["min_ess_per_s"] == pytest.approx(first["min_bulk_ess"] / first["seconds"])
