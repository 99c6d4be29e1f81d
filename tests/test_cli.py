"""The ``multilevel`` command line: output, exit status, warnings and errors."""

import json
import subprocess
import sys

import pytest

import multilevel as ml
from multilevel.cli import main, read_data

SLEEP = "Reaction ~ Days + (Days | Subject)"
GCSE = "course ~ 1 + female + (1 + female | school)"


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_fit_prints_summary(capsys):
    status, out, err = run(capsys, "fit", SLEEP, "--data", "sleepstudy")
    assert status == 0
    assert out.startswith("Linear mixed model fit by REML")
    assert "Formula: Reaction ~ Days + (Days | Subject)" in out
    assert "Data: sleepstudy" in out
    assert "REML criterion at convergence: 1743.6" in out
    assert "Number of obs: 180, groups:  Subject, 18" in out
    assert err == ""


def test_fit_ml_matches_library(capsys):
    status, out, err = run(capsys, "fit", GCSE, "--data", "gcsemv", "--ml", "--json")
    assert status == 0 and err == ""
    got = json.loads(out)
    fit = ml.lmer(GCSE, ml.datasets.load("gcsemv"), reml=False)
    assert got["method"] == "ML"
    assert got["nobs"] == 1725 and got["n_dropped"] == 180
    assert got["objective"] == pytest.approx(fit.objective, rel=1e-12)
    assert got["fixef"] == pytest.approx(fit.fixef.to_dict(), rel=1e-10)
    assert json.loads(json.dumps(got)) == got


def test_json_is_the_result_dict(capsys):
    status, out, _ = run(capsys, "fit", SLEEP, "--data", "sleepstudy", "--json")
    assert status == 0
    fit = ml.lmer(SLEEP, ml.datasets.load("sleepstudy"))
    assert out == json.dumps(fit.to_dict(), indent=2) + "\n"


def test_weights_and_offset_columns(capsys, tmp_path):
    df = ml.datasets.load("sleepstudy")
    df["w"] = 1.0 + df["Days"] % 3
    df["o"] = 2.0 * df["Days"]
    path = tmp_path / "sleep.csv"
    df.to_csv(path, index=False)
    status, out, _ = run(capsys, "fit", SLEEP, "--data", str(path), "--json",
                         "--weights", "w", "--offset", "o", "--ml")
    assert status == 0
    got = json.loads(out)
    fit = ml.lmer(SLEEP, df, reml=False, weights="w", offset="o")
    assert got["objective"] == pytest.approx(fit.objective, rel=1e-10)


def test_csv_file_and_sidecar_levels(capsys, tmp_path):
    df = ml.datasets.load("gcsemv")
    path = tmp_path / "gcse.csv"
    df.to_csv(path, index=False)
    # without a sidecar, text columns get alphabetical levels (F is the reference)
    status, out, _ = run(capsys, "fit", GCSE, "--data", str(path), "--ml")
    assert status == 0 and "femaleM" in out and f"Data: {path}" in out
    # a JSON sidecar restores the level order, as for the bundled files
    meta = ml.datasets.describe("gcsemv")
    (tmp_path / "gcse.json").write_text(json.dumps({"categories": meta["categories"]}))
    status, out, _ = run(capsys, "fit", GCSE, "--data", str(path), "--ml")
    assert status == 0 and "femaleF" in out and "femaleM" not in out


def test_read_data_bundled_and_tsv(tmp_path):
    assert read_data("sleepstudy").shape == (180, 3)
    path = tmp_path / "s.tsv"
    ml.datasets.load("sleepstudy").to_csv(path, sep="\t", index=False)
    assert list(read_data(str(path)).columns) == ["Reaction", "Days", "Subject"]


@pytest.mark.parametrize("suffix", [".parquet", ".feather"])
def test_arrow_files(capsys, tmp_path, suffix):
    pytest.importorskip("pyarrow")
    df = ml.datasets.load("sleepstudy")
    path = tmp_path / f"sleep{suffix}"
    (df.to_parquet if suffix == ".parquet" else df.to_feather)(path)
    status, out, _ = run(capsys, "fit", SLEEP, "--data", str(path), "--json")
    assert status == 0
    assert json.loads(out)["objective"] == pytest.approx(ml.lmer(SLEEP, df).objective, rel=1e-12)


