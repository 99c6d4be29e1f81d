"""Speed and sampling efficiency of ``ml.bayes`` on the Bayesian route's reference workloads.

Usage::

    python benchmarks/bayes.py                          # every workload (many minutes: rasch)
    python benchmarks/bayes.py gcsemv anorexia          # some of them
    python benchmarks/bayes.py gcsemv --sampler collapsed
    python benchmarks/bayes.py gcsemv --chains 2 --draws 50   # a smoke test
    python benchmarks/bayes.py --json /tmp/bayes_bench.json
    python benchmarks/bayes.py gcsemv anorexia --warm-cache   # compiled code loaded from disk
    python benchmarks/bayes.py gcsemv --with-rstanarm   # also time rstanarm (about 5 minutes)
    python benchmarks/bayes.py --list

For each workload and sampler the script starts a fresh Python process with
an empty JAX compilation cache of its own (so every first call pays its own
compilation, whatever ran before, and memory is returned between workloads);
with ``--warm-cache`` an untimed process of the same settings fills that cache
first, so the timed first call loads the compiled code from disk, as a user's
second session would. The process imports JAX and NumPyro (timed apart, see
the notes), then makes two complete ``ml.bayes(...)`` calls on the same model
and data with different seeds:

* the first call, from the data frame in memory to the ``Posterior``: design,
  priors, JIT compilation, warmup, sampling, drawing the effects (collapsed
  sampler) and the diagnostics ``ml.bayes`` computes for its messages;
* the second call, which reuses the sampler compiled by the first.

From the draws of each call it computes, over the monitored parameters (the
fixed effects, random-effect SDs and correlations and sigma: every entry of
``post.draws``, not the individual random effects), the minimum bulk and tail
effective sample sizes and the maximum R-hat (``multilevel.bayes.diagnostics``:
rank-normalised, as Stan and ArviZ), and counts the divergent transitions.
"min ESS/s" is the minimum bulk ESS divided by the wall seconds of the whole
call (the first call in the table; the second call's figure is in the notes).

The references:

* gcsemv: rstanarm 2.21 (``stan_lmer``, 4 chains x 2,000 iterations) took
  308 s for a minimum ESS per second of 3.3 (the figure of the issue that set
  the targets); with ``--with-rstanarm``, when ``Rscript`` with rstanarm is on
  the PATH, ``benchmarks/rstanarm_time.R`` times one ``stan_lmer`` call on the
  same data, chains and draws (default priors, chains one after another) and
  measures the same figures with ``rstan::monitor``; that run is then the
  reference;
* anorexia: Model 5 of the JAGS notes run as the notes run it
  (``tests/reference/bayes_jags.json``, entry ``benchmark``, timed on this
  machine by ``tests/reference/bayes_jags.R``); its minimum is coda's
  ``effectiveSize`` over the notes' monitored nodes, which the notes below
  also give for ``ml.bayes`` (with the precision ``ptau0 = 1 / sd^2`` derived);
* classroom: the brms notes' model on the data simulated by
  ``examples/bayes_classroom_brms.py`` at the size of the notes' data (3,000
  pupils, 150 classes); the reference is the notes' own rstanarm run as the
  issue that set the target quotes it (2,417 s, min n_eff 350), not re-run;
* rasch: no reference run, only the target.

The targets (from the issue): gcsemv at least 1,000 min-ESS/s and under 15 s
for the whole call; anorexia 100 times JAGS's min-ESS/s; classroom at least
1,000 min bulk ESS in under 30 s with the default call; rasch R-hat under 1.01
in under 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from run import bundled_paths, environment, fmt_seconds  # noqa: E402  (benchmarks/run.py)

JAGS_JSON = ROOT / "tests" / "reference" / "bayes_jags.json"


#: the brms notes' classroom model (examples/bayes_classroom_brms.py, on its simulated data)
CLASSROOM_FORMULA = ("score ~ 1 + size + exp + t_female + t_black + prop_black + age + age:size"
                     " + female + female:t_female + black + black:t_black + black:prop_black"
                     " + (1 + age + female + black | class)")
#: the issue's figure for the notes' run of that model (rstanarm, as the notes report it)
RSTANARM_CLASSROOM = {"seconds": 2417.0, "min_ess": 350.0}


def load_data(w) -> "object":
    """The workload's data: a bundled data set, or the classroom example's simulation."""
    import multilevel as ml

    if w.key != "classroom":
        return ml.datasets.load(w.dataset)
    sys.path.insert(0, str(ROOT / "examples"))
    from bayes_classroom_brms import FORMULA, simulate

    assert FORMULA == CLASSROOM_FORMULA, "the example's formula changed: update CLASSROOM_FORMULA"
    return simulate(150, 20)


@dataclass(frozen=True)
class BayesWorkload:
    """One model on one bundled data set, and the figure it is compared with."""

    key: str
    label: str
    formula: str
    dataset: str
    samplers: tuple
    family: str = "gaussian"
    center: bool = True
    chains: int = 4
    draws: int = 1000
    warmup: int = 1000
    keep_ranef: bool = True
    second_call: bool = True  # time a second call (the compiled sampler reused)
    target: str = ""


WORKLOADS = {
    w.key: w for w in [
        BayesWorkload(
            "gcsemv", "gcsemv (1 + female | school), default priors",
            "course ~ 1 + female + (1 + female | school)", "gcsemv", ("auto", "nuts", "collapsed"),
            target=">= 1,000 min-ESS/s and < 15 s for the whole call",
        ),
        BayesWorkload(
            "anorexia", "anorexia JAGS notes model 5, the notes' priors",
            "weight ~ 1 + time + rx1 + rx3 + (1 + time || girl)", "anorexia",
            ("auto", "nuts", "collapsed"), center=False,
            target="100 x JAGS's min-ESS/s",
        ),
        BayesWorkload(
            "classroom", "brms notes' classroom model, 3,000 pupils in 150 classes, "
            "(1 + age + female + black | class), 13 fixed effects, default priors",
            CLASSROOM_FORMULA, "classroom (simulated)", ("auto", "nuts"),
            target=">= 1,000 min bulk ESS in < 30 s for the whole call",
        ),
        BayesWorkload(
            "rasch", "Rasch 5 items, 100,000 rows, 20,000 persons, binomial",
            "y ~ 0 + item + (1 | person)", "rasch5", ("nuts",), family="binomial",
            keep_ranef=False, second_call=False,
            target="max R-hat < 1.01 in < 120 s",
        ),
    ]
}

#: the issue's rstanarm figure for gcsemv (not re-run here)
RSTANARM_GCSEMV = {"seconds": 308.0, "min_ess_per_s": 3.3, "version": "2.21",
                   "settings": "4 chains x 2,000 iterations (1,000 warmup)"}


_RSTANARM_OK: bool | None = None


def rstanarm_available() -> bool:
    """Rscript on the PATH with rstanarm, rstan and jsonlite installed (checked once)."""
    global _RSTANARM_OK
    if _RSTANARM_OK is None:
        exe = shutil.which("Rscript")
        probe = ("quit(status = as.integer(!all(sapply(c('rstanarm', 'rstan', 'jsonlite'), "
                 "requireNamespace, quietly = TRUE))))")
        try:
            _RSTANARM_OK = exe is not None and subprocess.run(
                [exe, "-e", probe], capture_output=True, timeout=300).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _RSTANARM_OK = False
    return _RSTANARM_OK


def time_rstanarm(chains: int, draws: int, warmup: int, seed: int) -> dict:
    """One ``stan_lmer`` call on gcsemv, by benchmarks/rstanarm_time.R."""
    if not rstanarm_available():
        return {"error": "Rscript with rstanarm, rstan and jsonlite not found"}
    w = WORKLOADS["gcsemv"]
    csv, sidecar = bundled_paths(w.dataset)
    cmd = ["Rscript", str(HERE / "rstanarm_time.R"), str(csv), str(sidecar), w.formula, "school",
           str(chains), str(warmup), str(draws), str(seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"rstanarm failed: {last}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def jags_reference() -> dict:
    """The JAGS notes' Model 5 run of ``tests/reference/bayes_jags.json`` (entry ``benchmark``)."""
    doc = json.loads(JAGS_JSON.read_text())
    run = doc["benchmark"]["anorexia_m5_notes_run"]
    t = run["timing"]
    return {"seconds": float(t["wall_s"]), "min_ess_per_s": float(t["min_ess_per_s"]),
            "min_ess": float(t["min_ess"]), "min_ess_parameter": t["min_ess_parameter"],
            "min_ess_over": list(t["min_ess_over"]),
            "min_ess_per_s_sd_scale": float(t["min_ess_per_s_sd_scale"]),
            "draws_total": int(run["settings"]["draws_total"]),
            "version": doc.get("jags_version"), "priors": run["priors"]}


