"""The HTML report: its tables carry the reference figures, every part a fit has is
there, parts a fit lacks are explained, and the file asks for nothing outside itself."""

from __future__ import annotations

import html
import json
import re
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml
from report_html import ReportReader

REF = {m["id"]: m for m in json.loads(
    (Path(__file__).parents[1] / "reference" / "lmertest.json").read_text())["models"]}


@lru_cache(maxsize=None)
def reference_fit(model_id: str):
    m = REF[model_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.lmer(m["formula"], ml.datasets.load(m["dataset"]), reml=m["reml"])


@lru_cache(maxsize=None)
def page_of(model_id: str, **kw) -> ReportReader:
    return ReportReader(ml.report(reference_fit(model_id), **kw))


def close(cell: str, value: float, rel: float = 5e-4) -> bool:
    return abs(float(cell) - value) <= rel * max(1.0, abs(value))


def test_fixed_effects_table_carries_lmertest_estimates_df_and_profile_intervals():
    ref = REF["anorexia_treat"]
    page = page_of("anorexia_treat")
    rows = page.table("Fixed effects: t tests with Satterthwaite's degrees of freedom (lmerTest); "
                      "95% profile-likelihood")
    header = next(t for t in page.tables if t["caption"].startswith("Fixed effects"))["rows"][0]
    assert header == ["", "Estimate", "Std. Error", "df", "t value", "Pr(>|t|)", "", "2.5 %", "97.5 %"]
    assert set(rows) - {""} == set(ref["coef_satterthwaite"])
    for name, r in ref["coef_satterthwaite"].items():
        est, se, df, t, p, star, lo, hi = rows[name]
        assert close(est, r["Estimate"], 1e-3) and close(se, r["SE"], 1e-3) and close(t, r["t"], 1e-3)
        assert close(df, r["df"], 1e-3)
        assert (r["p"] < 2e-16) if p == "<2e-16" else float(p) == pytest.approx(r["p"], rel=2e-3)
        assert close(lo, ref["confint_profile"][name][0], 2e-3) and close(hi, ref["confint_profile"][name][1], 2e-3)
        assert star == ("*" if 0.01 < r["p"] <= 0.05 else "." if 0.05 < r["p"] <= 0.1 else
                        "***" if r["p"] <= 0.001 else "**" if r["p"] <= 0.01 else "")


def test_random_effects_icc_r2_and_anova_tables_match_the_references():
    ref = REF["anorexia_treat"]
    page = page_of("anorexia_treat")
    vc = page.table("Variance components")
    assert close(vc["girl"][1], ref["varcorr"][0]["vcov"], 1e-3)
    assert close(vc["Residual"][2], ref["varcorr"][1]["sdcor"], 1e-3)
    sd = page.table("Variance parameters: 95% profile-likelihood")
    for name in ("sd_(Intercept)|girl", "sigma"):
        assert close(sd[name][0], ref["confint_profile"][name][0], 2e-3)
        assert close(sd[name][1], ref["confint_profile"][name][1], 2e-3)
    icc = page.table("Intraclass correlation")
    assert close(icc["adjusted"][0], ref["icc"]["adjusted"], 1e-3)
    r2 = page.table("Nakagawa")
    assert close(r2["marginal"][0], ref["r2_nakagawa"]["marginal"], 1e-3)
    anova = page.table("Type III Analysis of Variance Table with Satterthwaite's method")
    for term, r in ref["anova3_satterthwaite"].items():
        assert close(anova[term][4], r["F"], 1e-3), term
        assert close(anova[term][3], r["DenDF"], 1e-3), term


def test_page_is_self_contained_and_has_every_section():
    text = ml.report(reference_fit("sleepstudy_corr"))
    page = ReportReader(text)
    assert page.sections == ["model", "data", "convergence-and-singularity", "fixed-effects",
                             "random-effects", "icc-and-r", "anova", "random-effects-figures",
                             "residuals", "reproduction"]
    # nothing but the page's own anchors: no stylesheet, script, frame or remote image
    assert all(link.startswith("#") for link in page.links), page.links
    assert not re.search(r"(?:src|href|url)\s*[=(]\s*['\"]?(?:https?:)?//", text)
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    # caterpillar and QQ of Subject, the residual plot: PNGs inlined, each with its alt text
    assert len(page.images) == 3
    assert all(img["src"].startswith("data:image/png;base64,") and img["alt"] for img in page.images)


def test_convergence_panel_shows_a_singular_fit_and_what_to_do():
    page = page_of("leebryk_m4", confint=None, figures=False)
    assert page.settings()["Singular (boundary) fit"] == "yes"
    warn = [text for kind, text in page.notes if kind == "note warn"]
    assert any("boundary (singular) fit" in t and "consider removing" in t for t in warn)
    clean = page_of("anorexia_treat")
    assert clean.settings()["Singular (boundary) fit"] == "no"
    assert any(kind == "note ok" for kind, _ in clean.notes)


def test_data_section_counts_rows_dropped_and_group_sizes():
    d = ml.datasets.load("sleepstudy")
    d.loc[[0, 5, 17], "Reaction"] = np.nan
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", d)
    page = ReportReader(fit.report(confint=None, figures=False))
    pairs = page.settings()
    assert pairs["Rows used"] == "177" and pairs["Rows dropped for missing values"] == "3"
    # the dropped rows are two of subject 308's and one of 309's: 8 to 10 rows a subject
    sizes = page.table("Rows per level of each grouping factor")
    assert sizes["Subject"] == ["18", "8", "10", "9.833", "10"]


def test_glmer_report_names_wald_z_tests_and_its_family():
    fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    page = ReportReader(fit.report(confint="wald"))
    pairs = page.settings()
    assert pairs["Family"] == "binomial (logit link)"
    assert pairs["Model"].endswith("(Laplace approximation)")
    fe = page.table("Fixed effects: Wald z tests; 95% Wald confidence intervals")
    # printCoefmat's layout: estimates and standard errors to the SE's fourth digit
    assert fe["period2"][:2] == [f"{fit.fixef['period2']:.4f}", f"{fit.se['period2']:.4f}"]
    wald = fit.confint(method="wald")
    assert [float(v) for v in fe["period2"][5:7]] == pytest.approx(wald.loc["period2"].tolist(), rel=1e-6)
    assert "anova" not in page.sections  # glmer fits have no ANOVA table
    assert page.sections.count("random-effects-figures") == 1 and len(page.images) == 3
    assert "ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', data, " \
           "family='binomial', link='logit')" in html.unescape(ml.report(fit, confint=None, figures=False))


def test_clmm_report_shows_thresholds_and_wald_intervals_only():
    fit = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"))
    page = ReportReader(fit.report(figures=False))
    assert set(page.table("Threshold coefficients")) == {"", "1|2", "2|3", "3|4", "4|5"}
    assert "Wald intervals only" in " ".join(t for _, t in page.notes)
    assert "tempwarm" in page.table("Fixed effects: Wald z tests; 95% Wald confidence intervals")


def test_a_part_the_model_lacks_is_explained_not_dropped():
    # performance's ICC needs a random-intercept model only for the Bayesian route; for a
    # posterior of a random-slope model the report says why there is no ICC
    with warnings.catch_warnings():  # short chains: their R-hat and ESS warnings are expected
        warnings.simplefilter("ignore")
        post = ml.bayes("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"),
                        chains=2, draws=150, warmup=150, seed=3, progress=False)
        page = ReportReader(post.report())
    assert post.messages and all(any(m in t for _, t in page.notes) for m in post.messages)
    assert any("ICC not available: the ICC is defined here for random-intercept models only" in t
               for _, t in page.notes)
    assert page.sections[:4] == ["model", "data", "sampler-diagnostics", "posterior-summary"]
    diag = page.settings()
    assert diag["Divergent transitions"] == str(int(np.sum(post.stats["diverging"])))
    summary = page.table("Posterior means, SDs and 95% credible intervals")
    assert close(summary["b_Days"][0], float(post.draws["b_Days"].mean()), 1e-3)
    # trace, rank, posterior predictive check, caterpillar and QQ of Subject
    assert len(page.images) == 5
    assert "seed=3" in ml.report(post, figures=False)


