"""Input data: missing rows, weights and offsets, data frame types."""

from __future__ import annotations

import numpy as np
import pytest

import multilevel as ml
from multilevel.design import build_design


# ------------------------------------------------------------ missing rows


def test_gcsemv_rows_with_missing_course_are_dropped_and_counted():
    g = ml.datasets.load("gcsemv")
    assert int(g["course"].isna().sum()) == 180
    d = build_design("course ~ 1 + female + (1 | school)", g)
    assert d.n == 1725 and d.n_dropped == 180
    assert (d.rows == np.nonzero(g["course"].notna().to_numpy())[0]).all()
    fit = ml.lmer("course ~ 1 + female + (1 | school)", g, reml=False)
    assert fit.nobs == 1725 and fit.n_dropped == 180
    assert "(180 observations deleted due to missingness)" in str(fit)
    assert fit.to_dict()["n_dropped"] == 180


def test_missing_values_in_unused_columns_are_ignored():
    g = ml.datasets.load("gcsemv")
    assert g["written"].isna().sum() == 202
    d = build_design("course ~ 1 + (1 | school)", g)
    assert d.n_dropped == 180
    d = build_design("course ~ 1 + written + (1 | school)", g)
    both = (g["course"].notna() & g["written"].notna()).sum()
    assert d.n == both and d.n_dropped == len(g) - both


def test_fitted_values_are_indexed_by_the_rows_used():
    g = ml.datasets.load("gcsemv")
    fit = ml.lmer("course ~ 1 + (1 | school)", g, reml=False)
    assert list(fit.fitted.index) == list(g.index[g["course"].notna()])
    assert list(fit.residuals().index) == list(fit.fitted.index)


def test_missing_group_is_dropped(sleepstudy):
    sleepstudy["Subject"] = sleepstudy["Subject"].astype(object)
    sleepstudy.loc[[0, 5], "Subject"] = None
    d = build_design("Reaction ~ Days + (1 | Subject)", sleepstudy)
    assert d.n == 178 and d.n_dropped == 2


def test_missing_weight_or_offset_drops_the_row(sleepstudy):
    w = np.ones(180)
    w[3] = np.nan
    d = build_design("Reaction ~ Days + (1 | Subject)", sleepstudy, weights=w)
    assert d.n_dropped == 1 and 3 not in d.rows
    o = np.zeros(180)
    o[[1, 2]] = np.nan
    d = build_design("Reaction ~ Days + (1 | Subject)", sleepstudy, offset=o)
    assert d.n_dropped == 2


def test_dropping_rows_equals_fitting_the_complete_cases():
    g = ml.datasets.load("gcsemv")
    a = ml.lmer("course ~ 1 + female + (1 | school)", g, reml=False)
    b = ml.lmer("course ~ 1 + female + (1 | school)", g.dropna(subset=["course"]), reml=False)
    assert b.n_dropped == 0
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-10)


# --------------------------------------------------------- weights, offset


@pytest.fixture
def extra(sleepstudy):
    sleepstudy["w"] = 1.0 + sleepstudy["Days"] % 3
    sleepstudy["o"] = 2.0 * sleepstudy["Days"]
    return sleepstudy


def test_weights_as_column_name_or_array(extra):
    f = "Reaction ~ Days + (Days | Subject)"
    a = ml.lmer(f, extra, weights="w")
    b = ml.lmer(f, extra, weights=extra["w"].to_numpy())
    c = ml.lmer(f, extra, weights=list(extra["w"]))
    for other in (b, c):
        assert other.objective == pytest.approx(a.objective, rel=1e-12)
        np.testing.assert_allclose(other.fixef, a.fixef, rtol=1e-10)
    np.testing.assert_allclose(a.design.weights, extra["w"])
    assert "Weights: (prior weights)" in str(a)


def test_offset_as_column_name_or_array(extra):
    f = "Reaction ~ Days + (Days | Subject)"
    a = ml.lmer(f, extra, offset="o", reml=False)
    b = ml.lmer(f, extra, offset=extra["o"].to_numpy(), reml=False)
    assert b.objective == pytest.approx(a.objective, rel=1e-12)
    np.testing.assert_allclose(b.fixef, a.fixef, rtol=1e-10)
    assert " Offset: (offset)" in str(a)