def anorexia_priors(data, jags: dict | None = None) -> dict:
    """The JAGS notes' priors of Model 5 as ``ml.priors`` (as tests/bayes/test_bayes_models_slow.py).

    ``g0..g3 ~ dnorm(0, 1/(100 sd(y)^2))`` (precision; the raw intercept, hence
    ``center=False``), ``ptau0 ~ dgamma(0.001, 0.001)`` on the intercept SD's
    precision, ``tau1 ~ dunif(0.0001, 200)`` and ``sigma ~ dunif(0.0001, 2000)``.
    The numbers are checked against those bayes_jags.json records.
    """
    import multilevel as ml

    P = ml.priors
    prec = 1 / (100 * data.weight.std() ** 2)
    if jags is not None:
        rec = {p["parameter"]: p for p in jags["priors"]}
        assert math.isclose(rec["b_Intercept"]["parameters"]["precision"], prec, rel_tol=1e-9)
        assert rec["sd_girl__Intercept"]["parameters"] == {"shape": 0.001, "rate": 0.001,
                                                          "on": "precision"}
        assert rec["sd_girl__time"]["parameters"] == {"lower": 0.0001, "upper": 200}
        assert rec["sigma"]["parameters"] == {"lower": 0.0001, "upper": 2000}
    return {"Intercept": P.normal(0, precision=prec), "b": P.normal(0, precision=prec),
            "sd_girl__Intercept": P.gamma(0.001, 0.001, on="precision"),
            "sd_girl__time": P.uniform(0.0001, 200), "sigma": P.uniform(0.0001, 2000)}


