"""Per-group coefficients with the group-level predictors folded in (the level-2 equations)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

pytestmark = pytest.mark.filterwarnings("ignore:boundary \\(singular\\) fit")

M4 = "math ~ 1 + mses + sector + ses + ses:mses + ses:sector + (1 + ses | schoolid)"


@pytest.fixture(scope="module")
def lee():
    return ml.datasets.load("leebryk")


@pytest.fixture(scope="module")
def m4(lee):
    return ml.lmer(M4, lee)


def test_the_school_data_notes_level2_equations(m4, lee):
    """beta_0j = g00 + g01 mses_j + g02 sector_j + u_0j and beta_1j likewise, as the notes
    compute them (their code drops the sector and random-effect terms of beta_0j by a line
    break, and writes 2.3225 for 3.3225; these are the equations they state)."""
    b = m4.group_coefficients()
    g, u = m4.fixef, m4.ranef["schoolid"]
    school = lee.groupby("schoolid", observed=True)[["mses", "sector"]].first().loc[b.index]
    beta0 = g["(Intercept)"] + g["mses"] * school["mses"] + g["sector"] * school["sector"] + u["(Intercept)"]
    beta1 = g["ses"] + g["mses:ses"] * school["mses"] + g["sector:ses"] * school["sector"] + u["ses"]
    np.testing.assert_allclose(b["(Intercept)"], beta0, rtol=1e-12)
    np.testing.assert_allclose(b["ses"], beta1, rtol=1e-12)
    assert b.attrs["folded"] == {"(Intercept)": ["(Intercept)", "mses", "sector"],
                                 "ses": ["ses", "mses:ses", "sector:ses"]}
    # each school's fitted line is its rows' fitted values
    rows = lee.index[lee["schoolid"] == b.index[3]]
    line = b["(Intercept)"].iloc[3] + b["ses"].iloc[3] * lee.loc[rows, "ses"]
    np.testing.assert_allclose(line, m4.fitted.loc[rows], rtol=1e-10)


def test_without_group_level_predictors_it_is_lme4s_coef():
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    pd.testing.assert_frame_equal(fit.group_coefficients(), fit.coef["Subject"], check_names=False)


def test_a_categorical_group_level_predictor_and_units(lee):
    d = ml.datasets.load("sleepstudy")
    arm = {s: "drug" if i % 2 else "placebo" for i, s in enumerate(d["Subject"].cat.categories)}
    d["arm"] = d["Subject"].map(arm).astype("category")
    fit = ml.lmer("Reaction ~ Days * arm + (Days | Subject)", d)
    b = fit.group_coefficients()
    assert list(b.columns) == ["(Intercept)", "Days"]
    placebo = [s for s in b.index if arm[s] == "placebo"]
    g = fit.fixef
    slope_term = [n for n in g.index if n.startswith("Days:")][0]
    np.testing.assert_allclose(b.loc[placebo, "Days"],
                               g["Days"] + g[slope_term] + fit.ranef["Subject"].loc[placebo, "Days"])
    # days in hours: the slopes are per hour, the intercepts unchanged
    d2 = d.assign(Days=d["Days"] * 24.0)
    b2 = ml.lmer("Reaction ~ Days * arm + (Days | Subject)", d2).group_coefficients()
    np.testing.assert_allclose(b2["Days"] * 24.0, b["Days"], rtol=1e-6)
    np.testing.assert_allclose(b2["(Intercept)"], b["(Intercept)"], rtol=1e-6)


def test_level1_predictors_without_a_random_slope_get_their_own_columns():
    m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    b = m.group_coefficients()
    assert list(b.columns) == ["(Intercept)", "period2", "period3", "period4"]
    np.testing.assert_allclose(b["period2"], m.fixef["period2"])
    np.testing.assert_allclose(b["(Intercept)"], m.fixef["(Intercept)"] + m.ranef["herd"]["(Intercept)"])


def test_row_order_does_not_matter(m4, lee):
    shuffled = lee.sample(frac=1.0, random_state=3)
    b = ml.lmer(M4, shuffled).group_coefficients()
    pd.testing.assert_frame_equal(b.sort_index(), m4.group_coefficients().sort_index(), rtol=1e-6)


def test_unknown_group(m4):
    with pytest.raises(ValueError, match="no grouping factor 'school'; the fit has 'schoolid'"):
        m4.group_coefficients("school")
