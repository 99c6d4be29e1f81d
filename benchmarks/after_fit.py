"""Side-by-side timing of the after-the-fit tools: multilevel vs lme4 / lmerTest / pbkrtest.

* leave-one-group-out influence on Gcsemv (73 schools): ``fit.influence("school")``
  against ``influence.merMod``;
* one point of a power curve, 1,000 simulations of sleepstudy's random-slope model
  with Satterthwaite t tests of Days: ``ml.power`` against the loop simr runs
  (``simulate``, refit, lmerTest's test; simr itself is not packaged for Debian);
* the parametric bootstrap test of Days, 1,000 simulations: ``ml.pbtest``
  against pbkrtest's ``PBmodcomp``.

R runs once per task (``benchmarks/after_fit_time.R``), ours is the median of
``--repeat`` runs. Usage: ``python benchmarks/after_fit.py [--nsim 1000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import multilevel as ml

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from busy import median_time  # noqa: E402  (benchmarks/busy.py: warm-up, then the median)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "multilevel" / "datasets" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsim", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    gcse = ml.lmer("course ~ 1 + female + (1 | school)", ml.datasets.load("gcsemv"))
    sleep = ml.datasets.load("sleepstudy")
    slope = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    m0 = ml.lmer("Reaction ~ 1 + (Days | Subject)", sleep, reml=False)
    m3 = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep, reml=False)
    ours = {
        "influence": median_time(lambda: gcse.influence("school"), args.repeat),
        "power": median_time(lambda: ml.power(slope, "Days", nsim=args.nsim, seed=1), args.repeat),
        "pbtest": median_time(lambda: ml.pbtest(m0, m3, nsim=args.nsim, seed=1), args.repeat),
    }
    theirs = {}
    if shutil.which("Rscript"):
        out = subprocess.run(["Rscript", str(ROOT / "benchmarks" / "after_fit_time.R"), str(DATA),
                              str(args.nsim)], capture_output=True, text=True, cwd=ROOT, check=False)
        if out.returncode == 0:
            theirs = json.loads(out.stdout.strip().splitlines()[-1])
    labels = {"influence": "leave-one-school-out influence, Gcsemv (73 refits)",
              "power": f"power, sleepstudy random slope ({args.nsim} simulations, t tests)",
              "pbtest": f"parametric bootstrap LRT, sleepstudy ({args.nsim} simulations)"}
    print("| task | multilevel s | R s | R / multilevel |")
    print("|---|---|---|---|")
    for key, label in labels.items():
        r = theirs.get(key)
        ratio = f"{r / ours[key]:.0f}x" if r else "—"
        print(f"| {label} | {ours[key]:.3f} | {'—' if r is None else f'{r:.2f}'} | {ratio} |")


if __name__ == "__main__":
    main()
