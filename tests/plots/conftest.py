"""Fixtures of the figure tests: every figure closed after its test, one sleepstudy fit."""

from __future__ import annotations

import pytest

import multilevel as ml


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


@pytest.fixture(scope="module")
def sleep_fit():
    return ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
