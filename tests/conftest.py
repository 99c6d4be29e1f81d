"""Shared fixtures: the lme4 reference fits and a session-wide cache of our fits."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

import multilevel as ml

os.environ.setdefault("MPLBACKEND", "Agg")  # figures render off-screen in tests

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
REFERENCE_JSON = TESTS / "reference" / "lme4_lmm.json"

# Models too slow for the default run (see the ``slow`` marker in pyproject.toml).
SLOW_MODELS = frozenset({"insteval_ml"})


def _read_reference() -> dict:
    with open(REFERENCE_JSON, encoding="utf-8") as fh:
        return json.load(fh)


REFERENCE = _read_reference()
REFERENCE_MODELS = {m["id"]: m for m in REFERENCE["models"]}


def reference_ids(include_slow: bool = True) -> list:
    """Model ids of the reference file, slow ones marked ``slow``, for parametrize."""
    out = []
    for mid in REFERENCE_MODELS:
        if mid in SLOW_MODELS:
            if include_slow:
                out.append(pytest.param(mid, marks=pytest.mark.slow, id=mid))
        else:
            out.append(pytest.param(mid, id=mid))
    return out


def load_dataset(name: str) -> pd.DataFrame:
    """A bundled data set by name, or a CSV under the repository (path relative to it)."""
    if name in ml.datasets.names():
        return ml.datasets.load(name)
    return pd.read_csv(REPO / name, dtype={"Subject": str})


def fit_reference(spec: dict) -> ml.LmerResult:
    """Fit one reference model specification as lme4 fitted it."""
    data = load_dataset(spec["dataset"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular-fit messages are checked explicitly
        return ml.lmer(spec["formula"], data, reml=spec["reml"], weights=spec["weights"],
                       offset=spec["offset"])


@pytest.fixture(scope="session")
def reference() -> dict:
    """The whole lme4 reference file (tests/reference/lme4_lmm.json)."""
    return REFERENCE


@pytest.fixture(scope="session")
def reference_models() -> dict:
    """Reference models by id."""
    return REFERENCE_MODELS


@pytest.fixture(scope="session")
def fitted():
    """``fitted(id)``: our fit of a reference model, computed once per session."""
    cache: dict[str, ml.LmerResult] = {}

    def get(model_id: str) -> ml.LmerResult:
        if model_id not in cache:
            cache[model_id] = fit_reference(REFERENCE_MODELS[model_id])
        return cache[model_id]

    return get


@pytest.fixture(scope="session")
def reference_data():
    """``reference_data(id)``: a fresh copy of the data a reference model was fitted to."""
    return lambda model_id: load_dataset(REFERENCE_MODELS[model_id]["dataset"])


@pytest.fixture
def gcsemv() -> pd.DataFrame:
    """A fresh copy of the GCSE data (tests may modify it)."""
    return ml.datasets.load("gcsemv")


@pytest.fixture
def sleepstudy() -> pd.DataFrame:
    """A fresh copy of the sleepstudy data (tests may modify it)."""
    return ml.datasets.load("sleepstudy")


def pytest_generate_tests(metafunc):
    """Parametrise any test taking ``reference_id`` over every reference model.

    Models in ``SLOW_MODELS`` are marked ``slow`` (excluded from the default run).
    """
    if "reference_id" in metafunc.fixturenames:
        metafunc.parametrize("reference_id", reference_ids())