def test_singular_fit_warns_on_one_line(capsys):
    # lme4 also reports this model as a boundary (singular) fit
    m4 = "math ~ 1 + mses + sector + ses + ses*mses + ses*sector + (1 + ses|schoolid)"
    status, out, err = run(capsys, "fit", m4, "--data", "leebryk")
    lines = [ln for ln in err.splitlines() if ln]
    assert status == 0
    assert out.startswith("Linear mixed model")
    assert lines and all(ln.startswith("warning: ") for ln in lines)
    assert any("singular" in ln for ln in lines)


@pytest.mark.parametrize("argv, needle", [
    (["fit", "y ~ x + (1 | g)", "--data", "sleepstudy"], "unknown column 'y'"),
    (["fit", "Reaction ~ Days + (Days | Subject", "--data", "sleepstudy"], "unmatched '('"),
    (["fit", SLEEP, "--data", "no_such_file.csv"], "no such file"),
    (["fit", SLEEP, "--data", "nonesuch"], "neither a file nor a bundled data set"),
    (["fit", SLEEP, "--data", "sleepstudy", "--weights", "nope"], "unknown column 'nope'"),
    (["fit", "Reaction ~ Days", "--data", "sleepstudy"], "no random-effects term"),
    (["datasets", "nonesuch"], "no bundled data set"),
    (["fit", SLEEP, "--data", "sleepstudy", "--type", "response"], "--type is for --emmeans"),
    (["fit", SLEEP, "--data", "sleepstudy", "--emmeans", "Days", "--json"], "does not go with --json"),
    (["fit", SLEEP, "--data", "sleepstudy", "--emmeans", "day"], "'day' is not a predictor"),
])
def test_errors_are_one_line_with_status_2(capsys, argv, needle):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert needle in err
    assert "Traceback" not in err


def test_unknown_file_type(capsys, tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("a,b\n1,2\n")
    status, _, err = run(capsys, "fit", SLEEP, "--data", str(path))
    assert status == 2 and "unknown file type '.xlsx'" in err


def test_usage_errors_return_2(capsys):
    assert main([]) == 2
    assert main(["fit", SLEEP]) == 2  # --data is required
    capsys.readouterr()
    assert main(["--help"]) == 0
    assert "fit" in capsys.readouterr().out


def test_datasets_lists_titles(capsys):
    status, out, err = run(capsys, "datasets")
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines] == ml.datasets.names()
    assert any(ln.startswith("sleepstudy") and "sleep deprivation" in ln for ln in lines)


def test_datasets_describe(capsys):
    status, out, _ = run(capsys, "datasets", "sleepstudy")
    assert status == 0
    assert "source: R package lme4" in out and "Reaction" in out


