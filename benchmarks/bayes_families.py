"""Sampling efficiency of ``ml.bayes`` with the negative binomial, gamma, beta,
cumulative and zero-inflated families, against brms on the same models and priors.

Usage::

    python benchmarks/bayes_families.py                 # all six models
    python benchmarks/bayes_families.py sal_nb2 wine_cumulative
    python benchmarks/bayes_families.py --draws 200     # a smoke test

Each model (``tests/reference/brms_families.R``: Salamanders NB2, cake Gamma
with the log link, US seat belts beta, wine cumulative logit, Salamanders
zero-inflated Poisson and NB2, random intercepts, priors ``normal(0, 5)`` on
the Intercept or thresholds, ``normal(0, 2.5)`` on b, ``half_normal(2)`` on
the SDs, ``gamma(0.01, 0.01)`` on shape and phi, ``logistic(0, 1)`` and
``normal(0, 2.5)`` on the zero-inflation intercept and coefficients) is fitted twice in this process by ``ml.bayes`` with 4
chains of 1,000 draws after 1,000 warmup (the default call): the first call
compiles (or loads the compiled sampler from JAX's disk cache), the second
reuses it; the figures are the second call's. "min ESS/s" is the minimum bulk
ESS over ``post.draws`` (fixed effects, thresholds, SD, shape or phi) per
second of the whole call.

The brms figures come from the reference run of ``tests/reference/
brms_families.R`` on this machine (``tests/reference/brms_families.json``:
4 chains of 10,000 draws after 2,000 warmup, two chains at a time on 2
cores): its minimum bulk ESS over the same parameters per second of
sampling wall time (the chains' summed sampling seconds over 2), which leaves
out brms's 52-63 s of compiling each model: the ratio favours brms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "brms_families.json").read_text())
if str(ROOT / "tests" / "reference") not in sys.path:  # the reference models' one definition
    sys.path.insert(0, str(ROOT / "tests" / "reference"))
from brms_families_models import MODELS as CALLS, arguments  # noqa: E402


def run(model_id: str, draws: int) -> dict:
    import multilevel as ml
    from multilevel.bayes.diagnostics import ess_bulk

    formula, data, _ = CALLS[model_id]
    frame = ml.datasets.load(data)
    kw = dict(arguments(model_id), chains=4, draws=draws, warmup=draws, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ml.bayes(formula, frame, seed=1, **kw)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        post = ml.bayes(formula, frame, seed=2, **kw)
        second = time.perf_counter() - t0
    ess = {n: float(ess_bulk(post.draws[n])) for n in post.draws}
    lo = min(ess, key=ess.get)
    ref = next(m for m in REF["models"] if m["id"] == model_id)
    ref_ess = min(p["ess_bulk"] for p in ref["parameters"].values())
    ref_wall = ref["seconds"]["sampling"] / 2
    return {"id": model_id, "first_s": first, "second_s": second, "min_ess": ess[lo], "min_ess_parameter": lo,
            "ess_per_s": ess[lo] / second, "divergences": int(post.stats["diverging"].sum()),
            "brms_ess_per_s": ref_ess / ref_wall, "brms_compile_s": ref["seconds"]["compile"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help=f"any of {', '.join(CALLS)} (default: all)")
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args(argv)
    unknown = [m for m in args.models if m not in CALLS]
    if unknown:
        ap.error(f"unknown model {unknown[0]!r}; choose from {', '.join(CALLS)}")
    rows = [run(m, args.draws) for m in (args.models or list(CALLS))]
    print(f"Command: python benchmarks/bayes_families.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    print("| model | first call (s) | second call (s) | min bulk ESS | min ESS/s | brms min ESS/s "
          "(sampling only) | ratio | divergences |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['id']} | {r['first_s']:.1f} | {r['second_s']:.1f} | {r['min_ess']:.0f} "
              f"({r['min_ess_parameter']}) | {r['ess_per_s']:.0f} | {r['brms_ess_per_s']:.0f} | "
              f"{r['ess_per_s'] / r['brms_ess_per_s']:.1f}x | {r['divergences']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
