"""Generate the simulated Rasch data set ``rasch5`` (CSV + JSON sidecar).

Five dichotomous items ``a`` .. ``e`` answered by 20,000 persons, in the shape
of the five GSS vocabulary items of the multilevel logistic regression / Rasch
example::

    y_ij ~ Bernoulli(1 / (1 + exp(-(theta_j - b_i))))
    theta_j ~ N(0, tau^2)

with person ``j`` = 1 .. 20000 and item ``i`` in ``a`` .. ``e``.  As a
multilevel logistic regression this is ``y ~ 0 + item + (1 | person)`` with
item coefficients ``gamma_i = -b_i`` (item "easiness") and random-intercept
standard deviation ``tau``.

The generating values are the constants below.  The easiness values are close
to the starting values ``ba = 2, bb = 3, bc = -1.5, bd = 3, be = 2`` of the
JAGS run on the real items (mostly easy items, one hard one), made distinct so
that every item has its own difficulty; ``tau = 1.5`` is a typical spread of
person ability on the logit scale.

Regenerate the bundled files (bit-for-bit, for a given NumPy bit generator)
with::

    python -m multilevel.datasets.generate_rasch

The CSV has one row per person and item, ordered by person then item, with
columns ``person`` (integer 1..20000), ``item`` (a..e) and ``y`` (0/1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

NAME = "rasch5"
SEED = 20_250_521
N_PERSONS = 20_000
ITEMS = ("a", "b", "c", "d", "e")
# Item difficulties b_i (the item coefficient of y ~ 0 + item is -b_i).
DIFFICULTY = {"a": -2.0, "b": -3.0, "c": 1.5, "d": -2.8, "e": -1.8}
# Standard deviation of person ability theta_j.
TAU = 1.5

COMMAND = "python -m multilevel.datasets.generate_rasch"


def simulate(n_persons: int = N_PERSONS, seed: int = SEED) -> tuple[pd.DataFrame, np.ndarray]:
    """Simulate the long-format responses and return them with the abilities.

    Draws, from ``numpy.random.default_rng(seed)``, first the ``n_persons``
    abilities ``theta = TAU * standard_normal(n_persons)`` and then a
    ``(n_persons, 5)`` array of uniforms ``u``; ``y = u < expit(theta - b)``.

    Examples
    --------
    >>> df, theta = simulate(n_persons=3)
    >>> df.shape, theta.shape
    ((15, 3), (3,))
    >>> list(df.columns), list(df["item"].cat.categories)
    (['person', 'item', 'y'], ['a', 'b', 'c', 'd', 'e'])
    """
    rng = np.random.default_rng(seed)
    b = np.array([DIFFICULTY[i] for i in ITEMS])
    theta = TAU * rng.standard_normal(n_persons)
    u = rng.random((n_persons, len(ITEMS)))
    p = 1.0 / (1.0 + np.exp(-(theta[:, None] - b[None, :])))
    y = (u < p).astype(np.int64)
    df = pd.DataFrame(
        {
            "person": np.repeat(np.arange(1, n_persons + 1, dtype=np.int64), len(ITEMS)),
            "item": pd.Categorical(np.tile(np.array(ITEMS), n_persons), categories=list(ITEMS)),
            "y": y.ravel(),
        }
    )
    return df, theta


def sidecar(df: pd.DataFrame, theta: np.ndarray, seed: int = SEED) -> dict:
    """The JSON sidecar describing the simulated data and how it was made."""
    n_persons = len(theta)
    prop = df.groupby("item", observed=True)["y"].mean()
    return {
        "name": NAME,
        "title": f"Simulated Rasch data: {len(ITEMS)} dichotomous items answered by {n_persons} persons",
        "source": (
            "Simulated (not real data) by src/multilevel/datasets/generate_rasch.py, in the shape "
            "of the five GSS vocabulary items analysed as a multilevel logistic regression / Rasch "
            "model in the Bayesian multilevel course notes (JAGS)"
        ),
        "description": (
            f"SIMULATED data. {n_persons} persons each answer {len(ITEMS)} dichotomous items a..e; "
            "long format, one row per person and item, ordered by person then item. Generating "
            "model: y ~ Bernoulli(1 / (1 + exp(-(theta_person - b_item)))), theta_person ~ "
            f"N(0, {TAU}^2) independently, with the item difficulties b listed under "
            "'generating_values'. As a GLMM: y ~ 0 + item + (1 | person), family binomial, whose "
            "item coefficients estimate -b and whose random-effect standard deviation estimates "
            f"tau = {TAU}. Regenerate with: {COMMAND}"
        ),
        "nrow": int(len(df)),
        "columns": {
            "person": f"Person number, 1..{n_persons} (grouping factor of the random intercept)",
            "item": "Item (factor, levels a, b, c, d, e)",
            "y": "Response: 1 = correct, 0 = incorrect",
        },
        "categories": {"item": list(ITEMS)},
        "ordered": [],
        "simulated": True,
        "generating_values": {
            "model": "y ~ Bernoulli(plogis(theta_person - b_item)), theta_person ~ N(0, tau^2)",
            "n_persons": n_persons,
            "items": list(ITEMS),
            "item_difficulty_b": dict(DIFFICULTY),
            "item_easiness_gamma": {i: -v for i, v in DIFFICULTY.items()},
            "tau": TAU,
            "tau_squared": TAU**2,
        },
        "generator": {
            "command": COMMAND,
            "script": "src/multilevel/datasets/generate_rasch.py",
            "seed": seed,
            "rng": "numpy.random.default_rng(seed) (PCG64): theta = tau * standard_normal(n_persons), "
            "then u = random((n_persons, 5)), y = u < plogis(theta - b)",
            "numpy_version": np.__version__,
        },
        "sample_summary": {
            "theta_mean": float(theta.mean()),
            "theta_sd": float(theta.std(ddof=1)),
            "proportion_correct": {str(k): float(v) for k, v in prop.items()},
        },
    }


def write(out_dir: Path, n_persons: int = N_PERSONS, seed: int = SEED) -> tuple[Path, Path]:
    """Simulate and write ``rasch5.csv`` and ``rasch5.json`` into ``out_dir``."""
    df, theta = simulate(n_persons, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{NAME}.csv"
    json_path = out_dir / f"{NAME}.json"
    # Integers and one-letter item codes only: a small, exact file.
    df.to_csv(csv_path, index=False, lineterminator="\n")
    meta = sidecar(df, theta, seed)
    json_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return csv_path, json_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).resolve().parent / "data",
        help="directory to write rasch5.csv and rasch5.json into (default: the bundled data directory)",
    )
    args = parser.parse_args(argv)
    for path in write(args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
