"""Bundled example data sets, with R's factor level order restored.

Each data set is a CSV file with a JSON sidecar giving its source, a
description of every column and the levels of the factor columns.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import pandas as pd

from ..arguments import short_repr

__all__ = ["load", "names", "describe"]

_DATA = "data"


def _files():
    return resources.files(__package__).joinpath(_DATA)


def names() -> list[str]:
    """Names of the bundled data sets.

    Examples
    --------
    >>> "sleepstudy" in names()
    True
    """
    return sorted(p.name[:-5] for p in _files().iterdir() if p.name.endswith(".json"))


@lru_cache(maxsize=None)
def _meta(name: str) -> dict:
    path = _files().joinpath(f"{name}.json")
    if not path.is_file():
        raise ValueError(f"no bundled data set {short_repr(name)}; choose one of: {', '.join(names())}")
    return json.loads(path.read_text(encoding="utf-8"))


def describe(name: str) -> dict:
    """Source, description and column notes of a bundled data set.

    Examples
    --------
    >>> describe("gcsemv")["source"].startswith("R package mlmRev")
    True
    """
    return dict(_meta(name))


@lru_cache(maxsize=None)
def _load(name: str) -> pd.DataFrame:
    meta = _meta(name)
    cats: dict = meta.get("categories", {})
    ordered = set(meta.get("ordered", []))
    files = _files()
    path = files.joinpath(f"{name}.csv")
    if not path.is_file():
        path = files.joinpath(f"{name}.csv.gz")
    with resources.as_file(path) as p:
        df = pd.read_csv(p, dtype={c: str for c in cats})
    for col, levels in cats.items():
        df[col] = pd.Categorical(df[col], categories=levels, ordered=col in ordered)
    return df


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set as a pandas DataFrame (a fresh copy each call).

    Parameters
    ----------
    name : str
        One of :func:`names`: ``gcsemv``, ``hsb82``, ``leebryk``, ``anorexia``,
        ``sleepstudy``, ``insteval``, ``pastes``, ``penicillin``, ``exam``,
        ``cbpp``, ``grouseticks``, ``verbagg``, ``rasch5``; for the families
        with a dispersion parameter ``salamanders`` and ``owls`` (counts),
        ``cake`` (positive), ``seatbelts`` (proportions), ``wine`` and ``soup``
        (ordered ratings); for covariance structures ``orthodont`` and
        ``machines`` (nlme's).

    Examples
    --------
    >>> df = load("sleepstudy")
    >>> df.shape
    (180, 3)
    >>> list(load("gcsemv")["female"].cat.categories)
    ['M', 'F']
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be the name of a bundled data set (a string, see names()), not {short_repr(name)}")
    df = _load(name).copy()
    df.attrs["name"] = name
    return df
