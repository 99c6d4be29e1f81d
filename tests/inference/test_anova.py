"""ANOVA tables of lmer fits that numerical cancellation used to break (type I with a covariate
far from zero); lmerTest's own tables are checked in test_satterthwaite.py and test_kenward_roger.py."""

from __future__ import annotations

import numpy as np

import multilevel as ml


def test_type1_anova_with_a_covariate_far_from_zero():
    """The Doolittle factor from X's QR factor: X'X's Cholesky failed at age + 1e9."""
    o = ml.datasets.load("orthodont")
    a = ml.lmer("distance ~ age * Sex + (1 | Subject)", o).anova(type=1)
    b = ml.lmer("distance ~ age * Sex + (1 | Subject)", o.assign(age=o["age"] + 1e9)).anova(type=1)
    np.testing.assert_allclose(b.to_numpy(dtype=float), a.to_numpy(dtype=float), rtol=1e-4)
