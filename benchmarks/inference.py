"""Side-by-side timing of t and F tests: multilevel vs lmerTest (and pbkrtest).

For each model, multilevel's coefficient table and type III ANOVA are timed
after the fit, including the derivative step (Satterthwaite: Hessian of the
deviance over (theta, sigma) and Jacobian of vcov(beta); Kenward-Roger: the
adjusted covariance), against lmerTest's ``as_lmerModLmerTest`` (the same
derivatives) plus ``summary`` and ``anova``, and their Kenward-Roger versions
(pbkrtest); and profile-likelihood intervals against lme4's
``confint(method = "profile")``. R is run through ``Rscript`` when lmerTest is
available.

Usage: ``python benchmarks/inference.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import time
import warnings
from pathlib import Path

import multilevel as ml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "multilevel" / "datasets" / "data"
MODELS = [
    ("leebryk", "math ~ 1 + mses + sector + ses + ses*mses + ses*sector + (1 + ses|schoolid)", True),
    ("leebryk", "math ~ 1 + mses + sector + (1|schoolid)", True),
    ("sleepstudy", "Reaction ~ 1 + Days + (1 + Days | Subject)", True),
    ("anorexia", "weight ~ time * treatment + (1 | girl)", True),
]


def _ours(name: str, formula: str, reml: bool, repeat: int, what: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer(formula, ml.datasets.load(name), reml=reml)
        times = []
        for _ in range(repeat + 1):
            fresh = fit.refit(start=fit.theta.to_numpy())  # a result without cached derivatives
            t = time.perf_counter()
            if what == "profile":
                fresh.confint(method="profile")
            else:
                fresh.coef_table(what)
                fresh.anova(ddf=what)
            times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def _lmertest(name: str, formula: str, reml: bool, repeat: int) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    out = subprocess.run(
        ["Rscript", str(ROOT / "benchmarks" / "lmertest_time.R"), str(DATA / f"{name}.csv"),
         str(DATA / f"{name}.json"), formula, "TRUE" if reml else "FALSE", str(repeat)],
        capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("| model | task | multilevel s | R s | R / multilevel |")
    print("|---|---|---|---|---|")
    for name, formula, reml in MODELS:
        r = _lmertest(name, formula, reml, args.repeat)
        for ddf, key in (("satterthwaite", "satterthwaite"), ("kenward-roger", "kenward_roger"),
                         ("profile", "profile")):
            ours = _ours(name, formula, reml, args.repeat, ddf)
            theirs = r[key] if r and r.get(key) is not None else float("nan")
            ratio = f"{theirs / ours:.0f}x" if r else "—"
            print(f"| {name}: `{formula}` | {ddf} | {ours:.4f} | {theirs:.3f} | {ratio} |")


if __name__ == "__main__":
    main()
