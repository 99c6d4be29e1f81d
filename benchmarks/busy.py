"""InstEval on a quiet and on a busy machine, in one run.

Usage::

    python benchmarks/busy.py [--repeat 3] [--workload insteval]

For the workload (a key of ``benchmarks/run.py``) it times, in one process:

1. multilevel, quiet: the whole ``ml.lmer`` call, median of ``--repeat``
   calls after a warm-up;
2. the same while one CPU-bound background process spins (one core busy);
3. the same, busy, with the BLAS thread scoping switched off (the evaluations
   run on OpenBLAS's default thread pool, as before it existed), so the
   effect of the scoping is read off the same run;
4. mixedlm (the ``bench`` extra), quiet and busy, where installed.

It prints a markdown table of medians and the busy / quiet ratios. A ratio
near 1 means the fit does not suffer from the other process more than the
lost core explains.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import run  # noqa: E402  (benchmarks/run.py: the workloads)


def _spin(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


@contextlib.contextmanager
def busy():
    """One CPU-bound process for the duration of the block."""
    stop = multiprocessing.Event()
    proc = multiprocessing.Process(target=_spin, args=(stop,), daemon=True)
    proc.start()
    time.sleep(0.5)
    try:
        yield
    finally:
        stop.set()
        proc.join(5)
        if proc.is_alive():
            proc.kill()


@contextlib.contextmanager
def default_threads():
    """multilevel's evaluations on the BLAS libraries' own thread pools."""
    import multilevel.lmm.fit as fit

    saved = (fit.SMALL_BLOCK, fit.ThreadChoice, fit.blas_threads)
    fit.SMALL_BLOCK = -1
    fit.ThreadChoice = lambda f: f
    fit.blas_threads = lambda n: contextlib.nullcontext()
    try:
        yield
    finally:
        fit.SMALL_BLOCK, fit.ThreadChoice, fit.blas_threads = saved


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workload", default="insteval", choices=sorted(run.WORKLOADS))
    args = ap.parse_args(argv)
    import multilevel as ml

    w = run.WORKLOADS[args.workload]
    data = run.load(w, 0, 0)
    warnings.simplefilter("ignore")

    def ours():
        ml.lmer(w.formula, data, reml=w.reml)

    rows = []
    quiet = median_time(ours, args.repeat)
    with busy():
        loaded = median_time(ours, args.repeat)
        with default_threads():
            before = median_time(ours, args.repeat)
    rows.append(("multilevel", quiet, loaded))
    rows.append(("multilevel, BLAS default threads (no scoping)", None, before))
    try:
        import mixedlm
    except ImportError:
        mixedlm = None
    if mixedlm is not None:
        def theirs():
            mixedlm.lmer(w.formula, data, REML=w.reml)
        q = median_time(theirs, args.repeat)
        with busy():
            b = median_time(theirs, args.repeat)
        rows.append((f"mixedlm {getattr(mixedlm, '__version__', '')}".strip(), q, b))
    print(f"Workload: {w.label}; {os.cpu_count()} CPUs; load average before the run "
          f"{os.getloadavg()[0]:.2f}; median of {args.repeat} whole calls after a warm-up; busy = one "
          "CPU-bound background process")
    print()
    print("| package | quiet s | busy s | busy / multilevel quiet |")
    print("|---|---|---|---|")
    for name, q, b in rows:
        qs = f"{q:.3g}" if q is not None else "—"
        print(f"| {name} | {qs} | {b:.3g} | {b / quiet:.2f}x |")


if __name__ == "__main__":
    main()
