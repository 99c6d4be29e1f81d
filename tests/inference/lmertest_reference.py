"""Shared access to lmerTest's reference figures (tests/reference/lmertest.json)."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).parents[1] / "reference" / "lmertest.json").read_text())
MODELS = {m["id"]: m for m in REF["models"]}


@lru_cache(maxsize=None)
def fit_of(model_id: str):
    m = MODELS[model_id]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.lmer(m["formula"], ml.datasets.load(m["dataset"]), reml=m["reml"])


def lme4_stopped_short(model_id: str) -> bool:
    """True where lme4's optimizer stopped measurably away from the optimum: its
    theta differs from ours by more than 1e-5 and our criterion is lower. Then
    its standard errors differ by a few 1e-5 and, with few df, p by up to 1e-3."""
    m = MODELS[model_id]
    fit = fit_of(model_id)
    gap = np.max(np.abs(fit.theta.to_numpy() - np.array(list(m["theta"].values()))))
    return gap > 1e-5 and fit.objective <= m["reml_criterion"]


def close_p(ours: float, theirs: float, model_id: str) -> None:
    """p-values within 1e-4 relative; below 1e-10 a tiny change of t moves p by
    more than that (d log p / dt is about t), so there 1e-2 relative."""
    rtol = 1e-4 if theirs > 1e-10 else 1e-2
    if lme4_stopped_short(model_id):
        rtol = max(rtol, 2e-3)
    assert ours == pytest.approx(theirs, rel=rtol, abs=0)
