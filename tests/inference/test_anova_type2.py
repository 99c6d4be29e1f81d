"""Type II ANOVA tables against lmerTest's ``anova(m, type = 2)`` (Satterthwaite's and
Kenward-Roger's df), tests/reference/lmertest_type2.*: numeric-by-factor, factor-by-factor
and numeric-by-numeric interactions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "lmertest_type2.json").read_text())
MODELS = {m["id"]: m for m in REF["models"]}
COLUMNS = {"SumSq": "Sum Sq", "MeanSq": "Mean Sq", "NumDF": "NumDF", "DenDF": "DenDF", "F": "F value",
           "p": "Pr(>F)"}


@pytest.fixture(scope="module")
def fits():
    return {key: ml.lmer(m["formula"], ml.datasets.load(m["dataset"]), reml=m["reml"])
            for key, m in MODELS.items()}


@pytest.mark.parametrize("ddf", ["satterthwaite", "kenward-roger"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_type2_table_is_lmertests(fits, model, ddf):
    table = fits[model].anova(type=2, ddf=ddf)
    ref = MODELS[model][ddf]
    assert len(table) == len(ref)
    # (leebryk's random slope: the optima agree to about 1e-6, its F values to 4e-6)
    rtol = 5e-5 if model == "leebryk" else 1e-6
    for ours, theirs in zip(table.itertuples(index=False), ref):
        row = dict(zip(table.columns, ours))
        for key, col in COLUMNS.items():
            assert row[col] == pytest.approx(theirs[key], rel=rtol, abs=1e-12), (model, theirs["term"], key)
    assert "Type II Analysis of Variance Table" in str(table)


def test_type2_names_and_spellings(fits):
    fit = fits["anorexia"]
    a, b = fit.anova(type=2), fit.anova(type="II")
    assert a.index.tolist() == ["time", "treatment", "time:treatment"]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    # the interaction, contained in no term, is tested as in type III; a term that no other
    # contains (treatment: time is numeric) is tested marginally, as in type III too
    c = fit.anova(type=3)
    assert a.loc["time:treatment", "F value"] == pytest.approx(c.loc["time:treatment", "F value"], rel=1e-10)
    assert a.loc["treatment", "F value"] == pytest.approx(c.loc["treatment", "F value"], rel=1e-10)
    assert a.loc["time", "F value"] != pytest.approx(c.loc["time", "F value"], rel=1e-3)
    with pytest.raises(ValueError, match="2 \\(hierarchical\\)"):
        fit.anova(type=4)


def test_type2_of_data_in_parts_is_the_in_memory_table():
    dd = pytest.importorskip("dask.dataframe")
    o = ml.datasets.load("orthodont")
    here = ml.lmer("distance ~ age * Sex + (1 | Subject)", o).anova(type=2)
    parts = ml.lmer("distance ~ age * Sex + (1 | Subject)", dd.from_pandas(o, npartitions=3)).anova(type=2)
    np.testing.assert_allclose(parts.to_numpy(float), here.to_numpy(float), rtol=1e-8)
