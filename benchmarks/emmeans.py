"""Side-by-side timing of estimated marginal means: multilevel vs R's emmeans.

For each model, ``ml.emmeans(fit, spec)`` with its table and the Tukey-adjusted
pairs are timed from a fresh fit (so Kenward-Roger's adjusted covariance or
Satterthwaite's derivatives are computed inside the timing, as they are in R),
against ``emmeans(m, spec)``, ``summary`` and ``summary(pairs(...))`` in R
(``benchmarks/emmeans_time.R``, run through ``Rscript`` when emmeans is there).

Usage: ``python benchmarks/emmeans.py [--repeat N]``
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
    ("exam", "normexam ~ standLRT + sex + schgend + vr + (1 | school)", "lmer", "schgend",
     "kenward-roger"),
    ("exam", "normexam ~ standLRT + sex + schgend + vr + (1 | school)", "lmer", "schgend",
     "satterthwaite"),
    ("anorexia", "weight ~ time * treatment + (1 | girl)", "lmer", "treatment", "kenward-roger"),
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", "lmer", "Days", "kenward-roger"),
    ("cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "glmer",
     "period;binomial", "asymptotic"),
]


def _ours(name, formula, route, spec, df, repeat) -> float:
    spec, *family = spec.split(";")
    data = ml.datasets.load(name)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeat + 1):
            fit = (ml.lmer(formula, data) if route == "lmer"
                   else ml.glmer(formula, data, family=family[0]))
            t = time.perf_counter()
            emm = ml.emmeans(fit, spec, df=df if route == "lmer" else None)
            emm.pairs()
            times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def _r(name, formula, route, spec, df, repeat) -> float | None:
    if shutil.which("Rscript") is None:
        return None
    out = subprocess.run(
        ["Rscript", str(ROOT / "benchmarks" / "emmeans_time.R"), str(DATA / f"{name}.csv"),
         str(DATA / f"{name}.json"), formula, route, spec, df, str(repeat)],
        capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("| model | means of | df | multilevel s | R emmeans s | R / multilevel |")
    print("|---|---|---|---|---|---|")
    for name, formula, route, spec, df in MODELS:
        ours = _ours(name, formula, route, spec, df, args.repeat)
        theirs = _r(name, formula, route, spec, df, args.repeat)
        ratio = f"{theirs / ours:.0f}x" if theirs else "—"
        shown = "—" if theirs is None else f"{theirs:.3f}"
        print(f"| {name}: `{formula}` | {spec.split(';')[0]} | {df} | {ours:.4f} | {shown} | {ratio} |")


if __name__ == "__main__":
    main()
