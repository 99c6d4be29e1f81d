"""Simulated data for the large benchmark: many rows, many groups, a random slope.

    y = 1 + 0.5 x1 - 0.3 x2 + 0.2 x3 + 0 x4 + 0.1 x5 + b0[g] + b1[g] x1 + e

with (b0, b1) ~ N(0, [[1, 0.15], [0.15, 0.25]]) (standard deviations 1 and 0.5,
correlation 0.3) and e ~ N(0, 1). Groups are drawn uniformly, so their sizes
vary around n / groups. Every value is rounded to 6 decimals, so the data
survive a round trip through CSV exactly (R reads the same numbers).

Run as a script to write the CSV that ``lme4_time.R`` reads::

    python benchmarks/simulate.py /tmp/sim.csv --rows 1000000 --groups 10000

or, with ``--parts``, a directory of Parquet files for the out-of-core fits,
written part by part (the rows never all in memory; each part drawn from its
own seed, the groups' effects shared)::

    python benchmarks/simulate.py /tmp/sim100m --rows 100000000 --groups 100000 --parts 100
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

SEED = 20240601
FORMULA = "y ~ x1 + x2 + x3 + x4 + x5 + (1 + x1 | g)"
#: the logistic model of the same data (``yb = y > 1``, a column of the Parquet parts)
GLMM_FORMULA = "yb ~ x1 + x2 + x3 + x4 + x5 + (1 + x1 | g)"
BETA = np.array([1.0, 0.5, -0.3, 0.2, 0.0, 0.1])
RE_SD = np.array([1.0, 0.5])
RE_CORR = 0.3
SIGMA = 1.0


def simulate(rows: int = 1_000_000, groups: int = 10_000, seed: int = SEED) -> pd.DataFrame:
    """Data for ``y ~ x1 + x2 + x3 + x4 + x5 + (1 + x1 | g)``.

    Examples
    --------
    >>> df = simulate(rows=1000, groups=20)
    >>> df.shape, df["g"].nunique()
    ((1000, 7), 20)
    >>> bool((simulate(rows=1000, groups=20) == df).all().all())
    True
    """
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal((rows, 5)), 6)
    g = rng.integers(0, groups, size=rows)
    g[:groups] = np.arange(groups)  # every group appears at least once
    cov = np.array([[RE_SD[0] ** 2, RE_CORR * RE_SD[0] * RE_SD[1]],
                    [RE_CORR * RE_SD[0] * RE_SD[1], RE_SD[1] ** 2]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=groups)
    y = BETA[0] + x @ BETA[1:] + b[g, 0] + b[g, 1] * x[:, 0] + SIGMA * rng.standard_normal(rows)
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(1, 6)])
    df.insert(0, "y", np.round(y, 6))
    df["g"] = g + 1  # group ids 1..groups, as integers
    return df


#: users x items: two crossed factors with many levels each (``write_crossed_parts``)
CROSSED_FORMULA = "y ~ x1 + x2 + (1 | u) + (1 | i)"
#: the SDs of the users' and the items' effects, and the items' popularity exponent
CROSSED_SD = (0.7, 0.5)
POPULARITY = 0.8


def write_crossed_parts(path: str, rows: int, users: int, items: int, parts: int,
                        seed: int = SEED) -> list[str]:
    """Ratings of ``users`` x ``items`` (MovieLens-like) as ``parts`` Parquet files:
    ``y = 3 + 0.2 x1 - 0.1 x2 + b_u + c_i + e``, users drawn uniformly, items with
    probability proportional to ``rank^-0.8`` (a few popular items, a long tail), so
    the items' co-occurrence is dense; every user and item appears in part 0.

    Examples
    --------
    >>> import tempfile
    >>> files = write_crossed_parts(tempfile.mkdtemp(), rows=1000, users=50, items=20, parts=2)
    >>> both = pd.concat([pd.read_parquet(f) for f in files])
    >>> len(both), both["u"].nunique(), both["i"].nunique()
    (1000, 50, 20)
    """
    import os

    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    bu = rng.standard_normal(users) * CROSSED_SD[0]
    bi = rng.standard_normal(items) * CROSSED_SD[1]
    popular = 1.0 / np.arange(1, items + 1) ** POPULARITY
    popular /= popular.sum()
    sizes = np.sort(np.diff(np.linspace(0, rows, parts + 1).round().astype(np.int64)))[::-1]
    files, start = [], 0
    for k, m in enumerate(sizes):
        r = np.random.default_rng([seed, k])
        u = r.integers(0, users, size=m)
        i = r.choice(items, size=m, p=popular)
        if k == 0:
            u[:min(users, m)] = np.arange(min(users, m))
            i[:min(items, m)] = np.arange(min(items, m))
        x = np.round(r.standard_normal((m, 2)), 6)
        y = 3.0 + 0.2 * x[:, 0] - 0.1 * x[:, 1] + bu[u] + bi[i] + r.standard_normal(m)
        df = pd.DataFrame({"y": np.round(y, 6), "x1": x[:, 0], "x2": x[:, 1],
                           "u": (u + 1).astype(np.int64), "i": (i + 1).astype(np.int64)})
        files.append(_write_part(path, k, df, start))
        start += m
    return files


def write_parts(path: str, rows: int, groups: int, parts: int, seed: int = SEED) -> list[str]:
    """Write the model's data as ``parts`` Parquet files ``part.<i>.parquet`` in ``path``.

    Part ``i`` is drawn from its own generator (seeded by ``seed`` and ``i``)
    with the groups' effects of ``seed``; every group appears in part 0. A
    0/1 column ``yb = (y > 1)`` is the response of the logistic benchmark
    (``GLMM_FORMULA``).

    Examples
    --------
    >>> import tempfile
    >>> files = write_parts(tempfile.mkdtemp(), rows=1000, groups=20, parts=3)
    >>> [len(pd.read_parquet(f)) for f in files]
    [334, 333, 333]
    """
    import os

    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(seed)
    cov = np.array([[RE_SD[0] ** 2, RE_CORR * RE_SD[0] * RE_SD[1]],
                    [RE_CORR * RE_SD[0] * RE_SD[1], RE_SD[1] ** 2]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=groups)
    sizes = np.diff(np.linspace(0, rows, parts + 1).round().astype(np.int64))
    sizes = np.sort(sizes)[::-1]
    files, start = [], 0
    for i, m in enumerate(sizes):
        r = np.random.default_rng([seed, i])
        x = np.round(r.standard_normal((m, 5)), 6)
        g = r.integers(0, groups, size=m)
        if i == 0:
            g[:min(groups, m)] = np.arange(min(groups, m))
        y = BETA[0] + x @ BETA[1:] + b[g, 0] + b[g, 1] * x[:, 0] + SIGMA * r.standard_normal(m)
        df = pd.DataFrame(x, columns=[f"x{j}" for j in range(1, 6)])
        df.insert(0, "y", np.round(y, 6))
        df["g"] = (g + 1).astype(np.int64)
        df["yb"] = (df["y"] > 1.0).astype(np.int8)
        files.append(_write_part(path, i, df, start))
        start += m
    return files


def _write_part(path: str, i: int, df: pd.DataFrame, start: int) -> str:
    """Write part ``i`` (its rows numbered from ``start``) as ``part.<i>.parquet``; its path."""
    import os

    df.index = pd.RangeIndex(start, start + len(df))
    f = os.path.join(path, f"part.{i}.parquet")
    df.to_parquet(f)
    return f


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", help="CSV file to write (a directory with --parts)")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--groups", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--parts", type=int, default=0,
                   help="write this many Parquet files into the directory PATH instead of one CSV")
    args = p.parse_args(argv)
    if args.parts:
        write_parts(args.path, args.rows, args.groups, args.parts, args.seed)
        return 0
    simulate(args.rows, args.groups, args.seed).to_csv(args.path, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
