"""Linear mixed models with correlated residuals within groups (``residual=``) against
nlme's lme with corAR1 and corCompSymm (tests/reference/correlation.R): the
log-likelihood within 1e-6 relative, the fixed effects, sigma, the random
intercept's SD and rho within 1e-3, the normalized residuals; and the
compound-symmetric residuals of Machines' worker x machine cells equal to
the nested random intercepts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "correlation.json").read_text())
CASES = {f"{m['id']}-{'reml' if m['reml'] else 'ml'}": m for m in REF["models"]}


def _data(name):
    if name == "orthodont":
        return ml.datasets.load("orthodont").assign(visit=lambda d: (d.age - 8) / 2)
    if name == "machines":
        return ml.datasets.load("machines")
    ss = ml.datasets.load("sleepstudy")
    return ss[ss.Days != 3] if name == "sleep_gap" else ss


@pytest.fixture(scope="module")
def fits():
    return {key: ml.lmer(m["formula"], _data(m["dataset"]), reml=m["reml"], residual=m["residual"])
            for key, m in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_against_nlme(fits, case):
    m, fit = CASES[case], fits[case]
    assert fit.loglik >= m["loglik"] - 1e-6 * abs(m["loglik"])
    assert fit.loglik == pytest.approx(m["loglik"], rel=1e-6)
    assert fit.df == m["df"]
    np.testing.assert_allclose(fit.fixef[list(m["fixef"])], list(m["fixef"].values()), rtol=1e-3, atol=1e-4)
    assert fit.sigma == pytest.approx(m["sigma"], rel=1e-3)
    assert fit.varcorr["std_dev"].iloc[0] == pytest.approx(m["sd"], rel=2e-3, abs=1e-4)
    assert fit.residual_correlation["rho"] == pytest.approx(m["rho"], abs=1e-3)
    # (compound symmetry whitens with nlme's factor, the group mean then Helmert contrasts, so that these
    # are nlme's values there too)
    np.testing.assert_allclose(fit.residuals("normalized").to_numpy()[:5], m["normalized"], rtol=2e-3, atol=2e-3)


def test_compound_symmetric_cells_are_the_nested_intercepts(fits):
    m = ml.datasets.load("machines")
    nested = ml.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", m, reml=False)
    assert fits["machines_cs-ml"].loglik == pytest.approx(nested.loglik, rel=1e-9)
    np.testing.assert_allclose(fits["machines_cs-ml"].fixef, nested.fixef, rtol=1e-6)


def test_outputs_refits_and_refusals(fits, tmp_path):
    fit = fits["sleep_ar1-reml"]
    assert "Residual correlation ar1(Days | Subject): rho = 0.6531" in fit.summary()
    iv = fit.residual_correlation
    assert iv["lower"] < iv["rho"] < iv["upper"]
    again = ml.load(fit.save(tmp_path / "ar1.mlfit"))
    assert again.loglik == pytest.approx(fit.loglik, rel=1e-12)
    assert again.residual_correlation["rho"] == pytest.approx(iv["rho"], rel=1e-12)
    # simulated residuals have the fitted correlation between neighbouring days
    sims = fit.simulate(3000, seed=2).to_numpy() - fit._marginal[:, None]
    total = fit.sigma ** 2 + fit.varcorr["variance"].iloc[0]
    want = (fit.varcorr["variance"].iloc[0] + fit.sigma ** 2 * iv["rho"]) / total
    assert np.corrcoef(sims[0], sims[1])[0, 1] == pytest.approx(want, abs=0.05)
    assert list(ml.bootstrap(fit, nsim=3, seed=1).summary().index) == [
        "sd_(Intercept)|Subject", "sigma", "rho_ar1|residual", "(Intercept)", "Days"]
    with pytest.raises(ValueError, match="Kenward-Roger's method is not available with a residual correlation"):
        fit.coef_table(ddf="kenward-roger")
    with pytest.raises(ValueError, match="profile intervals are not available with a residual correlation"):
        fit.confint(method="profile")
    with pytest.raises(ValueError, match="hat values with a residual correlation"):
        fit.hatvalues()
    assert "satterthwaite" in str(ml.emmeans(fit, "Days", at={"Days": [0, 9]})).lower()


def test_row_order_does_not_move_the_fit(fits):
    ss = ml.datasets.load("sleepstudy")
    shuffled = ss.iloc[np.random.default_rng(4).permutation(len(ss))]
    again = ml.lmer("Reaction ~ Days + (1 | Subject)", shuffled, reml=False, residual="ar1(Days | Subject)")
    assert again.loglik == pytest.approx(fits["sleep_ar1-ml"].loglik, rel=1e-10)
    np.testing.assert_allclose(again.residuals("normalized").loc[ss.index],
                               fits["sleep_ar1-ml"].residuals("normalized"), atol=1e-6)


@pytest.mark.parametrize("residual, error, message", [
    ("ar1(Days | Reaction)", ValueError, "every group of Reaction has one row"),
    ("cs(Days | Subject)", ValueError, "compound symmetry takes no time"),
    ("ar1(Subject | Subject)", ValueError, "the time 'Subject' must be numeric"),
    ("ar1(Days)", ValueError, "write 'ar1\\(time \\| g\\)'"),
    ("ar1(Days | nope)", ValueError, "nope"),
    (3, TypeError, "residual must be a string"),
])
def test_bad_residual(residual, error, message):
    with pytest.raises(error, match=message):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), residual=residual)


def test_groups_must_nest_and_times_be_distinct():
    ss = ml.datasets.load("sleepstudy").assign(half=lambda d: np.where(d.Days < 5, "a", "b"))
    with pytest.raises(ValueError, match="varies within the groups of half"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ss, residual="cs(1 | half)")
    with pytest.raises(ValueError, match="two rows of one group have the same time"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ss.assign(t=ss.Days // 2), residual="ar1(t | Subject)")


def test_satterthwaite_and_bootstrap_treat_rho_as_estimated(fits):
    m = ml.datasets.load("machines")
    nested = ml.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", m)
    cs = fits["machines_cs-reml"]
    np.testing.assert_allclose(cs.coef_table()["df"], nested.coef_table()["df"], rtol=1e-4)
    with pytest.raises(ValueError, match="is the random intercept of \\(1 \\| Subject\\)"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), residual="cs(1 | Subject)")
    import pandas as pd

    fit = fits["sleep_ar1-ml"]
    boot = ml.bootstrap(fit, nsim=10, seed=1, n_jobs=1,
                        fun=lambda f: pd.Series({"rho": f.residual_correlation["rho"]}))
    assert float(boot.draws["rho"].mean()) == pytest.approx(fit.residual_correlation["rho"], abs=0.15)
    from multilevel.inference.power import _parameter_fit
    from multilevel.inference.refit_data import fit_frame

    assert _parameter_fit(fit, fit_frame(fit), "Days", None).design.residual.rho == fit.design.residual.rho


@pytest.mark.parametrize("formula, residual, data", [
    ("Reaction ~ Days + (1 | Subject)", "ar1(Days | Subject)", "sleep"),
    ("Reaction ~ Days + (Days | Subject)", "ar1(Days | Subject)", "sleep_gap"),
    ("score ~ Machine + (1 | Worker)", "cs(1 | Worker:Machine)", "machines"),
    ("distance ~ age + (1 | Subject)", "ar1(age | Subject)", "orthodont"),  # lags of 2: by Cholesky
])
def test_the_one_term_cross_products_equal_whitening_the_rows(formula, residual, data):
    from dataclasses import replace

    from multilevel.design import build_design, standardize
    from multilevel.design.correlation import residual_correlation
    from multilevel.linalg import ThetaLayout, cross_products, factorize
    from multilevel.lmm.correlation import _one_term_criterion, whitened_design
    from multilevel.lmm.objective import criterion

    frame = _data(data)
    frame = frame.iloc[np.random.default_rng(2).permutation(len(frame))[: len(frame) - 7]]  # unbalanced groups
    d = build_design(formula, frame)
    rc = residual_correlation(residual, frame, d)
    _, inner = standardize(d)
    layout = ThetaLayout.from_terms(inner.terms)
    fast = _one_term_criterion(inner, rc, layout, True)
    for a in (-0.7, 0.2, 1.5):
        x = np.r_[layout.start * 0.8, a]
        wd, logdet = whitened_design(inner, rc, rc.rho_of(a))
        cp = cross_products(wd)
        cp = replace(cp, log_weights=cp.log_weights - logdet)
        assert fast(x) == pytest.approx(criterion(factorize(cp, layout, x[:-1]), cp, True), rel=1e-10)


@pytest.mark.parametrize("start, message", [("foo", "unknown start 'foo'"), ([1.0, 2.0], "start must have 1 values")])
def test_start_values_are_checked_with_a_residual_model(start, message):
    ss = ml.datasets.load("sleepstudy")
    with pytest.raises(ValueError, match=message):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ss, residual="ar1(Days | Subject)", start=start)
    with pytest.raises(ValueError, match=message):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ss, dispformula="~ Days", start=start)


WEIGHTED = json.loads((Path(__file__).resolve().parents[1] / "reference" / "correlation_weights.json").read_text())


def _same_as_nlme(fit, ref, rel_sd: float) -> None:
    """The fit's likelihood, fixed effects, SEs, sigma, rho and subject SD against lme's."""
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(fit.fixef, ref["fixef"], rtol=1e-5)
    np.testing.assert_allclose(fit.se, ref["se"], rtol=1e-3)
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-5)
    assert float(fit.residual_correlation["rho"]) == pytest.approx(ref["rho"], abs=1e-5)
    assert float(fit.varcorr["std_dev"].iloc[0]) == pytest.approx(ref["sd_subject"], rel=rel_sd)
    assert fit.refit().loglik == pytest.approx(fit.loglik, abs=1e-6)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_prior_weights_with_a_residual_correlation_match_nlme(method):
    # nlme's lme(weights = varFixed(~ 1 / w), correlation = corAR1(form = ~ Days | Subject)):
    # the residual covariance sigma^2 W^-1/2 C W^-1/2
    d = ml.datasets.load("sleepstudy")
    d["w"] = 1.0 + d["Days"] % 3
    ref = WEIGHTED[method]
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", d, residual="ar1(Days | Subject)", weights="w",
                  reml=method == "REML")
    _same_as_nlme(fit, ref, rel_sd=1e-5)
    # the normalized residuals undo the weights and the correlation: their variance is about 1
    assert float(np.var(fit.residuals("normalized"))) == pytest.approx(1.0, abs=0.2)
    assert fit.simulate(2, seed=1).shape == (180, 2)


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_a_residual_sd_model_with_a_residual_correlation_matches_nlme(method):
    # nlme's lme(weights = varIdent(form = ~ 1 | late), correlation = corAR1(form = ~ Days | Subject)):
    # the SD ratio, rho and theta estimated together
    d = ml.datasets.load("sleepstudy")
    d["late"] = np.where(d["Days"] >= 5, "late", "early")
    ref = WEIGHTED[f"varIdent_{method}"]
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", d, residual="ar1(Days | Subject)", dispformula="~ late",
                  reml=method == "REML")
    _same_as_nlme(fit, ref, rel_sd=1e-4)
    assert float(fit.dispersion["SD ratio"].iloc[0]) == pytest.approx(ref["sd_ratio"], rel=1e-4)
    assert np.all(np.isfinite(fit.coef_table()["df"]))  # Satterthwaite over theta, delta and rho


def test_sd_model_and_correlation_survive_a_save_and_zero_weights_are_refused(tmp_path):
    d = ml.datasets.load("orthodont")
    d["t"] = d["age"] // 2
    fit = ml.lmer("distance ~ age + Sex + (1 | Subject)", d, residual="ar1(t | Subject)", dispformula="~ Sex")
    fit.save(tmp_path / "f.zip")
    back = ml.load(tmp_path / "f.zip")
    assert back.dispersion is not None and back.df == fit.df == 7
    np.testing.assert_allclose(back.coef_table()["df"], fit.coef_table()["df"], rtol=1e-8)
    assert back.loglik == pytest.approx(fit.loglik, abs=1e-9)
    d["w"] = 1.0 + d["t"] % 3
    d.loc[5, "w"] = 0.0
    with pytest.raises(ValueError, match="1 row\\(s\\) have a prior weight of 0"):
        ml.lmer("distance ~ age + (1 | Subject)", d, residual="ar1(t | Subject)", weights="w")


def test_power_simulates_from_the_fits_sd_model_with_a_correlation(monkeypatch):
    from multilevel.inference import power as power_module

    d = ml.datasets.load("orthodont")
    d["t"] = d["age"] // 2
    fit = ml.lmer("distance ~ age + (1 | Subject)", d, residual="ar1(t | Subject)", dispformula="~ age")
    seen = {}
    real = power_module._parameter_fit

    def spy(*a, **k):
        out = real(*a, **k)
        seen["design"] = out.design
        return out

    monkeypatch.setattr(power_module, "_parameter_fit", spy)
    ml.power(fit, "age", nsim=2, n_groups=[8], seed=1, n_jobs=1)
    used = seen["design"]
    np.testing.assert_allclose(used.dispersion.coef, fit.design.dispersion.coef, rtol=1e-10)
    assert used.residual.rho == pytest.approx(fit.design.residual.rho)


def test_ar1_over_even_gaps_reports_the_positive_rho():
    # times 8, 10, 12, 14: only rho^2 enters the model (its sign is not identified), the
    # same model as times 4, 5, 6, 7 with rho^2 as their correlation
    d = ml.datasets.load("orthodont")
    d["t"] = d["age"] // 2
    by_age = ml.lmer("distance ~ age + Sex + (1 | Subject)", d, residual="ar1(age | Subject)", reml=False)
    by_t = ml.lmer("distance ~ age + Sex + (1 | Subject)", d, residual="ar1(t | Subject)", reml=False)
    assert by_age.loglik == pytest.approx(by_t.loglik, abs=1e-6)
    rho = float(by_age.residual_correlation["rho"])
    assert rho > 0 and rho ** 2 == pytest.approx(float(by_t.residual_correlation["rho"]), abs=1e-5)
    assert float(by_age.refit().residual_correlation["rho"]) == pytest.approx(rho, abs=1e-5)


def test_fractional_lags_keep_the_correlation_non_negative_without_warnings():
    """At fractional lags a negative AR(1) correlation has no value (rho^0.5); the search treats it
    as outside the model (corCAR1's correlation is >= 0), quietly, and the interval starts at 0."""
    import warnings

    import pandas as pd

    rng = np.random.default_rng(0)
    n = 30
    t = np.tile(np.array([0.0, 0.5, 1.3, 2.0, 3.1]), n)
    g = np.repeat(np.arange(n), 5)
    d = pd.DataFrame({"y": 1 + 0.5 * t + rng.normal(size=n * 5) + rng.normal(size=n)[g], "t": t,
                      "g": g.astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fit = ml.lmer("y ~ t + (1 | g)", d, residual="ar1(t | g)")
        gls = ml.gls("y ~ t", d, residual="ar1(t | g)")
    rc = fit.residual_correlation
    assert 0.0 <= rc["lower"] <= rc["rho"] <= rc["upper"] < 1.0
    assert gls.correlation["rho"] >= 0.0
    with pytest.raises(np.linalg.LinAlgError):
        fit.design.residual.precisions(-0.2)


@pytest.mark.parametrize("unit", [1 / 365.25, 86400.0, 365.25])
def test_residual_ar1_does_not_depend_on_the_times_units(unit):
    """The AR(1)'s parameter is the correlation at the lag unit (the lags' gcd, or the smallest
    fractional one): with ages in years (lags of 0.0055) the correlation per year could not be
    represented (rho stuck at 1e-12, sigma 3.38 for 1.39, a false singular-fit message), and
    with ages in seconds the search stayed at its start."""
    o = ml.datasets.load("orthodont")
    moved = o.assign(age=o["age"] * unit)
    for fit in (lambda d: ml.lmer("distance ~ Sex * age + (1 | Subject)", d, residual="ar1(age | Subject)"),
                lambda d: ml.gls("distance ~ Sex * age", d, residual="ar1(age | Subject)")):
        a, b = fit(o), fit(moved)
        assert not b.messages if hasattr(b, "messages") else True
        assert b.sigma == pytest.approx(a.sigma, rel=1e-5)
        # the correlation two years apart (at the lag unit), and the REML criterion up to the slopes' units
        assert b.design.residual.r == pytest.approx(a.design.residual.r, rel=1e-4, abs=1e-6)
        assert b.loglik - a.loglik == pytest.approx(-2 * np.log(unit), rel=1e-6)
        np.testing.assert_allclose(b.fixef.to_numpy()[[2, 3]] * unit, a.fixef.to_numpy()[[2, 3]], rtol=1e-5)


def test_a_negative_correlation_over_a_large_odd_lag_unit():
    """Only an even lag unit hides rho's sign: with times t x 1000001 the reported rho had its
    sign flipped (canonical's relative test took the odd gaps for even) and the fit moved to
    it (log-likelihood -618.2 for -447.8)."""
    rng = np.random.default_rng(5)
    i = np.arange(8)
    L = np.linalg.cholesky((-0.6) ** np.abs(i[:, None] - i[None, :]))
    rows = [(g, t, 1 + 0.3 * t + u + e[t]) for g in range(40)
            for u, e in [(rng.normal(), L @ rng.normal(size=8))] for t in range(8)]
    d = pd.DataFrame(rows, columns=["g", "t", "y"])
    a = ml.lmer("y ~ t + (1 | g)", d, residual="ar1(t | g)")
    b = ml.lmer("y ~ t + (1 | g)", d.assign(t=d["t"] * 1000001), residual="ar1(t | g)")
    assert a.design.residual.rho < -0.4
    assert b.design.residual.rho ** 1000001 == pytest.approx(a.design.residual.rho, rel=1e-5)
    assert b.loglik - a.loglik == pytest.approx(-np.log(1000001.0), rel=1e-6)


@pytest.mark.parametrize("unit", [1e-6, 1e-10, 1 / 86400, 1e12])
def test_residual_ar1_in_tiny_or_huge_time_units(unit):
    """Every computation takes the correlation at the lag unit (r), never rho per unit of time,
    which for days in millionths is 0.64^(1e6) = 0 in a float: the fit had whitened the rows at
    rho = 0 (log-likelihood -893.2 for -872.4); and patterns of times are told apart relative to
    the times' spread (lags of 1e-10 had been rounded to 0)."""
    s = ml.datasets.load("sleepstudy")
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", s, reml=False, residual="ar1(Days | Subject)")
    b = ml.lmer("Reaction ~ Days + (1 | Subject)", s.assign(Days=s["Days"] * unit), reml=False,
                residual="ar1(Days | Subject)")
    assert b.loglik == pytest.approx(a.loglik, rel=1e-7)
    assert b.design.residual.r == pytest.approx(a.design.residual.r, rel=1e-5)
    assert b.design.residual.lag_unit == pytest.approx(unit, rel=1e-12)
    iv = b.residual_correlation
    assert iv["rho_at_lag_unit"] == pytest.approx(a.design.residual.r, rel=1e-5)
    assert "at its lag unit" in b.summary()


def _negative_ar1(seed=5, groups=60, m=8, rho=-0.6):
    rng = np.random.default_rng(seed)
    i = np.arange(m)
    L = np.linalg.cholesky(rho ** np.abs(i[:, None] - i[None, :]))
    rows = [(g, t, 1 + 0.3 * t + u + e[t]) for g in range(groups)
            for u, e in [(rng.normal(), L @ rng.normal(size=m))] for t in range(m)]
    return pd.DataFrame(rows, columns=["g", "t", "y"])


def test_simulating_new_rows_at_another_lag_unit_keeps_a_negative_correlations_powers():
    """The fitted r (-0.57 at one step) on new rows two steps apart is r^2 > 0: its sign had been
    kept, and simulate refused a negative correlation at 'fractional lags'."""
    d = _negative_ar1()
    fit = ml.lmer("y ~ t + (1 | g)", d, residual="ar1(t | g)")
    assert fit.design.residual.r < -0.4
    new = d[d["t"] % 2 == 0]
    sims = fit.simulate(1, seed=1, newdata=new)
    assert np.all(np.isfinite(np.asarray(sims, dtype=float)))
    from multilevel.design.correlation import residual_correlation

    other = residual_correlation("ar1(t | g)", new)
    assert other.lag_unit == 2.0
    assert fit.design.residual.r_for(other) == pytest.approx(fit.design.residual.r ** 2)


def test_patterns_of_times_do_not_depend_on_another_groups_origin():
    """Patterns are told apart relative to the widest span within a group: shifting one subject's
    times by 1e11 had merged the patterns with a gap at day 3 and at day 4."""
    s = ml.datasets.load("sleepstudy")
    subjects = s["Subject"].cat.categories
    early = s["Subject"].isin(subjects[:9])
    d = s[(early & (s["Days"] != 3)) | (~early & (s["Days"] != 4))].copy()
    d["t"] = d["Days"].astype(float)
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", d, reml=False, residual="ar1(t | Subject)")
    last = d["Subject"] == subjects[-1]
    b = ml.lmer("Reaction ~ Days + (1 | Subject)", d.assign(t=np.where(last, d["t"] + 1e11, d["t"])),
                reml=False, residual="ar1(t | Subject)")
    assert len(b.design.residual.patterns) == len(a.design.residual.patterns) == 2
    assert b.loglik == pytest.approx(a.loglik, rel=1e-9)


def test_whole_times_with_rounding_noise_and_a_negative_correlation():
    """Times within 1e-7 of whole numbers take whole steps: a negative r to a non-integer power
    had given NaN (lmer failed, gls's normalized residuals were all NaN)."""
    d = _negative_ar1()
    noisy = d.assign(t=d["t"] + np.random.default_rng(3).uniform(-1e-9, 1e-9, len(d)))
    a = ml.lmer("y ~ t + (1 | g)", d, residual="ar1(t | g)")
    b = ml.lmer("y ~ t + (1 | g)", noisy, residual="ar1(t | g)")
    assert b.design.residual.r == pytest.approx(a.design.residual.r, rel=1e-5)
    g = ml.gls("y ~ t", noisy, residual="ar1(t | g)")
    assert np.all(np.isfinite(g.residuals(type="normalized")))


def test_the_bootstrap_of_a_correlation_in_tiny_time_units():
    """The bootstrap collects the correlation at the lag unit (named so), not rho per unit of time,
    which is 0 in a float for days in millionths (its interval had been [0, 0])."""
    s = ml.datasets.load("sleepstudy").assign(t=lambda d: d["Days"] * 1e-6)
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", s, residual="ar1(t | Subject)")
    boot = ml.bootstrap(fit, nsim=3, seed=1)
    names = [n for n in boot.draws.columns if n.startswith("rho_ar1|residual")]
    assert names == ["rho_ar1|residual|lag 1e-06"]
    assert float(boot.draws[names[0]].mean()) > 0.3


@pytest.mark.parametrize("times, r", [
    ("gaps", 0.6), ("gaps", -0.4), ("fractional", 0.7), ("uneven_whole", -0.3), ("uneven_whole", 0.5)])
def test_the_markov_cross_products_equal_the_whitened_rows(times, r):
    """The one-term criterion forms A'R^-1 A per lag from an AR(1)'s Markov factorisation; the
    same criterion from the rows whitened by each group's Cholesky factor (the general path),
    at irregular whole steps (a negative r too) and at fractional lags."""
    from dataclasses import replace

    from multilevel.design import build_design, standardize
    from multilevel.design.correlation import residual_correlation
    from multilevel.linalg import ThetaLayout, cross_products, factorize
    from multilevel.lmm.correlation import _one_term_criterion, whitened_design
    from multilevel.lmm.objective import criterion

    s = ml.datasets.load("sleepstudy").copy()
    rng = np.random.default_rng(4)
    if times == "gaps":
        s = s[~((s.Days == 3) & (s.Subject.cat.codes % 2 == 0)) & ~((s.Days == 7) & (s.Subject.cat.codes % 3 == 0))]
        s = s.assign(t=s.Days.astype(float))
    elif times == "fractional":
        s = s.assign(t=s.Days + rng.uniform(0, 0.6, len(s)))
    else:
        s = s.assign(t=s.Days * 2.0 + (s.Days > 4) * 3.0)   # steps of 2 and of 5 (lag unit 1)
    s = s.reset_index(drop=True)
    d = build_design("Reaction ~ Days + (Days | Subject)", s)
    rc = residual_correlation("ar1(t | Subject)", s, d)
    if r < 0 and not rc._signed:
        pytest.skip("a negative correlation has no value at these lags")
    st, inner = standardize(replace(d, residual=None))
    layout = ThetaLayout.from_terms(inner.terms)
    for reml in (True, False):
        f = _one_term_criterion(inner, rc, layout, reml)
        x = np.r_[0.8, 0.1, 0.3, rc.a_of(r)]
        wd, logdet = whitened_design(inner, rc, rc.rho_of(x[-1]))
        cp = cross_products(wd)
        cp = replace(cp, log_weights=cp.log_weights - logdet)
        expected = criterion(factorize(cp, layout, x[:3]), cp, reml)
        assert f(x) == pytest.approx(expected, rel=1e-11)