def test_python_dash_m():
    proc = subprocess.run([sys.executable, "-m", "multilevel", "datasets"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "sleepstudy" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "multilevel", "fit", "y ~ 1", "--data", "x.csv"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def test_glmer_by_laplace_and_quadrature(capsys):
    status, out, _ = run(capsys, "fit", CBPP, "--data", "cbpp", "--family", "binomial")
    assert status == 0 and out.startswith("Generalized linear mixed model fit by maximum likelihood "
                                          "(Laplace Approximation)")
    ref = ml.glmer(CBPP, ml.datasets.load("cbpp"), nagq=5)
    status, out, _ = run(capsys, "fit", CBPP, "--data", "cbpp", "--family", "binomial",
                         "--method", "agq", "--nagq", "5", "--confint", "wald")
    assert status == 0 and "nAGQ = 5" in out
    assert f"{ref.loglik:.1f}" in out
    assert "Confidence intervals (wald):" in out and "period4" in out.split("Confidence intervals")[1]


def test_kenward_roger_anova_and_a_plot_file(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "cat.png"
    status, out, _ = run(capsys, "fit", SLEEP, "--data", "sleepstudy", "--ddf", "kenward-roger",
                         "--anova", "--plot", "caterpillar", "--out", str(target))
    assert status == 0
    assert "Type III Analysis of Variance Table with Kenward-Roger's method" in out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_report_file_with_the_asked_intervals_and_df(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "fit.html"
    status, out, _ = run(capsys, "fit", SLEEP, "--data", "sleepstudy", "--ddf", "kenward-roger",
                         "--confint", "wald", "--report", str(target))
    assert status == 0 and out.rstrip().endswith(f"report written to {target}")
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "Kenward-Roger&#x27;s degrees of freedom" in text and "95% Wald confidence intervals" in text
    assert text.count('<img src="data:image/png;base64,') == 3


def test_the_report_command_writes_the_report_and_no_summary(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "herds.html"
    status, out, err = run(capsys, "report", "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                           "--data", "cbpp", "--family", "binomial", "--confint", "wald",
                           "--out", str(target))
    assert status == 0 and out.strip() == f"report written to {target}" and err == ""
    text = target.read_text(encoding="utf-8")
    assert "Wald z tests; 95% Wald confidence intervals" in text and "binomial (logit link)" in text
    status, _, err = run(capsys, "report", SLEEP, "--data", "sleepstudy", "--out", str(tmp_path / "x.csv"))
    assert status == 2 and "the report is an HTML file: give a name ending in .html" in err
    status, _, err = run(capsys, "report", SLEEP, "--data", "sleepstudy")
    assert status == 2
    status, _, err = run(capsys, "report", SLEEP, "--data", "sleepstudy", "--method", "bayes",
                         "--confint", "boot", "--out", str(tmp_path / "b.html"))
    assert status == 2 and "--confint is for likelihood fits" in err


def test_a_bootstrap_from_the_command_line_is_seeded_and_recorded(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    argv = ["fit", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy", "--confint", "boot",
            "--seed", "7", "--report", str(tmp_path / "boot.html")]
    first = run(capsys, *argv)[1]
    second = run(capsys, *argv)[1]
    assert first == second  # the same simulations: --seed
    assert "1000 simulations, seed 7" in (tmp_path / "boot.html").read_text(encoding="utf-8")


def test_bayes_from_the_command_line(capsys):
    pytest.importorskip("jax")
    status, out, _ = run(capsys, "fit", "Reaction ~ Days + (1 | Subject)", "--data", "sleepstudy",
                         "--method", "bayes", "--chains", "2", "--draws", "200", "--warmup", "200",
                         "--seed", "3")
    assert status == 0 and out.startswith(" Family: gaussian")
    assert "Regression Coefficients:" in out


@pytest.mark.parametrize("argv, needle", [
    (["--method", "laplace"], "--method laplace is for GLMMs"),
    (["--family", "binomial", "--method", "reml"], "--method reml is for gaussian models"),
    (["--ml", "--method", "reml"], "--ml and --method reml disagree"),
    (["--plot", "qq"], "--plot needs --out FILE"),
    (["--method", "ml", "--ddf", "kenward-roger"], "--ddf kenward-roger needs a REML fit"),
    (["--plot", "trace", "--out", "x.png"], "--plot trace needs a Bayesian fit"),
    # refused before any fitting (a Bayesian fit would take seconds)
    (["--method", "bayes", "--json"], "--json is for likelihood fits"),
    (["--method", "bayes", "--confint", "wald"], "--confint is for likelihood fits"),
    (["--method", "bayes", "--plot", "shrinkage", "--out", "x.png"], "--plot shrinkage takes a fit"),
    (["--family", "binomial", "--anova"], "--anova gives lmerTest's F tests"),
    (["--report", "fit.csv"], "the report is an HTML file: give a name ending in .html"),
    (["--method", "bayes", "--optimizer", "cobyqa"], "--optimizer chooses the optimizer of a likelihood fit"),
])
def test_bad_combinations_are_one_line_errors(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    data = "cbpp" if "binomial" in argv else "sleepstudy"
    formula = CBPP if data == "cbpp" else SLEEP
    status, out, err = run(capsys, "fit", formula, "--data", data, *argv)
    assert status == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1
    assert needle in err


def test_emmeans_prints_means_and_their_pairs(capsys):
    status, out, _ = run(capsys, "fit", "normexam ~ standLRT + sex + schgend + (1 | school)", "--data", "exam",
                         "--emmeans", "schgend")
    assert status == 0
    means = ml.emmeans(ml.lmer("normexam ~ standLRT + sex + schgend + (1 | school)", ml.datasets.load("exam")),
                       "schgend")
    assert "Estimated marginal means:" in out and str(means) in out and str(means.pairs()) in out
