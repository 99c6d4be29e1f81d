"""Out-of-core fits: ``ml.lmer`` on Parquet files through a Dask cluster, side by side
with the same fit in memory.

Usage::

    python benchmarks/out_of_core.py --rows 10000000 --groups 100000 --parts 10
    python benchmarks/out_of_core.py --rows 100000000 --groups 100000 --parts 100 --no-memory

For each size the script writes the simulated data of ``simulate.py`` as
Parquet files (once, into ``--dir``; part by part, never all in memory), then
in fresh processes:

* **out of core**: ``ml.lmer(FORMULA, "<dir>/*.parquet", reml=False)`` with a
  ``distributed.LocalCluster`` of ``--workers`` worker processes (one thread
  each) on this machine, whose workers have imported multilevel (as the
  client has, in both columns): the whole call (reading the files, both
  passes, the optimisation, the result), the passes over the data, the
  client's peak resident memory and each worker's;
* **in memory** (unless ``--no-memory``): ``pandas.read_parquet`` of the same
  files, then ``ml.lmer`` of the frame; the call alone is timed, and the
  process's peak memory includes the frame.

It prints a markdown table and the difference of the two optima (ML deviance).

With ``--bayes`` both columns run ``ml.bayes(FORMULA, ..., chains=4,
draws=1000, warmup=1000, seed=1)`` instead (the collapsed sampler: on data in
parts it samples from the same summed cross-products), and the last column is
the largest difference of the two posterior means, in posterior SDs.

With ``--glmer`` both columns run ``ml.glmer(GLMM_FORMULA, ...)``, a logistic
model of ``yb = (y > 1)`` (a column ``simulate.write_parts`` writes), and
the last column is the difference of the two log-likelihoods.

With ``--crossed ITEMS`` the data are ``simulate.write_crossed_parts``'s ratings
of ``--groups`` users x ``ITEMS`` items and both columns fit
``CROSSED_FORMULA`` (``(1 | u) + (1 | i)``) by ML; the table adds the
evaluations of the criterion.

    python benchmarks/out_of_core.py --crossed 20000 --rows 2000000 --groups 100000 --parts 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

_OUT_OF_CORE = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, {here!r})
import multilevel as ml
from simulate import FORMULA, GLMM_FORMULA, CROSSED_FORMULA
from distributed import Client, LocalCluster

def peak():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
{summary}
if __name__ == "__main__":
    with LocalCluster(n_workers={workers}, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("multilevel"))   # the workers import it once, as the client did
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = {call}(FORMULA, {glob!r}, {kw})
        seconds = time.perf_counter() - t
        workers = list(client.run(peak).values())
    design = fit.model.design if hasattr(fit, "model") else fit.design
    print(json.dumps({{"seconds": seconds, "summary": summary(fit), "passes": design.passes,
                      "client_mb": peak(), "worker_mb": workers,
                      "evaluations": getattr(getattr(fit, "optinfo", None), "feval", None)}}))
"""

_IN_MEMORY = r"""
import json, resource, sys, time, warnings
sys.path.insert(0, {here!r})
import pandas as pd
import multilevel as ml
from simulate import FORMULA, GLMM_FORMULA, CROSSED_FORMULA
{summary}
df = pd.read_parquet({dir!r})
t = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    fit = {call}(FORMULA, df, {kw})
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": seconds, "summary": summary(fit),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                  "evaluations": getattr(getattr(fit, "optinfo", None), "feval", None)}}))
"""

#: what each column reports of its fit: the ML deviance, or the posterior means and SDs
_SUMMARY = {
    "lmer": "def summary(fit):\n    return fit.objective\n",
    "bayes": ("def summary(fit):\n    return {k: [float(v.mean()), float(v.std())] for k, v in fit.draws.items()}\n"),
    "glmer": "def summary(fit):\n    return fit.loglik\n",
}
_CALL = {"lmer": ("ml.lmer", "reml=False"),
         "bayes": ("ml.bayes", "chains=4, draws=1000, warmup=1000, seed=1, progress=False"),
         "glmer": ("ml.glmer", "family='binomial'")}


