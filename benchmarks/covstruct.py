"""Side-by-side timing of structured random-effects covariances (cs, hcs, ar1, diag,
us): ``ml.lmer`` / ``ml.glmer`` against the reference fits of
tests/reference/covstruct.R (glmmTMB 1.1.5, or nlme's ``lme`` with ``pdCompSymm``
for a homogeneous compound symmetry, which glmmTMB 1.1.5 does not have).

Each side: the median of ``--repeat`` whole calls after a warm-up call (R: the
same, in one R process, ``benchmarks/covstruct_time.R``).

Usage: ``python benchmarks/covstruct.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (HERE, ROOT / "tests" / "lmm"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from busy import median_time  # noqa: E402  (benchmarks/busy.py: warm-up, then the median)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    from test_covariance_structures import CASES, _fit  # the reference models and how they are fitted

    ours = {key: median_time(lambda m=m: _fit(m), args.repeat) for key, m in CASES.items()}
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
    for key, m in CASES.items():
        a, b = ours[key], theirs.get(key)
        ratio = f"{b / a:.1f}x" if b else "-"
        print(f"| {key} | `{m['formula']}` | {a:.4f} | {m['reference']} | "
              f"{b if b else float('nan'):.4f} | {ratio} |")


if __name__ == "__main__":
    main()
