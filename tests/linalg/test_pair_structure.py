"""The precomputed pair structure and the dense product give the same Schur complement."""

from __future__ import annotations

import numpy as np
import pytest

import multilevel as ml
from multilevel.design import build_design
from multilevel.linalg import crossprod
from multilevel.lmm import LmmObjective

CASES = [
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", [1.5, 3.5]),
    ("pastes", "strength ~ 1 + (1 | batch/cask)", [3.5, 1.3]),
    ("sleepstudy", "Reaction ~ Days + (Days || Subject) + (1 | Days)", [0.9, 0.2, 0.3]),
]


@pytest.mark.parametrize("name, formula, theta", CASES)
def test_pair_and_dense_paths_agree(monkeypatch, name, formula, theta):
    data = ml.datasets.load(name)
    if name == "sleepstudy":
        data = data.assign(Days=data["Days"].astype(float))
    design = build_design(formula, data)
    theta = np.array(theta + [0.5] * (sum(t.ntheta for t in design.terms) - len(theta)))
    dense = LmmObjective.from_design(design)
    assert dense.cp.pairs is None
    monkeypatch.setattr(crossprod, "DENSE_REST", 0)
    paired = LmmObjective.from_design(design)
    assert paired.cp.pairs is not None
    assert paired(theta) == pytest.approx(dense(theta), rel=1e-12)
