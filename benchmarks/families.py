"""Side-by-side timing of the new families' Laplace fits: multilevel vs glmmTMB and ordinal::clmm.

The reference models of tests/reference/glmmtmb_families.R (negative binomial
NB2 and NB1, Gamma, beta), a simulated NB2 model of 100,000 rows in 2,000
groups (``y ~ x + (1 | g)``, theta = 2, seed 1), zero-inflated Poisson and
NB2 models of Salamanders (``zi = ~ spp + mined``), and the clmm fits of
ordinal's wine and soup data (``ml.clmm`` against ``ordinal::clmm``). Each
side: the median of ``--repeat`` whole calls after a warm-up call, at least 31
for a fit under 0.05 s (R: the same, in one R process, ``benchmarks/families_time.R``).

Usage: ``python benchmarks/families.py [--repeat 5] [--no-large]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from busy import median_time  # noqa: E402  (benchmarks/busy.py: warm-up, then the median)

ROOT = Path(__file__).resolve().parents[1]
SMALL_FIT, SMALL_REPEAT = 0.05, 31  # (as benchmarks/families_time.R)
FAMILY = {"nbinom2": "negative_binomial", "nbinom1": "nbinom1", "Gamma": "gamma", "beta": "beta",
          "gaussian": "gaussian", "poisson": "poisson", "betabinomial": "betabinomial"}
CASES = [
    ("sal_nb2", "salamanders", "count ~ spp + mined + (1 | site)", "nbinom2", "log"),
    ("sal_nb1", "salamanders", "count ~ spp + mined + (1 | site)", "nbinom1", "log"),
    ("owls_nb2", "owls", "SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBroodSize) + (1 | Nest)",
     "nbinom2", "log"),
    ("owls_nb1", "owls", "SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBroodSize) + (1 | Nest)",
     "nbinom1", "log"),
    ("ticks_nb2", "grouseticks", "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", "nbinom2", "log"),
    ("cake_gamma_log", "cake", "angle ~ recipe + temp + (1 | recipe:replicate)", "Gamma", "log"),
    ("sleep_gamma_slope", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "Gamma", "log"),
    ("seatbelt_beta", "seatbelts", "seatbelt ~ enforce + speed65 + drinkage + (1 | state)", "beta", "logit"),
    ("cbpp_betabinomial", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "betabinomial", "logit"),
    ("sim_betabinomial", str(ROOT / "tests" / "reference" / "data" / "betabinomial_sim.csv"),
     "cbind(k, m - k) ~ x + (1 | g)", "betabinomial", "logit"),
    ("sal_zip", "salamanders", "count ~ spp + mined + (1 | site) | ~ spp + mined", "zipoisson", "log"),
    ("sal_zinb2", "salamanders", "count ~ spp + mined + (1 | site) | ~ spp + mined", "zinbinom2", "log"),
    ("wine_clmm", "wine", "rating ~ temp + contact + (1 | judge)", "clmm", "logit"),
    ("soup_clmm", "soup", "SURENESS ~ PROD + (1 | RESP)", "clmm", "probit"),
]


def simulated_nb2(n: int = 100_000, groups: int = 2_000, seed: int = 1) -> pd.DataFrame:
    """``y ~ 1 + 0.5 x + b_g``, b_g ~ N(0, 0.5^2), NB2 with theta = 2."""
    rng = np.random.default_rng(seed)
    g = rng.integers(groups, size=n)
    x = rng.standard_normal(n)
    mu = np.exp(1.0 + 0.5 * x + 0.5 * rng.standard_normal(groups)[g])
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu))
    return pd.DataFrame({"y": y, "x": x, "g": pd.Categorical(g)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-large", action="store_true", help="skip the 100,000-row model")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    cases = [dict(id=c[0], dataset=c[1], formula=c[2], family=c[3], link=c[4]) for c in CASES]
    with tempfile.TemporaryDirectory() as tmp:
        frames = {c["dataset"]: pd.read_csv(c["dataset"]).astype({"g": str}) if c["dataset"].endswith(".csv")
                  else ml.datasets.load(c["dataset"]) for c in cases}
        if not args.no_large:
            path = str(Path(tmp) / "nb2_large.csv")
            big = simulated_nb2()
            big.to_csv(path, index=False)
            frames[path] = big
            cases.append(dict(id="nb2_100k", dataset=path, formula="y ~ x + (1 | g)", family="nbinom2", link="log"))
        def repeats(fn):
            # a fit under 0.05 s is timed at least 31 times (a median of 7 such calls moved by 30% from
            # run to run); the R side does the same
            t0 = time.perf_counter()
            fn()
            return max(args.repeat, SMALL_REPEAT) if time.perf_counter() - t0 < SMALL_FIT else args.repeat

        def fit(c):
            if c["family"] == "clmm":
                return ml.clmm(c["formula"], frames[c["dataset"]], link=c["link"])
            if c["family"].startswith("zi"):  # "formula | ~ zero-inflation model"
                f, zi = c["formula"].split(" | ~ ")
                return ml.glmer(f, frames[c["dataset"]], family=FAMILY[c["family"][2:]], link=c["link"],
                                zi="~ " + zi)
            return ml.glmer(c["formula"], frames[c["dataset"]], family=FAMILY[c["family"]], link=c["link"])

        ours = {c["id"]: median_time(lambda c=c: fit(c), 1 if c["id"] == "nb2_100k" else repeats(lambda c=c: fit(c)))
                for c in cases}
        theirs = {}
        if shutil.which("Rscript"):
            spec = Path(tmp) / "cases.json"
            spec.write_text(json.dumps(cases))
            out = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "families_time.R"), str(spec),
                                  str(args.repeat)], capture_output=True, text=True, cwd=ROOT)
            if out.returncode == 0:
                theirs = json.loads(out.stdout.strip().splitlines()[-1])
            else:
                print("glmmTMB timing failed:", out.stderr.strip().splitlines()[-1:])
    print(f"{'model':20s} {'multilevel':>11s} {'R':>9s} {'ratio':>7s}   (R: glmmTMB; clmm: ordinal::clmm)")
    for c in cases:
        a, b = ours[c["id"]], theirs.get(c["id"])
        ratio = f"{b / a:6.1f}x" if b else "      -"
        print(f"{c['id']:20s} {a:10.3f}s {b if b else float('nan'):8.3f}s {ratio}")


if __name__ == "__main__":
    main()
