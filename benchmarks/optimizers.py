"""Compare derivative-free optimizers on the profiled criterion of reference models.

For each model the same objective (``multilevel.lmm.LmmObjective``) is minimised
from the same start by NLopt's BOBYQA (the default, as lme4's ``nloptwrap``),
scipy's COBYQA, NLopt's bounded Nelder-Mead and, when installed, Py-BOBYQA.
Printed: evaluations, seconds and the criterion reached relative to the best.

Usage: ``python benchmarks/optimizers.py``
"""

from __future__ import annotations

import time

import numpy as np

import multilevel as ml
from multilevel.design import build_design
from multilevel.lmm import LmmObjective, minimize_theta
from multilevel.lmm.start import moment_start

MODELS = [
    ("sleepstudy", "Reaction ~ 1 + Days + (1 + Days | Subject)", True),
    ("gcsemv", "course ~ 1 + female + (1 + female | school)", False),
    ("leebryk", "math ~ 1 + mses + sector + ses + ses*mses + ses*sector + (1 + ses|schoolid)", True),
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", True),
    ("insteval", "y ~ 1 + service * dept + (1 | s) + (1 | d)", False),
]


def _pybobyqa(obj, x0, lower):
    try:
        import pybobyqa
    except ImportError:
        return None
    count = [0]

    def f(x):
        count[0] += 1
        return obj(x)

    t = time.perf_counter()
    res = pybobyqa.solve(f, x0, bounds=(lower, np.full(x0.size, 1e3)), rhoend=1e-8,
                         seek_global_minimum=False, objfun_has_noise=False)
    return count[0], time.perf_counter() - t, float(res.f)


def main() -> None:
    rows = []
    for name, formula, reml in MODELS:
        design = build_design(formula, ml.datasets.load(name))
        obj = LmmObjective.from_design(design, reml=reml)
        x0 = moment_start(design, obj.layout)
        lower = obj.layout.lower
        results = {}
        for opt in ("bobyqa", "cobyqa", "nelder-mead"):
            t = time.perf_counter()
            s = minimize_theta(obj, x0, lower, optimizer=opt)
            results[opt] = (s.feval, time.perf_counter() - t, s.fopt)
        pb = _pybobyqa(obj, x0, lower)
        if pb is not None:
            results["py-bobyqa"] = pb
        best = min(r[2] for r in results.values())
        for opt, (nfev, sec, f) in results.items():
            rows.append((name, opt, nfev, sec, f - best))
    print("| model | optimizer | evaluations | seconds | criterion - best |")
    print("|---|---|---|---|---|")
    for name, opt, nfev, sec, gap in rows:
        print(f"| {name} | {opt} | {nfev} | {sec:.3f} | {gap:.1e} |")


if __name__ == "__main__":
    main()
