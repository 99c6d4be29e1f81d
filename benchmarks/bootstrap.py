"""A parametric bootstrap of sleepstudy, side by side: multilevel, mixedlm and lme4.

Usage::

    python benchmarks/bootstrap.py [--nsim 1000]

Times, in one run, ``ml.bootstrap(fit, nsim)`` (its default two worker
processes, and one), ``mixedlm.bootMer(model, nsim)`` (the ``bench`` extra;
one and two jobs) and, when ``Rscript`` with lme4 is on the PATH,
``lme4::bootMer`` (``benchmarks/bootmer_time.R``; one core). Each refits
``Reaction ~ 1 + Days + (1 + Days | Subject)`` by REML to ``nsim`` simulated
responses; the first fit is not timed. Prints a markdown table of seconds
and refits per second.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from run import bundled_paths, r_available  # noqa: E402  (benchmarks/run.py)

FORMULA = "Reaction ~ 1 + Days + (1 + Days | Subject)"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nsim", type=int, default=1000)
    args = ap.parse_args(argv)
    import multilevel as ml

    warnings.simplefilter("ignore")
    data = ml.datasets.load("sleepstudy")
    fit = ml.lmer(FORMULA, data)
    ml.bootstrap(fit, nsim=20, seed=0, n_jobs=1)  # warm-up
    rows = []
    for jobs in (2, 1):
        t0 = time.perf_counter()
        b = ml.bootstrap(fit, nsim=args.nsim, seed=1, n_jobs=jobs)
        rows.append((f"multilevel ml.bootstrap, n_jobs={jobs}", time.perf_counter() - t0, b.n_failed))
    try:
        import mixedlm
    except ImportError:
        mixedlm = None
    if mixedlm is not None:
        model = mixedlm.lmer(FORMULA, data, REML=True)
        mixedlm.bootMer(model, nsim=20, seed=0)
        for jobs in (2, 1):
            t0 = time.perf_counter()
            mixedlm.bootMer(model, nsim=args.nsim, seed=1, n_jobs=jobs)
            rows.append((f"mixedlm {mixedlm.__version__} bootMer, n_jobs={jobs}",
                         time.perf_counter() - t0, None))
    if r_available():
        csv, side = bundled_paths("sleepstudy")
        proc = subprocess.run(["Rscript", str(HERE / "bootmer_time.R"), str(csv), FORMULA, "TRUE",
                               str(args.nsim), str(side)], capture_output=True, text=True)
        if proc.returncode == 0:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append((f"lme4 {out['lme4_version']} bootMer (one core)", float(out["seconds"]), None))
        else:
            rows.append(("lme4 bootMer failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1], None, None))
    ours = rows[0][1]
    print(f"sleepstudy {FORMULA}, REML: {args.nsim} parametric bootstrap refits; first fit not timed")
    print()
    print("| run | seconds | refits / s | seconds / multilevel (2 jobs) |")
    print("|---|---|---|---|")
    for name, secs, failed in rows:
        if secs is None:
            print(f"| {name} | — | — | — |")
            continue
        extra = f" ({failed} failed)" if failed else ""
        print(f"| {name}{extra} | {secs:.3g} | {args.nsim / secs:,.0f} | {secs / ours:.1f}x |")


if __name__ == "__main__":
    main()
