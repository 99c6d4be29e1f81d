"""Side-by-side timing of generalized least squares and of structured terms that carry the
residual covariance: ``ml.gls`` against nlme's ``gls`` (corCompSymm, corAR1, corCAR1,
corSymm, varIdent) and ``ml.lmer(..., dispformula="~ 0")`` against glmmTMB's
``dispformula = ~ 0``, on the reference models of tests/reference/gls.R.

Each side: the median of ``--repeat`` whole calls after a warm-up call (R: the same,
in one R process, ``benchmarks/gls_time.R``).

Usage: ``python benchmarks/gls.py [--repeat 5]``
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
for p in (HERE, ROOT / "tests" / "regression"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from busy import median_time  # noqa: E402  (benchmarks/busy.py: warm-up, then the median)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import multilevel as ml
    from test_gls import CASES, reference_data  # (tests/regression: the reference models and data)

    ours, rows = {}, []
    for key, m in CASES.items():
        data = reference_data(m["dataset"])
        ours[key] = median_time(lambda m=m, data=data: ml.gls(m["formula"], data, residual=m["residual"],
                                                              dispformula=m["dispformula"] or None,
                                                              reml=m["reml"]), args.repeat)
        rows.append((key, f"gls `{m['formula']}`, {m['residual']}"
                     + (f", {m['dispformula']}" if m["dispformula"] else ""), "nlme gls"))
        if m.get("glmmtmb"):
            formula = m["glmmtmb"]["formula"].replace("+ cs(", "+ hcs(")
            ours["tmb-" + key] = median_time(lambda f=formula, data=data: ml.lmer(f, data, dispformula="~ 0",
                                                                                  reml=False), args.repeat)
            rows.append(("tmb-" + key, f"lmer `{formula}`, dispformula ~ 0", "glmmTMB"))
    theirs = {}
    if shutil.which("Rscript"):
        out = subprocess.run(["Rscript", str(HERE / "gls_time.R"), str(args.repeat)], cwd=ROOT,
                             capture_output=True, text=True, check=False)
        if out.returncode == 0:
            theirs = json.loads(out.stdout.strip().splitlines()[-1])
        else:
            print(out.stderr, file=sys.stderr)
    print("| model | reference | multilevel s | reference s | reference / multilevel |")
    print("|---|---|---|---|---|")
    for key, text, ref in rows:
        t = theirs.get(key)
        ratio = f"{t / ours[key]:.1f}x" if t else "—"
        shown = "—" if t is None else f"{t:.4f}"
        print(f"| {key}: {text} | {ref} | {ours[key]:.4f} | {shown} | {ratio} |")


if __name__ == "__main__":
    main()