def test_report_writes_the_file_it_returns(tmp_path):
    fit = reference_fit("sleepstudy_corr")
    path = tmp_path / "fit.html"
    text = fit.report(path, figures=False, title="Sleep deprivation")
    assert path.read_text(encoding="utf-8") == text
    assert "<title>Sleep deprivation</title>" in text and "<img" not in text


@pytest.mark.parametrize("kw, error, match", [
    (dict(confint="bayes"), ValueError, "confint must be one of 'profile', 'wald', 'boot' or None"),
    (dict(level=95), ValueError, "level must be a number between 0 and 1"),
    (dict(ddf="KR"), ValueError, "ddf must be one of"),
    (dict(figures="yes"), TypeError, "figures must be True or False"),
    (dict(title=3), TypeError, "title must be a string"),
])
def test_bad_options_get_one_line_errors(kw, error, match):
    with pytest.raises(error, match=match):
        ml.report(reference_fit("sleepstudy_corr"), **kw)


def test_bad_fit_and_path_get_one_line_errors(tmp_path):
    with pytest.raises(TypeError, match="fit must be a fit of ml.lmer, ml.glmer, ml.clmm or ml.bayes"):
        ml.report(ml.datasets.load("sleepstudy"))
    with pytest.raises(ValueError, match="is a directory; give a file name"):
        ml.report(reference_fit("sleepstudy_corr"), tmp_path)
    with pytest.raises(ValueError, match="its folder does not exist"):
        ml.report(reference_fit("sleepstudy_corr"), tmp_path / "missing" / "fit.html")
    with pytest.raises(TypeError, match="path must be a file name"):
        ml.report(reference_fit("sleepstudy_corr"), 3)


