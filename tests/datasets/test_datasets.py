"""Bundled data sets: every one loads, with the factor levels of its JSON sidecar."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

NAMES = ["anorexia", "cake", "cbpp", "exam", "gcsemv", "grouseticks", "hsb82", "insteval", "leebryk", "machines",
         "orthodont", "owls", "pastes", "penicillin", "rasch5", "salamanders", "seatbelts", "sleepstudy", "soup", "verbagg", "wine"]


def sidecar(name: str) -> dict:
    path = resources.files("multilevel.datasets").joinpath("data", f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def raw_csv(name: str, cats) -> pd.DataFrame:
    path = resources.files("multilevel.datasets").joinpath("data", f"{name}.csv")
    with resources.as_file(path) as p:
        return pd.read_csv(p, dtype={c: str for c in cats})


def test_names():
    assert ml.datasets.names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_load_matches_sidecar(name):
    meta = sidecar(name)
    df = ml.datasets.load(name)
    assert isinstance(df, pd.DataFrame)
    assert len(df) == meta["nrow"]
    assert list(df.columns) == list(meta["columns"])
    assert df.attrs["name"] == name
    cats = meta.get("categories", {})
    ordered = set(meta.get("ordered", []))
    for col, levels in cats.items():
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
        assert list(df[col].cat.categories) == [str(v) for v in levels], col
        assert df[col].cat.ordered == (col in ordered), col
    for col in df.columns:
        if col not in cats:
            assert pd.api.types.is_numeric_dtype(df[col]), col
    # no value outside the listed levels is silently turned into a missing value
    raw = raw_csv(name, cats)
    for col in cats:
        assert int(df[col].isna().sum()) == int(raw[col].isna().sum()), col


@pytest.mark.parametrize("name", NAMES)
def test_describe_has_a_source(name):
    meta = ml.datasets.describe(name)
    assert isinstance(meta["source"], str) and meta["source"].strip()
    assert meta["title"].strip() and meta["description"].strip()
    assert set(meta["columns"]) == set(ml.datasets.load(name).columns)
    for text in meta["columns"].values():
        assert isinstance(text, str) and text.strip()


def test_describe_returns_a_copy():
    meta = ml.datasets.describe("sleepstudy")
    meta["source"] = "changed"
    assert ml.datasets.describe("sleepstudy")["source"] != "changed"


def test_load_returns_a_fresh_copy():
    a = ml.datasets.load("sleepstudy")
    a.loc[0, "Reaction"] = -1.0
    a["extra"] = 1
    b = ml.datasets.load("sleepstudy")
    assert b.loc[0, "Reaction"] == pytest.approx(249.56)
    assert "extra" not in b.columns


def test_unknown_name():
    with pytest.raises(ValueError, match="no bundled data set 'iris'"):
        ml.datasets.load("iris")
    with pytest.raises(ValueError):
        ml.datasets.describe("iris")


def test_known_facts():
    g = ml.datasets.load("gcsemv")
    assert g.shape == (1905, 6)
    assert int(g["course"].isna().sum()) == 180 and int(g["written"].isna().sum()) == 202
    assert g["school"].nunique() == 73
    assert list(g["female"].cat.categories) == ["M", "F"]
    assert (g["female"].astype(str) == g["gender"].astype(str)).all()
    ss = ml.datasets.load("sleepstudy")
    assert ss.shape == (180, 3) and ss["Subject"].nunique() == 18
    lb = ml.datasets.load("leebryk")
    assert lb["schoolid"].nunique() == 160 and len(lb) == 7185
    assert set(lb["sector"].unique()) == {0, 1}
    an = ml.datasets.load("anorexia")
    assert len(an) == 144 and an["girl"].nunique() == 72
    # time is coded 1 = before, 2 = after, as in the notes whose models the data reproduce
    assert (an.groupby("girl")["time"].apply(sorted).map(tuple) == (1, 2)).all()
    pe = ml.datasets.load("penicillin")
    assert pd.crosstab(pe["plate"], pe["sample"]).eq(1).all().all()   # fully crossed
    pa = ml.datasets.load("pastes")
    assert (pa["sample"].astype(str) == pa["batch"].astype(str) + ":" + pa["cask"].astype(str)).all()
    ie = ml.datasets.load("insteval")
    assert len(ie) == 73421 and ie["s"].nunique() == 2972 and ie["d"].nunique() == 1128
    assert ie["dept"].cat.categories[0] == "15"


def test_levels_agree_with_the_lme4_reference(reference_models):
    """The grouping-factor levels lme4 reports are the sidecar levels, in the same order."""
    for spec in reference_models.values():
        if spec["ranef"] is None or spec["dataset"] not in NAMES:
            continue
        df = ml.datasets.load(spec["dataset"])
        for group, r in spec["ranef"].items():
            if ":" in group:
                continue
            expected = r["levels"]
            col = df[group]
            if isinstance(col.dtype, pd.CategoricalDtype):
                assert list(col.cat.categories) == expected, (spec["id"], group)
            else:
                assert [str(v) for v in np.sort(col.unique())] == expected, (spec["id"], group)


def test_the_data_guide_lists_every_bundled_data_set_with_its_rows():
    from pathlib import Path

    guide = Path(__file__).resolve().parents[2] / "docs" / "user_guide" / "data.md"
    rows = {}
    for line in guide.read_text().splitlines():
        if line.startswith("| `") and line.count("|") == 5:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[1].replace(",", "").isdigit():
                rows[cells[0].strip("`")] = int(cells[1].replace(",", ""))
    assert rows == {name: len(ml.datasets.load(name)) for name in ml.datasets.names()}
