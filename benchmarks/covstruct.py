"""Side-by-side timing of structured random-effects covariances (cs, hcs, ar1, diag,
us) and residual SD models: ``ml.lmer`` / ``ml.glmer`` against the reference
fits of tests/reference/covstruct.R (glmmTMB 1.1.5, or nlme's ``lme`` with
``pdCompSymm`` for a homogeneous compound symmetry, which glmmTMB 1.1.5 does
not have) and tests/reference/dispersion.R (nlme's ``lme`` with ``varIdent`` /
``varExp`` weights, and glmmTMB's ``dispformula``).

Each side: the median of ``--repeat`` whole calls after a warm-up call, at least
31 for a fit under 0.05 s (R: the same, in one R process, ``benchmarks/covstruct_time.R``).

Usage: ``python benchmarks/covstruct.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (HERE, ROOT / "tests" / "lmm"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from busy import median_time  # noqa: E402  (benchmarks/busy.py: warm-up, then the median)

SMALL_FIT, SMALL_REPEAT = 0.05, 31  # (as benchmarks/covstruct_time.R)


def timed(fn, repeat: int) -> float:
    """The median of ``repeat`` calls after a warm-up, at least 31 for a fit under 0.05 s (a median
    of 7 such calls moves by 10-30% from run to run)."""
    t0 = time.perf_counter()
    fn()
    return median_time(fn, max(repeat, SMALL_REPEAT) if time.perf_counter() - t0 < SMALL_FIT else repeat)

DISPERSION = json.loads((ROOT / "tests" / "reference" / "dispersion.json").read_text())
CORRELATION = json.loads((ROOT / "tests" / "reference" / "correlation.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from test_covariance_structures import CASES, _fit  # the reference models and how they are fitted

    import multilevel as ml

    ours = {key: timed(lambda m=m: _fit(m), args.repeat) for key, m in CASES.items()}
    disp = {f"disp:{m['id']}-{'reml' if m['reml'] else 'ml'}": m for m in DISPERSION["models"]}
    for key, m in disp.items():
        data = ml.datasets.load("orthodont" if m["dataset"] == "orthodont" else "sleepstudy")
        ours[key] = timed(lambda m=m, data=data: ml.lmer(m["formula"], data, reml=m["reml"],
                                                         dispformula=m["dispformula"]), args.repeat)
    from test_residual_correlation import _data as corr_data  # (tests/lmm: the reference data)

    corr = {f"corr:{m['id']}-{'reml' if m['reml'] else 'ml'}": m for m in CORRELATION["models"]}
    for key, m in corr.items():
        data = corr_data(m["dataset"])
        ours[key] = timed(lambda m=m, data=data: ml.lmer(m["formula"], data, reml=m["reml"],
                                                         residual=m["residual"]), args.repeat)
    theirs = {}
    if shutil.which("Rscript"):
        out = subprocess.run(["Rscript", str(HERE / "covstruct_time.R"), str(args.repeat)],
                             capture_output=True, text=True, cwd=ROOT)
        if out.returncode == 0:
            theirs = json.loads(out.stdout.strip().splitlines()[-1])
        else:
            print("R timing failed:", out.stderr.strip().splitlines()[-1:])
    print(f"Command: python benchmarks/covstruct.py --repeat {args.repeat}")
    print("| model | formula | multilevel s | reference | reference s | ratio |")
    print("|---|---|---|---|---|---|")
    rows = [(key, m["formula"], m["reference"]) for key, m in CASES.items()]
    for key, m in disp.items():
        rows += [(key, f"{m['formula']}, dispformula={m['dispformula']}", "nlme"),
                 (key, f"{m['formula']}, dispformula={m['dispformula']}", "glmmTMB")]
    rows += [(key, f"{m['formula']}, residual={m['residual']}", "nlme") for key, m in corr.items()]
    for key, formula, reference in rows:
        a = ours[key]
        b = theirs.get(("tmb-" if key.startswith("disp:") and reference == "glmmTMB" else "") + key)
        ratio = f"{b / a:.1f}x" if b else "-"
        print(f"| {key} | `{formula}` | {a:.4f} | {reference} | {b if b else float('nan'):.4f} | {ratio} |")


if __name__ == "__main__":
    main()
