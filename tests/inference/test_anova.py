"""ANOVA tables of lmer fits that numerical cancellation used to break (type I with a covariate
far from zero); lmerTest's own tables are checked in test_satterthwaite.py and test_kenward_roger.py."""

from __future__ import annotations

import numpy as np
import pytest

import multilevel as ml


def test_type1_anova_with_a_covariate_far_from_zero():
    """The Doolittle factor from X's QR factor: X'X's Cholesky failed at age + 1e9."""
    o = ml.datasets.load("orthodont")
    a = ml.lmer("distance ~ age * Sex + (1 | Subject)", o).anova(type=1)
    b = ml.lmer("distance ~ age * Sex + (1 | Subject)", o.assign(age=o["age"] + 1e9)).anova(type=1)
    np.testing.assert_allclose(b.to_numpy(dtype=float), a.to_numpy(dtype=float), rtol=1e-4)


def test_type3_without_a_lower_order_term_does_not_follow_the_reference_level():
    """``a + a:b`` (b nested in a) and ``x + x:f`` (separate slopes): the main effect is tested
    averaged over the other factor's levels (SAS's hypothesis), so its F is the same whatever
    the reference level; lmerTest tests it at the reference level instead (docs/user_guide/
    inference.md). Its averaged hypothesis is checked here directly: for ``a`` in ``a + a:b``
    with a balanced b, the contrasts of the cell means averaged over b."""
    import pandas as pd

    rng = np.random.default_rng(1)
    n = 240
    g = rng.integers(0, 20, n)
    d = pd.DataFrame({"g": [f"g{i}" for i in g], "a": np.tile(list("abcd"), n // 4),
                      "b": np.repeat(list("uvw"), n // 3), "x": rng.normal(size=n)})
    d["y"] = (d.a == "b") * 0.5 + 0.4 * d.x + (d.b == "v") * (d.a == "c") + rng.normal(0, 1, 20)[g] \
        + rng.normal(size=n)
    first = ml.lmer("y ~ a + a:b + (1 | g)", d).anova()
    relevelled = d.assign(b=pd.Categorical(d["b"], categories=["w", "u", "v"]))
    again = ml.lmer("y ~ a + a:b + (1 | g)", relevelled).anova()
    np.testing.assert_allclose(again.loc["a"].to_numpy(float), first.loc["a"].to_numpy(float), rtol=1e-6)
    slopes = ml.lmer("y ~ x + x:a + (1 | g)", d).anova()
    slopes2 = ml.lmer("y ~ x + x:a + (1 | g)", d.assign(a=pd.Categorical(d["a"], categories=list("dcba")))).anova()
    np.testing.assert_allclose(slopes2.loc["x"].to_numpy(float), slopes.loc["x"].to_numpy(float), rtol=1e-6)
    # the same hypothesis through contest: the cell means of a averaged over b, a's 3 differences
    cells = ml.lmer("y ~ 0 + a:b + (1 | g)", d)
    names = list(cells.fixef.index)
    L = np.zeros((3, len(names)))
    for i, lev in enumerate("bcd"):
        for j, name in enumerate(names):
            if name.startswith(f"a{lev}:"):
                L[i, j] += 1 / 3
            if name.startswith("aa:"):
                L[i, j] -= 1 / 3
    test = cells.contest(L)
    assert float(test["F value"].iloc[0]) == pytest.approx(float(first.loc["a", "F value"]), rel=1e-4)