# ------------------------------------------------------------------ the child process
def _loadavg() -> list | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _figures(post, seconds: float) -> dict:
    """Diagnostics of one Posterior over its monitored parameters."""
    import numpy as np

    from multilevel.bayes.diagnostics import ess_bulk, ess_tail, rhat

    names = [n for n in post.draws if n not in post.derived]
    bulk = {n: float(ess_bulk(post.draws[n])) for n in names}
    tail = {n: float(ess_tail(post.draws[n])) for n in names}
    rh = {n: float(rhat(post.draws[n])) for n in names}
    st = post.stats
    depth = np.asarray(st["tree_depth"])
    lo = min(bulk, key=bulk.get)
    return {
        "seconds": seconds,
        "posterior_seconds": float(post.seconds),
        "min_bulk_ess": bulk[lo], "min_bulk_ess_parameter": lo,
        "min_tail_ess": min(tail.values()), "min_tail_ess_parameter": min(tail, key=tail.get),
        "max_rhat": max(rh.values()), "max_rhat_parameter": max(rh, key=rh.get),
        "divergences": int(np.asarray(st["diverging"]).sum()),
        "min_ess_per_s": bulk[lo] / seconds,
        "bulk_ess": bulk, "tail_ess": tail, "rhat": rh,
        "mean_leapfrog_steps": float(np.asarray(st["n_steps"]).mean()),
        "mean_tree_depth": float(depth.mean()),
        "max_tree_depth_hits": int((depth >= post.max_tree_depth).sum()),
        "step_size": [float(x) for x in np.asarray(st["step_size"])[:, -1]],
        "messages": [m.split(".")[0] for m in post.messages],
    }


