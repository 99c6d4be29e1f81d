"""Marginal means of generalized least squares fits (ml.gls): against emmeans 1.8 on nlme's
gls with ``mode = "df.error"`` (tests/reference/emmeans_gls.R: the MMRM of Orthodont and a
compound-symmetric fit), and Satterthwaite's df, the default, against those of the
equivalent random-intercept lmer fit (checked against lmerTest elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "emmeans_gls.json").read_text())


def _orthodont():
    o = ml.datasets.load("orthodont")
    o["visit"] = ((o["age"] - 8) // 2 + 1).astype(int)
    o["visitf"] = o["visit"].astype(str)
    return o


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["id"])
def test_df_error_tables_equal_emmeans(case):
    fit = ml.gls(case["formula"], _orthodont(), residual=case["residual"], dispformula=case["dispformula"] or None)
    emm = ml.emmeans(fit, case["specs"], df="df.error")
    for col in ("emmean", "SE", "df", "lower.CL", "upper.CL"):
        np.testing.assert_allclose(emm[col].to_numpy(dtype=float), case["means"][col], rtol=2e-5, err_msg=col)
    pairs = emm.pairs()
    for col in ("estimate", "SE", "df", "t.ratio", "p.value"):
        np.testing.assert_allclose(pairs[col].to_numpy(dtype=float), np.ravel(case["pairs"][col]), rtol=2e-5,
                                   err_msg=col)


def test_satterthwaite_df_equal_the_random_intercept_models():
    """Compound symmetry with a positive correlation is the random-intercept model: the same
    means, standard errors and Satterthwaite df (over rho and sigma here, over theta and sigma
    there: the df do not depend on the parameterisation)."""
    o = _orthodont()
    cs = ml.gls("distance ~ age + Sex", o, residual="cs(1 | Subject)")
    ri = ml.lmer("distance ~ age + Sex + (1 | Subject)", o)
    a = ml.emmeans(cs, "Sex")
    b = ml.emmeans(ri, "Sex", df="satterthwaite")
    np.testing.assert_allclose(a["emmean"], b["emmean"], rtol=1e-7)
    np.testing.assert_allclose(a["SE"], b["SE"], rtol=1e-5)
    np.testing.assert_allclose(a["df"], b["df"], rtol=1e-4)
    np.testing.assert_allclose(a.pairs()["df"], b.pairs()["df"], rtol=1e-4)
    # within subjects (age): many more df than between them (Sex)
    assert ml.emmeans(cs, "age", at={"age": [8, 14]}).pairs()["df"].iloc[0] > 70


def test_df_methods_and_refusals():
    o = _orthodont()
    fit = ml.gls("distance ~ age + Sex", o, residual="ar1(visit | Subject)")
    assert np.all(np.isinf(ml.emmeans(fit, "Sex", df="asymptotic")["df"]))
    with pytest.raises(ValueError, match="Kenward-Roger's df are not available for ml.gls"):
        ml.emmeans(fit, "Sex", df="kenward-roger")
    with pytest.raises(ValueError, match="df='df.error' applies to ml.gls fits"):
        ml.emmeans(ml.lmer("distance ~ age + Sex + (1 | Subject)", o), "Sex", df="df.error")


@pytest.mark.parametrize("shift, scale", [(1e9, 1.0), (0.0, 86400.0), (0.0, 1 / 365.25)])
def test_means_do_not_move_with_a_covariates_units(shift, scale):
    """x + 1e9 or x in other units: the means at its mean, their SEs and Satterthwaite df stay
    (formed in the coordinates of X's QR factor: in the user's the digits cancelled)."""
    o = _orthodont()
    ref = ml.emmeans(ml.gls("distance ~ age * Sex", o, residual="cs(1 | Subject)"), "Sex")
    moved = o.assign(age=o["age"] * scale + shift)
    emm = ml.emmeans(ml.gls("distance ~ age * Sex", moved, residual="cs(1 | Subject)"), "Sex")
    for col in ("emmean", "SE", "df"):
        np.testing.assert_allclose(emm[col], ref[col], rtol=1e-5, err_msg=col)