def _difference(kind: str, a, b) -> str:
    """The deviance difference, or the largest difference of posterior means in posterior SDs."""
    if kind in ("lmer", "glmer"):
        return f"{a - b:.1e}"
    return f"{max(abs(a[k][0] - b[k][0]) / b[k][1] for k in b):.2f} SD"


def _run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--groups", type=int, default=100_000)
    p.add_argument("--parts", type=int, nargs="+", default=None,
                   help="Parquet files per size (default: one per million rows)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dir", default="/tmp/multilevel_ooc")
    p.add_argument("--no-memory", action="store_true", help="skip the in-memory fit")
    p.add_argument("--bayes", action="store_true", help="ml.bayes (collapsed sampler) instead of ml.lmer")
    p.add_argument("--glmer", action="store_true", help="ml.glmer of a 0/1 response instead of ml.lmer")
    p.add_argument("--crossed", type=int, default=None, metavar="ITEMS",
                   help="users (--groups) x ITEMS crossed intercepts, by ML")
    args = p.parse_args(argv)
    kind = "bayes" if args.bayes else "glmer" if args.glmer else "lmer"
    call, kw = _CALL[kind]
    sys.path.insert(0, HERE)
    from simulate import CROSSED_FORMULA, FORMULA, GLMM_FORMULA, write_crossed_parts, write_parts

    rows_list = args.rows
    parts_list = args.parts or [max(1, r // 1_000_000) for r in rows_list]
    what = {"lmer": "ML", "bayes": "ml.bayes, 4 chains x 1000 draws", "glmer": "binomial, Laplace"}[kind]
    formula = GLMM_FORMULA if kind == "glmer" else CROSSED_FORMULA if args.crossed else FORMULA
    levels = f"{args.groups} users x {args.crossed} items" if args.crossed else f"{args.groups} groups"
    print(f"model: {formula}, {what}; {levels}; LocalCluster of {args.workers} worker processes\n")
    label = {"lmer": "deviance", "bayes": "posterior mean", "glmer": "log-likelihood"}[kind]
    print("| rows | parts | out of core (s) | passes | evaluations | client peak (MB) | worker peak (MB) | "
          f"in memory (s) | in-memory peak (MB) | ratio | {label} difference |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for rows, parts in zip(rows_list, parts_list):
        d = os.path.join(args.dir, f"rows{rows}_groups{args.groups}_parts{parts}"
                         + (f"_items{args.crossed}" if args.crossed else ""))
        if not os.path.isdir(d):
            t = time.perf_counter()
            if args.crossed:
                write_crossed_parts(d, rows, args.groups, args.crossed, parts)
            else:
                write_parts(d, rows, args.groups, parts)
            print(f"(wrote {d} in {time.perf_counter() - t:.0f} s)", file=sys.stderr)
        form = "GLMM_FORMULA" if kind == "glmer" else "CROSSED_FORMULA" if args.crossed else "FORMULA"
        ooc = _run(_OUT_OF_CORE.format(here=HERE, workers=args.workers, glob=os.path.join(d, "*.parquet"),
                                       call=call, kw=kw, summary=_SUMMARY[kind]).replace("(FORMULA,", f"({form},"))
        mem = None if args.no_memory else _run(_IN_MEMORY.format(here=HERE, dir=d, call=call, kw=kw,
                                                                 summary=_SUMMARY[kind])
                                               .replace("(FORMULA,", f"({form},"))
        workers = "/".join(f"{w:.0f}" for w in ooc["worker_mb"])
        mem_s = f"{mem['seconds']:.1f}" if mem else "-"
        mem_mb = f"{mem['peak_mb']:.0f}" if mem else "-"
        ratio = f"{ooc['seconds'] / mem['seconds']:.2f}" if mem else "-"
        diff = _difference(kind, ooc["summary"], mem["summary"]) if mem else "-"
        evals = ooc.get("evaluations") or "-"
        print(f"| {rows:,} | {parts} | {ooc['seconds']:.1f} | {ooc['passes']} | {evals} | {ooc['client_mb']:.0f} | "
              f"{workers} | {mem_s} | {mem_mb} | {ratio} | {diff} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