def test_fit_to_data_in_parts_reports_what_it_has_and_says_what_needs_rows():
    dd = pytest.importorskip("dask.dataframe")
    import dask

    data = ml.datasets.load("sleepstudy")
    with dask.config.set(scheduler="synchronous"):
        fit = ml.lmer("Reaction ~ Days + (Days | Subject)", dd.from_pandas(data, npartitions=3))
        page = ReportReader(fit.report())
    notes = " ".join(t for _, t in page.notes)
    for part in ("Group sizes", "Confidence intervals", "Residual plot"):
        assert f"{part} not available:" in notes and "data in parts" in notes
    # the conditional modes need no rows: caterpillar and QQ are drawn
    assert len(page.images) == 2
    memory = page_of("sleepstudy_corr")
    assert page.table("Fixed effects")["Days"][:4] == memory.table("Fixed effects")["Days"][:4]


def test_intervals_stay_with_their_parameters_whatever_the_names():
    # a fixed effect named as a variance parameter ("sigma", "sd_...") keeps one row, and
    # its interval is not listed among the variance parameters'
    d = ml.datasets.load("sleepstudy").rename(columns={"Days": "sigma"})
    d["sd_x"] = d["sigma"] ** 2 / 10
    fit = ml.lmer("Reaction ~ sigma + sd_x + (1 | Subject)", d)
    page = ReportReader(fit.report(confint="wald", figures=False))
    fe = page.table("Fixed effects")
    ci = fit.confint(method="wald")
    for name in ("sigma", "sd_x"):
        assert [float(v) for v in fe[name][6:8]] == pytest.approx(ci.iloc[-3:].loc[name].tolist(), rel=1e-6)
    # Wald gives no interval of a variance parameter: a note says so instead of empty rows
    assert not any(t["caption"].startswith("Variance parameters") for t in page.tables)
    assert any("Wald intervals cover the fixed effects only" in t and "sd_(Intercept)|Subject" in t
               for _, t in page.notes)
    boot = ReportReader(fit.report(figures=False))  # profile: the variance parameters' rows
    assert [r[0] for r in boot.rows("Variance parameters")[1:]] == ["sd_(Intercept)|Subject", "sigma"]


def test_models_beside_the_mean_and_the_call_that_refits_them():
    zi = ml.glmer("count ~ mined + (1 | site)", ml.datasets.load("salamanders"), family="poisson", zi="~ mined")
    text = html.unescape(zi.report(confint=None, figures=False))
    page = ReportReader(text)
    assert page.settings()["Zero inflation"] == "~ mined"
    assert set(page.table("Zero-inflation model")) == {"", "(Intercept)", "minedno"}
    assert "zi='~ mined'" in text
    orth = ml.lmer("distance ~ age + Sex + (1 | Subject)", ml.datasets.load("orthodont"), dispformula="~ Sex")
    text = html.unescape(orth.report(confint="wald", figures=False))
    assert "SexFemale" in ReportReader(text).table("Residual SD model (dispformula)")
    assert "dispformula='~ Sex'" in text
    s = ml.datasets.load("sleepstudy")
    s["w"] = np.linspace(0.5, 2, len(s))
    weighted = ml.lmer("Reaction ~ Days + (1 | Subject)", s, weights="w")
    text = html.unescape(weighted.report(confint=None, figures=False))
    assert "weights=weights)" in text and "their values are in fit.design.weights" in text
    wine = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"), link="probit", nagq=3)
    assert "link='probit', nagq=3" in html.unescape(wine.report(confint=None, figures=False))


def test_captions_say_the_level_and_the_approximation_as_given():
    fit = reference_fit("sleepstudy_corr")
    page = ReportReader(fit.report(confint="wald", level=0.975, figures=False))
    assert page.rows("Fixed effects")[0][7:9] == ["1.25 %", "98.8 %"]  # R's labels (3 digits)
    assert any(t["caption"].endswith("; 97.5% Wald confidence intervals") for t in page.tables)
    g0 = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"), nagq=0)
    assert "Laplace" not in ReportReader(g0.report(confint=None, figures=False)).settings()["Model"]


def test_kenward_roger_needs_reml_and_intervals_given_are_shown_as_given():
    ml_fit = reference_fit("sleepstudy_corr").refit(reml=False)
    with pytest.raises(ValueError, match="ddf='kenward-roger' needs a REML fit"):
        ml.report(ml_fit, ddf="kenward-roger")
    fit = reference_fit("sleepstudy_corr")
    given = fit.confint(method="wald") + 1000.0  # not what a computation would give
    page = ReportReader(fit.report(confint="wald", intervals=given, figures=False))
    assert float(page.table("Fixed effects")["Days"][6]) == pytest.approx(given.loc["Days"].iloc[0], rel=1e-6)
    with pytest.raises(ValueError, match="confint= names their method"):
        fit.report(confint=None, intervals=given)
