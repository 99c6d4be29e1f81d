"""emmeans' cov.reduce: covariates at their median, range or a function's values, against
R's emmeans (tests/reference/emmeans_cov_reduce.R)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml
from multilevel.marginal.grid import reference_grid

REF = json.loads((Path(__file__).parents[1] / "reference" / "emmeans_cov_reduce.json").read_text())


@lru_cache(maxsize=None)
def exam_fit():
    return ml.lmer("normexam ~ standLRT + sex + schgend + (1 | school)", ml.datasets.load("exam"))


def quartiles(x):
    return np.quantile(x, [0.25, 0.75])


@pytest.mark.parametrize("case, cov_reduce", [("mean", None), ("median", "median"), ("range", "range"),
                                               ("quartiles", quartiles)])
def test_means_match_emmeans(case, cov_reduce):
    emm = ml.emmeans(exam_fit(), "schgend", cov_reduce=cov_reduce)
    ref = REF[case]
    assert [str(v) for v in emm["schgend"]] == ref["level"]
    np.testing.assert_allclose(emm["emmean"], ref["emmean"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(emm["SE"], ref["SE"], rtol=1e-4)
    np.testing.assert_allclose(emm["df"], ref["df"], rtol=1e-3)
    np.testing.assert_allclose(emm["lower.CL"], ref["lower"], rtol=1e-3, atol=1e-5)


def test_range_makes_the_covariate_a_dimension_of_the_grid():
    rg = reference_grid(exam_fit().design, cov_reduce="range")
    np.testing.assert_allclose(rg.variables["standLRT"], REF["range_rg"]["standLRT"], rtol=1e-6)
    per = reference_grid(exam_fit().design, cov_reduce={"standLRT": "median"})
    assert per.variables["standLRT"] == (float(np.median(ml.datasets.load("exam")["standLRT"])),)
    text = str(ml.emmeans(exam_fit(), "schgend", cov_reduce="range"))
    assert "Results are averaged over the levels of: standLRT, sex" in text
    # at= wins over cov_reduce for the covariates it names
    fixed = reference_grid(exam_fit().design, at={"standLRT": 0.0}, cov_reduce="range")
    assert fixed.variables["standLRT"] == (0.0,)


def test_bad_cov_reduce_gets_one_line_errors():
    with pytest.raises(ValueError, match="cov_reduce must be 'mean', 'median', 'range'"):
        ml.emmeans(exam_fit(), "schgend", cov_reduce="max")
    with pytest.raises(TypeError, match="cov_reduce must be"):
        ml.emmeans(exam_fit(), "schgend", cov_reduce=3)
    with pytest.raises(ValueError, match="cov_reduce names 'sex', which is not a covariate"):
        ml.emmeans(exam_fit(), "schgend", cov_reduce={"sex": "range"})
    with pytest.raises(ValueError, match="cov_reduce for 'standLRT' must give finite numbers"):
        ml.emmeans(exam_fit(), "schgend", cov_reduce=lambda x: np.nan)