def _coda_figures(post, seconds: float) -> dict:
    """coda's effectiveSize over the JAGS notes' monitored nodes (anorexia), as JAGS's figure."""
    from multilevel.bayes.diagnostics import ess_coda

    d = dict(post.draws)
    d["prec_girl__Intercept"] = 1.0 / d["sd_girl__Intercept"] ** 2
    over = ["b_Intercept", "b_time", "b_rx1", "b_rx3", "sigma", "prec_girl__Intercept",
            "sd_girl__time"]
    ess = {n: float(ess_coda(d[n])) for n in over}
    lo = min(ess, key=ess.get)
    sd_scale = {n: v for n, v in ess.items() if n != "prec_girl__Intercept"}
    sd_scale["sd_girl__Intercept"] = float(ess_coda(d["sd_girl__Intercept"]))
    return {"min_coda_ess": ess[lo], "min_coda_ess_parameter": lo,
            "min_coda_ess_per_s": ess[lo] / seconds,
            "min_coda_ess_per_s_sd_scale": min(sd_scale.values()) / seconds, "coda_ess": ess}


def _child(key: str, sampler: str, chains: int, draws: int, warmup: int, seed: int,
           second: bool) -> int:
    """In the subprocess: two timed ``ml.bayes`` calls; print one line of JSON."""
    import resource
    import warnings

    import multilevel as ml

    w = WORKLOADS[key]
    data = load_data(w)
    kw = dict(family=w.family, chains=chains, draws=draws, warmup=warmup, sampler=sampler,
              center=w.center, keep_ranef=w.keep_ranef, progress=False)
    if key == "anorexia":
        kw["priors"] = anorexia_priors(data, jags_reference())
    t0 = time.perf_counter()
    import jax  # noqa: F401  (imported before the timed calls; timed here)
    import numpyro  # noqa: F401

    import_s = time.perf_counter() - t0
    out = {"workload": key, "sampler": sampler, "nobs": None, "import_seconds": import_s,
           "chains": chains, "draws": draws, "warmup": warmup, "calls": []}
    for call in range(2 if second else 1):
        load_before = _loadavg()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            post = ml.bayes(w.formula, data, seed=seed + call, **kw)
            seconds = time.perf_counter() - t0
        fig = _figures(post, seconds)
        fig.update(seed=seed + call, loadavg_before=load_before, loadavg_after=_loadavg())
        if key == "anorexia":
            fig.update(_coda_figures(post, seconds))
        out["calls"].append(fig)
        out["nobs"] = int(post.nobs)  # rows used (gcsemv: those with course observed)
        out["ran"] = post.sampler  # what sampler="auto" chose
        del post
    scale = 1024.0 if sys.platform != "darwin" else 1024.0 * 1024.0
    out["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    print(json.dumps(out))
    return 0


def run_one(key: str, sampler: str, chains: int, draws: int, warmup: int, seed: int,
            second: bool, cache_dir: str | None = None) -> dict:
    """One workload and sampler in a fresh Python process.

    ``cache_dir`` is the process's JAX compilation cache (``MULTILEVEL_JAX_CACHE``);
    None switches the cache off.
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_child", key, sampler,
           "--chains", str(chains), "--draws", str(draws), "--warmup", str(warmup),
           "--seed", str(seed)]
    if not second:
        cmd.append("--no-second-call")
    env = dict(os.environ, MULTILEVEL_JAX_CACHE=cache_dir or "0")
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"workload": key, "sampler": sampler, "error": last, "calls": []}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------ output
def _fmt_num(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:,.{digits}f}"


def reference(key: str, jags: dict, rstanarm: dict | None = None) -> tuple[str, float | None]:
    """The reference cell and the min-ESS/s it holds (None: no reference run)."""
    if key == "gcsemv" and rstanarm and not rstanarm.get("error"):
        return (f"rstanarm {rstanarm['rstanarm_version']} measured here: "
                f"{rstanarm['min_ess_per_s']:.2g} min-ESS/s ({rstanarm['seconds']:.0f} s)",
                rstanarm["min_ess_per_s"])
    if key == "gcsemv":
        r = RSTANARM_GCSEMV
        return (f"rstanarm {r['version']}: {r['min_ess_per_s']:g} min-ESS/s "
                f"({r['seconds']:.0f} s)", r["min_ess_per_s"])
    if key == "classroom":
        r = RSTANARM_CLASSROOM
        rate = r["min_ess"] / r["seconds"]
        return (f"the notes' rstanarm run: {rate:.2g} min-ESS/s ({r['seconds']:,.0f} s, min "
                f"n_eff {r['min_ess']:,.0f})", rate)
    if key == "anorexia":
        return (f"JAGS {jags['version']}: {jags['min_ess_per_s']:.1f} min-ESS/s "
                f"({jags['seconds']:.1f} s)", jags["min_ess_per_s"])
    return "target: R-hat < 1.01 in < 120 s", None


def table(rows: list[dict], jags: dict, rstanarm: dict | None = None) -> str:
    head = ["workload", "sampler", "seconds first call", "seconds second call", "min bulk ESS",
            "min tail ESS", "max R-hat", "divergences", "min ESS/s", "reference", "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if rstanarm and not rstanarm.get("error"):
        r = rstanarm
        cells = [WORKLOADS["gcsemv"].label, f"rstanarm {r['rstanarm_version']} stan_lmer",
                 fmt_seconds(r["seconds"]), "—", _fmt_num(r["min_bulk_ess"]),
                 _fmt_num(r["min_tail_ess"]), f"{r['max_rhat']:.3f}", str(r["divergences"]),
                 _fmt_num(r["min_ess_per_s"], 1), "—", "—"]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    for r in rows:
        w = WORKLOADS[r["workload"]]
        ref, ref_rate = reference(w.key, jags, rstanarm)
        if r.get("error") or not r["calls"]:
            cells = [w.label, r["sampler"], "failed"] + ["—"] * 6 + [ref, "—"]
        else:
            c1 = r["calls"][0]
            c2 = r["calls"][1] if len(r["calls"]) > 1 else None
            ratio = "—"
            if ref_rate:
                q = c1["min_ess_per_s"] / ref_rate
                ratio = f"{q:.2g}x" if q < 10 else f"{q:,.0f}x"
            shown = r["sampler"] if r.get("ran", r["sampler"]) == r["sampler"] else f"{r['sampler']} ({r['ran']})"
            cells = [w.label, shown, fmt_seconds(c1["seconds"]),
                     fmt_seconds(c2["seconds"]) if c2 else "not run",
                     _fmt_num(c1["min_bulk_ess"]), _fmt_num(c1["min_tail_ess"]),
                     f"{c1['max_rhat']:.3f}", str(c1["divergences"]),
                     _fmt_num(c1["min_ess_per_s"], 1), ref, ratio]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _target(key: str, c: dict, jags: dict) -> str:
    if key == "gcsemv":
        ok = c["min_ess_per_s"] >= 1000 and c["seconds"] < 15
    elif key == "anorexia":
        ok = c["min_ess_per_s"] >= 100 * jags["min_ess_per_s"]
    elif key == "classroom":
        ok = c["min_bulk_ess"] >= 1000 and c["seconds"] < 30
    else:
        ok = c["max_rhat"] < 1.01 and c["seconds"] < 120
    return "met" if ok else "missed"


def notes(rows: list[dict], jags: dict, rstanarm: dict | None = None) -> list[str]:
    out = []
    if rstanarm:
        if rstanarm.get("error"):
            out.append(f"- gcsemv, rstanarm: not run ({rstanarm['error']})")
        else:
            r = rstanarm
            out.append(
                f"- gcsemv, rstanarm {r['rstanarm_version']} (rstan {r['rstan_version']}, "
                f"R {r['r_version']}): stan_lmer with its default priors, {r['chains']} chains x "
                f"{r['iter']:,} iterations ({r['warmup']:,} warmup) one after another, "
                f"{r['cpu_seconds']:.0f} s CPU; lowest bulk ESS {r['min_bulk_ess_parameter']}; "
                f"load average {r['loadavg_before'][0]:.2f} before, {r['loadavg_after'][0]:.2f} "
                "after")
    for r in rows:
        key, smp = r["workload"], r["sampler"]
        if r.get("error"):
            out.append(f"- {key}, {smp}: failed ({r['error']})")
            continue
        w = WORKLOADS[key]
        c1 = r["calls"][0]
        parts = [f"target ({w.target}) {_target(key, c1, jags)} by the first call"]
        if len(r["calls"]) > 1:
            c2 = r["calls"][1]
            parts[0] += f", {_target(key, c2, jags)} by the second"
            parts.append(
                f"second call {c2['seconds']:.2f} s, min bulk ESS {c2['min_bulk_ess']:,.0f}, "
                f"min ESS/s {c2['min_ess_per_s']:,.1f}, max R-hat {c2['max_rhat']:.3f}, "
                f"{c2['divergences']} divergences; first minus second call "
                f"{c1['seconds'] - c2['seconds']:.1f} s (mostly compiling, or with --warm-cache "
                "loading the compiled code; the Posterior does not record it apart)")
        parts.append(
            f"lowest bulk ESS {c1['min_bulk_ess_parameter']}, highest R-hat "
            f"{c1['max_rhat_parameter']}; {c1['mean_leapfrog_steps']:.1f} leapfrog steps per "
            f"iteration (mean tree depth {c1['mean_tree_depth']:.2f}, "
            f"{c1['max_tree_depth_hits']} at the maximum), final step sizes "
            + ", ".join(f"{s:.3g}" for s in c1["step_size"]))
        parts.append(f"importing jax and numpyro {r['import_seconds']:.1f} s (not in the calls); "
                     f"process max RSS {r['maxrss_mib']:,.0f} MiB")
        if "min_coda_ess_per_s" in c1:
            parts.append(
                f"as JAGS's figure (coda effectiveSize over the notes' monitored nodes, ptau0 = "
                f"1/sd^2 derived): min ESS {c1['min_coda_ess']:,.0f} "
                f"({c1['min_coda_ess_parameter']}), {c1['min_coda_ess_per_s']:,.1f} per s = "
                f"{c1['min_coda_ess_per_s'] / jags['min_ess_per_s']:,.1f}x JAGS's "
                f"{jags['min_ess_per_s']:.1f}; on the SD scale {c1['min_coda_ess_per_s_sd_scale']:,.1f}"
                f" per s vs JAGS's {jags['min_ess_per_s_sd_scale']:.1f}")
        if c1["messages"]:
            parts.append("sampler messages: " + "; ".join(c1["messages"]))
        if c1.get("loadavg_before") and c1.get("loadavg_after"):
            parts.append(f"load average {c1['loadavg_before'][0]:.2f} before, "
                         f"{c1['loadavg_after'][0]:.2f} after the first call")
        out.append(f"- {key}, {smp}: " + "; ".join(parts))
    if not rstanarm or rstanarm.get("error"):
        out.append(f"- gcsemv reference: rstanarm {RSTANARM_GCSEMV['version']}, "
                   f"{RSTANARM_GCSEMV['settings']}, {RSTANARM_GCSEMV['seconds']:.0f} s, min ESS/s "
                   f"{RSTANARM_GCSEMV['min_ess_per_s']:g}: the issue's figure (run it here with "
                   "--with-rstanarm).")
    out.append(f"- anorexia reference: JAGS {jags['version']} in {JAGS_JSON.relative_to(ROOT)} "
               f"(benchmark anorexia_m5_notes_run: {jags['draws_total']:,} draws, "
               f"{jags['seconds']:.1f} s wall, min coda ESS {jags['min_ess']:,.0f} "
               f"({jags['min_ess_parameter']}), {jags['min_ess_per_s']:.1f} per s; chains run "
               "one after another); its ESS is coda's effectiveSize, ours in the table the "
               "rank-normalised bulk ESS (the note above gives ours as coda computes it).")
    return out


def legend(rows: list[dict], warm: bool = False) -> str:
    settings = sorted({(r.get("chains"), r.get("draws"), r.get("warmup")) for r in rows
                       if not r.get("error")})
    runs = ", ".join(f"{c} chains x {d:,} draws after {w:,} warmup" for c, d, w in settings)
    cache = ("JAX's compilation cache on disk filled by an earlier, untimed process with the same "
             "settings, so the first call loads the compiled sampler instead of compiling it"
             if warm else "an empty JAX compilation cache, so the first call compiles everything")
    return (f"Each row: a fresh process with {cache}; two complete ml.bayes calls ({runs}; second "
            "call with the next seed, reusing the compiled sampler in memory); ESS, R-hat and "
            "divergences of the first call, over the fixed effects, random-effect SDs and "
            "correlations and sigma; min ESS/s = min bulk ESS / seconds of the whole first call; "
            "ratio = min ESS/s / the reference's.")


def command_line(argv) -> str:
    """The command that produced the output, as it could be typed again."""
    script = Path(__file__).resolve()
    try:
        shown = script.relative_to(Path.cwd().resolve())
    except ValueError:
        shown = script
    return shlex.join(["python", str(shown), *argv])


def bayes_versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for pkg in ("jax", "jaxlib", "numpyro", "arviz"):
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return "Bayesian route: " + ", ".join(parts)


# -------------------------------------------------------------------------- main
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description="Time ml.bayes and measure its sampling efficiency.")
    p.add_argument("benchmarks", nargs="*", metavar="WORKLOAD",
                   help=f"workloads to run (default: all): {', '.join(WORKLOADS)}")
    p.add_argument("--sampler", choices=("auto", "nuts", "collapsed"),
                   help="only this sampler (default: each workload's samplers)")
    p.add_argument("--chains", type=int, help="chains (default: 4)")
    p.add_argument("--draws", type=int, help="draws per chain after warmup (default: 1,000)")
    p.add_argument("--warmup", type=int,
                   help="warmup iterations per chain (default: 1,000, or --draws when given)")
    p.add_argument("--seed", type=int, default=1,
                   help="seed of the first call (the second uses the next one; default 1)")
    p.add_argument("--no-second-call", action="store_true",
                   help="time only the first call of each workload")
    p.add_argument("--second-call-all", action="store_true",
                   help="also time a second call where it is off by default (rasch)")
    p.add_argument("--with-rstanarm", action="store_true",
                   help="also time rstanarm's stan_lmer on gcsemv (needs Rscript with rstanarm; "
                        "about 5 minutes for 4 chains x 2,000 iterations)")
    p.add_argument("--warm-cache", action="store_true",
                   help="fill a JAX compilation cache with an untimed process of the same settings "
                        "first (default: each timed process starts with an empty cache)")
    p.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--_child", nargs=2, metavar=("KEY", "SAMPLER"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    for name in ("chains", "draws"):
        v = getattr(args, name)
        if v is not None and v < 1:
            p.error(f"--{name} must be at least 1")
    if args.warmup is not None and args.warmup < 0:
        p.error("--warmup must be at least 0")
    if args._child:
        key, sampler = args._child
        return _child(key, sampler, args.chains or 4, args.draws or 1000,
                      1000 if args.warmup is None else args.warmup, args.seed,
                      not args.no_second_call)
    if args.list:
        for w in WORKLOADS.values():
            print(f"{w.key:9s} {w.label}: {w.formula}, {w.family}, samplers "
                  f"{', '.join(w.samplers)}; {w.chains} chains x {w.draws:,} draws after "
                  f"{w.warmup:,} warmup; target {w.target}")
        return 0
    unknown = [k for k in args.benchmarks if k not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    keys = args.benchmarks or list(WORKLOADS)
    jags = jags_reference()

    def progress(msg):
        if not args.quiet:
            print(f"[bench] {msg}", file=sys.stderr, flush=True)

    load_start = _loadavg()
    rows = []
    for key in keys:
        w = WORKLOADS[key]
        chains = args.chains or w.chains
        draws = args.draws or w.draws
        warmup = args.warmup if args.warmup is not None else (
            args.draws if args.draws is not None else w.warmup)
        second = not args.no_second_call and (w.second_call or args.second_call_all)
        for sampler in w.samplers:
            if args.sampler and sampler != args.sampler:
                continue
            progress(f"{key}, {sampler}: {chains} chains x {draws} draws after {warmup} warmup "
                     f"({'two calls' if second else 'one call'}; load average "
                     f"{' '.join(map(str, _loadavg() or []))})")
            cache_dir = tempfile.mkdtemp(prefix="multilevel-jax-cache-")
            try:
                if args.warm_cache:
                    progress(f"{key}, {sampler}: filling the compilation cache (untimed)")
                    run_one(key, sampler, chains, draws, warmup, args.seed, False, cache_dir)
                t0 = time.perf_counter()
                r = run_one(key, sampler, chains, draws, warmup, args.seed, second, cache_dir)
            finally:
                shutil.rmtree(cache_dir, ignore_errors=True)
            r["compilation_cache"] = "warm" if args.warm_cache else "cold"
            progress(f"{key}, {sampler}: done in {time.perf_counter() - t0:.0f} s"
                     + (f" (failed: {r['error']})" if r.get("error") else ""))
            rows.append(r)
    rstanarm = None
    if args.with_rstanarm and "gcsemv" in keys:
        w = WORKLOADS["gcsemv"]
        chains, draws = args.chains or w.chains, args.draws or w.draws
        warmup = args.warmup if args.warmup is not None else (
            args.draws if args.draws is not None else w.warmup)
        progress(f"gcsemv, rstanarm: {chains} chains x {draws} draws after {warmup} warmup")
        rstanarm = time_rstanarm(chains, draws, warmup, args.seed)
    load_end = _loadavg()

    command = command_line(argv)
    env = environment(1, use_r=False, legend=legend(rows, args.warm_cache), with_statsmodels=False)
    env.insert(2, bayes_versions())
    env.append(f"Load average (1, 5, 15 min) at the start: {load_start}; at the end: {load_end}")
    print(f"Command: {command}")
    print("\n".join(env))
    print()
    print(table(rows, jags, rstanarm))
    print()
    print("Notes:")
    print("\n".join(notes(rows, jags, rstanarm)))
    if args.json:
        doc = {"command": command, "environment": env, "loadavg_start": load_start,
               "loadavg_end": load_end, "platform": platform.platform(),
               "references": {"gcsemv": RSTANARM_GCSEMV,
                              "anorexia": {k: v for k, v in jags.items() if k != "priors"}},
               "rstanarm": rstanarm,
               "results": rows}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0 if all(not r.get("error") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