def test_offset_is_a_known_part_of_the_linear_predictor(extra):
    """Fitting y with offset o is fitting y - o, with o added back to the fitted values."""
    f = "Reaction ~ Days + (Days | Subject)"
    a = ml.lmer(f, extra, offset="o", reml=False)
    shifted = extra.assign(Reaction=extra["Reaction"] - extra["o"])
    b = ml.lmer(f, shifted, reml=False)
    assert a.objective == pytest.approx(b.objective, rel=1e-10)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-8)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-6)
    np.testing.assert_allclose(a.fitted, b.fitted + extra["o"], rtol=1e-8)
    np.testing.assert_allclose(a.residuals(), b.residuals(), atol=1e-6)


def test_unit_weights_equal_no_weights(sleepstudy):
    f = "Reaction ~ Days + (Days | Subject)"
    a = ml.lmer(f, sleepstudy, weights=np.ones(180))
    b = ml.lmer(f, sleepstudy)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=1e-10)


def test_scaling_all_weights_scales_sigma_only(extra):
    """Weights are precisions relative to 1/sigma^2: w -> c w multiplies sigma by
    sqrt(c) and leaves the random-effects covariance, fixed effects and their
    standard errors unchanged."""
    f = "Reaction ~ Days + (Days | Subject)"
    a = ml.lmer(f, extra, weights="w")
    b = ml.lmer(f, extra, weights=4.0 * extra["w"].to_numpy())
    np.testing.assert_allclose(b.fixef, a.fixef, rtol=1e-6)
    np.testing.assert_allclose(b.se, a.se, rtol=1e-4)
    # theta is relative to sigma: it halves
    np.testing.assert_allclose(2.0 * b.theta, a.theta, atol=1e-4 * max(1.0, a.theta.abs().max()))
    assert b.sigma == pytest.approx(2.0 * a.sigma, rel=1e-5)
    assert b.objective == pytest.approx(a.objective, rel=1e-8)  # the same likelihood


# ------------------------------------------------------------- data types


def test_dict_of_columns(sleepstudy):
    data = {c: sleepstudy[c].to_numpy() for c in sleepstudy.columns}
    a = ml.lmer("Reaction ~ Days + (Days | Subject)", data)
    b = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)


def test_other_data_types_are_rejected():
    with pytest.raises(TypeError, match="DataFrame"):
        build_design("y ~ x + (1 | g)", [[1, 2, 3]])


def test_polars_frame(sleepstudy):
    pl = pytest.importorskip("polars")
    data = pl.from_pandas(sleepstudy.assign(Subject=sleepstudy["Subject"].astype(str)))
    a = ml.lmer("Reaction ~ Days + (Days | Subject)", data)
    b = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert a.objective == pytest.approx(b.objective, rel=1e-10)


# --------------------------------------------------------------- names


def test_dotted_grouping_factor(sleepstudy):
    d = sleepstudy.rename(columns={"Subject": "Subject.id"})
    fit = ml.lmer("Reaction ~ Days + (1 | Subject.id)", d)
    assert fit.ngroups == {"Subject.id": 18}


def test_column_name_with_a_space(sleepstudy):
    d = sleepstudy.rename(columns={"Days": "my days"})
    fit = ml.lmer("Reaction ~ `my days` + (1 | Subject)", d)
    assert list(fit.fixef.index) == ["(Intercept)", "my days"]


@pytest.mark.parametrize("term", ["Days.x", "`Days.x`"])
def test_dotted_predictor_name(sleepstudy, term):
    d = sleepstudy.rename(columns={"Days": "Days.x"})
    fit = ml.lmer(f"Reaction ~ {term} + (1 | Subject)", d)
    ref = ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    np.testing.assert_allclose(fit.fixef.to_numpy(), ref.fixef.to_numpy(), rtol=1e-8)
