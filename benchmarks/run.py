"""Side-by-side timings of multilevel, mixedlm, statsmodels MixedLM and lme4 on the same models.

Usage::

    python benchmarks/run.py                      # every workload, 5 timed repeats
    python benchmarks/run.py sleepstudy gcsemv    # some of them
    python benchmarks/run.py sim1m --with-slow-r  # include lme4 on 1M rows (~75 s a fit)
    python benchmarks/run.py --list

For each workload the script times, in one run:

* multilevel: the whole ``ml.lmer(formula, data, reml=...)`` call, from the
  data frame in memory to the result (parsing, design, cross-products,
  optimisation, result object); median of ``--repeat`` calls after one untimed
  warm-up call;
* mixedlm (PyPI, an lme4 port with a Rust backend; the ``bench`` extra), the
  fastest Python peer: the whole ``mixedlm.lmer(formula, data, REML=...)``
  call on the same formula and data frame, timed the same way;
* statsmodels ``MixedLM`` (the optional ``bench`` extra), where it fits the
  same model (not for crossed random effects): ``mixedlm(...).fit(reml=...)``
  with its default optimizers, timed the same way;
* lme4, when ``Rscript`` with lme4 is on the PATH: ``benchmarks/lme4_time.R``
  reads the bundled CSV (factor levels restored from its JSON sidecar) and
  times complete ``lmer()`` calls inside R, so R's start-up and reading the
  data are not counted, as they are not for the other two.

It prints a markdown table with the seconds, the ratios alternative /
multilevel (above 1: multilevel is faster), and the difference of each
alternative's optimum from multilevel's on the -2 log-likelihood scale (REML
criterion or ML deviance; positive: the alternative stopped at a worse value).
For the simulated 1M-row workload it also measures the peak memory of the
multilevel fit in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import simulate  # noqa: E402  (benchmarks/simulate.py)

AGREE_TOL = 0.01  # on the -2 log-likelihood scale


@dataclass(frozen=True)
class Workload:
    """One model on one data set, and how each package fits it."""

    key: str
    label: str
    formula: str
    reml: bool
    dataset: str | None = None  # bundled data set; None: simulated
    statsmodels: dict | None = None  # mixedlm arguments, or None when it cannot fit it
    why_no_statsmodels: str = "crossed random effects"
    max_repeat: int | None = None  # cap on timed repeats (slow fits)
    r_warmup: bool = True
    slow_r: bool = False  # lme4 only with --with-slow-r
    memory: bool = False  # always measure peak memory


WORKLOADS = {
    w.key: w for w in [
        Workload(
            "sleepstudy", "sleepstudy (1 + Days | Subject), REML",
            "Reaction ~ 1 + Days + (1 + Days | Subject)", True, "sleepstudy",
            statsmodels=dict(formula="Reaction ~ Days", groups="Subject", re_formula="~Days"),
        ),
        Workload(
            "gcsemv", "gcsemv M3 (1 + female | school), ML",
            "course ~ 1 + female + (1 + female | school)", False, "gcsemv",
            statsmodels=dict(formula="course ~ female", groups="school", re_formula="~female",
                             columns=["course", "female", "school"]),
        ),
        Workload(
            "leebryk", "leebryk m4 (1 + ses | schoolid), REML",
            "math ~ 1 + mses + sector + ses + ses*mses + ses*sector + (1 + ses|schoolid)", True,
            "leebryk",
            statsmodels=dict(formula="math ~ mses + sector + ses + ses:mses + ses:sector",
                             groups="schoolid", re_formula="~ses"),
        ),
        Workload(
            "penicillin", "penicillin (1 | plate) + (1 | sample), REML",
            "diameter ~ 1 + (1 | plate) + (1 | sample)", True, "penicillin",
        ),
        Workload(
            "insteval", "InstEval service*dept + (1 | s) + (1 | d), ML",
            "y ~ 1 + service * dept + (1 | s) + (1 | d)", False, "insteval", max_repeat=3,
        ),
        Workload(
            "sim1m", "simulated 1M rows, 10k groups, (1 + x1 | g), ML",
            simulate.FORMULA, False, None, max_repeat=3, r_warmup=False, slow_r=True,
            memory=True, why_no_statsmodels="not run (minutes per fit)",
        ),
    ]
}


@dataclass
class Timing:
    """What one package did on one workload."""

    seconds: float | None = None
    objective: float | None = None
    note: str = ""
    runs: list = field(default_factory=list)


# ----------------------------------------------------------------------- data
def bundled_paths(name: str) -> tuple[Path, Path]:
    """The bundled CSV and its JSON sidecar (inside the installed package)."""
    data = resources.files("multilevel.datasets").joinpath("data")
    return Path(str(data.joinpath(f"{name}.csv"))), Path(str(data.joinpath(f"{name}.json")))


def load(w: Workload, rows: int, groups: int):
    import multilevel as ml

    if w.dataset is not None:
        return ml.datasets.load(w.dataset)
    return simulate.simulate(rows, groups)


def sim_csv(rows: int, groups: int) -> Path:
    """The simulated data as CSV for R, cached in the temporary directory."""
    cache = Path(tempfile.gettempdir()) / "multilevel-bench"
    cache.mkdir(exist_ok=True)
    path = cache / f"sim_{rows}_{groups}_{simulate.SEED}.csv"
    if not path.exists():
        tmp = path.with_suffix(".part")
        simulate.simulate(rows, groups).to_csv(tmp, index=False)
        tmp.replace(path)
    return path


# -------------------------------------------------------------------- timing
def _median_time(fn, repeat: int, warmup: bool):
    out = fn() if warmup else None
    secs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = fn()
        secs.append(time.perf_counter() - t0)
        out = res if out is None else out
    return statistics.median(secs), secs, out


def time_multilevel(w: Workload, data, repeat: int) -> Timing:
    import multilevel as ml

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ml.lmer(w.formula, data, reml=w.reml)

    med, secs, res = _median_time(fit, repeat, warmup=True)
    note = "; ".join(m.split(":")[0] for m in res.messages)
    return Timing(med, res.objective, note, secs)


def time_mixedlm(w: Workload, data, repeat: int) -> Timing:
    try:
        import mixedlm
    except ImportError:
        return Timing(note="mixedlm not installed (pip install -e '.[bench]')")

    def fit():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = mixedlm.lmer(w.formula, data, REML=w.reml)
        return res, caught

    med, secs, (res, caught) = _median_time(fit, repeat, warmup=True)
    notes = [] if res.converged else ["did not converge"]
    notes.extend(sorted({c.category.__name__ for c in caught
                         if not issubclass(c.category, (DeprecationWarning, FutureWarning))}))
    # the REML criterion of a REML fit, the ML deviance otherwise (as lme4's deviance());
    # a method on some of mixedlm's results, a number on others
    dev = res.deviance() if callable(res.deviance) else res.deviance
    return Timing(med, float(dev), "; ".join(notes), secs)


def time_statsmodels(w: Workload, data, repeat: int) -> Timing:
    if w.statsmodels is None:
        return Timing(note=w.why_no_statsmodels)
    try:
        import statsmodels.formula.api as smf
    except ImportError:
        return Timing(note="statsmodels not installed (pip install -e '.[bench]')")
    spec = dict(w.statsmodels)
    cols = spec.pop("columns", None)

    def fit():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            df = data.dropna(subset=cols) if cols else data
            res = smf.mixedlm(spec["formula"], df, groups=spec["groups"],
                              re_formula=spec["re_formula"]).fit(reml=w.reml)
        return res, caught

    med, secs, (res, caught) = _median_time(fit, repeat, warmup=True)
    notes = [] if res.converged else ["did not converge"]
    kinds = sorted({c.category.__name__ for c in caught
                    if not issubclass(c.category, (DeprecationWarning, FutureWarning))})
    notes.extend(kinds)
    return Timing(med, -2.0 * float(res.llf), "; ".join(notes), secs)


_R_OK: bool | None = None


def r_available() -> bool:
    """Rscript on the PATH with lme4 and jsonlite installed (checked once)."""
    global _R_OK
    if _R_OK is None:
        exe = shutil.which("Rscript")
        if exe is None:
            _R_OK = False
        else:
            probe = ("quit(status = as.integer(!all(sapply(c('lme4', 'jsonlite'), "
                     "requireNamespace, quietly = TRUE))))")
            try:
                _R_OK = subprocess.run([exe, "-e", probe], capture_output=True,
                                       timeout=120).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _R_OK = False
    return _R_OK


def time_lme4(w: Workload, repeat: int, rows: int, groups: int, with_slow_r: bool) -> Timing:
    if w.slow_r and not with_slow_r:
        return Timing(note="not run (pass --with-slow-r)")
    if not r_available():
        return Timing(note="Rscript with lme4 not found")
    if w.dataset is not None:
        csv, sidecar = bundled_paths(w.dataset)
        side = str(sidecar)
    else:
        csv, side = sim_csv(rows, groups), "-"
    cmd = ["Rscript", str(HERE / "lme4_time.R"), str(csv), w.formula,
           "TRUE" if w.reml else "FALSE", str(repeat), side,
           "TRUE" if w.r_warmup else "FALSE"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return Timing(note=f"lme4 failed: {last}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    note = "; ".join(m.split(":")[0] for m in out.get("messages") or [])
    return Timing(float(out["median_seconds"]), float(out["objective"]), note,
                  list(out.get("seconds") or []))


# -------------------------------------------------------------------- memory
def measure_memory(key: str, rows: int, groups: int) -> dict:
    """Peak memory of one multilevel fit, measured in a fresh Python process."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_memory", key,
           "--sim-rows", str(rows), "--sim-groups", str(groups)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _memory_child(key: str, rows: int, groups: int) -> int:
    """In the subprocess: load the data, then fit once under tracemalloc."""
    import resource
    import tracemalloc

    import multilevel as ml

    w = WORKLOADS[key]
    data = load(w, rows, groups)
    scale = 1024.0 if sys.platform != "darwin" else 1024.0 * 1024.0  # ru_maxrss: KiB / bytes
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml.lmer(w.formula, data, reml=w.reml)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    data_mb = data.memory_usage(deep=True).sum() / 2**20
    print(json.dumps({"peak_traced_mib": peak / 2**20, "maxrss_mib": after,
                      "maxrss_before_fit_mib": before, "data_mib": float(data_mb)}))
    return 0


# -------------------------------------------------------------------- output
def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    if s >= 100:
        return f"{s:.0f}"
    return f"{s:.3g}" if s >= 0.001 else f"{s:.2g}"


def fmt_ratio(alt: Timing, base: Timing) -> str:
    if alt.seconds is None or not base.seconds:
        return "—"
    r = alt.seconds / base.seconds
    return f"{r:.2g}x" if r < 10 else f"{r:.0f}x"


def fmt_delta(alt: Timing, base: Timing) -> str:
    if alt.objective is None or base.objective is None:
        return "—"
    d = alt.objective - base.objective
    return "0" if d == 0 else f"{d:+.1e}"


def agree(row: dict) -> str:
    base = row["multilevel"]
    deltas = [abs(row[k].objective - base.objective) for k in ("mixedlm", "statsmodels", "lme4")
              if row[k].objective is not None and base.objective is not None]
    if not deltas:
        return "—"
    return "yes" if max(deltas) <= AGREE_TOL else f"no (max |Δ| {max(deltas):.2g})"


def table(rows: list[dict]) -> str:
    head = ["workload", "rows", "multilevel s", "mixedlm s", "statsmodels s", "lme4 s",
            "mixedlm / multilevel", "statsmodels / multilevel", "lme4 / multilevel",
            "Δ objective mixedlm", "Δ objective statsmodels", "Δ objective lme4", "optima agree"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m, x, s, l = r["multilevel"], r["mixedlm"], r["statsmodels"], r["lme4"]
        cells = [r["workload"].label, f"{r['nobs']:,}", fmt_seconds(m.seconds), fmt_seconds(x.seconds),
                 fmt_seconds(s.seconds), fmt_seconds(l.seconds), fmt_ratio(x, m), fmt_ratio(s, m),
                 fmt_ratio(l, m), fmt_delta(x, m), fmt_delta(s, m), fmt_delta(l, m), agree(r)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def notes(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        for who in ("multilevel", "mixedlm", "statsmodels", "lme4"):
            if r[who].note:
                out.append(f"- {r['workload'].key}, {who}: {r[who].note}")
        mem = r.get("memory")
        if mem:
            if "error" in mem:
                out.append(f"- {r['workload'].key}, multilevel memory: failed ({mem['error']})")
            else:
                out.append(
                    f"- {r['workload'].key}, multilevel memory: peak traced allocations during "
                    f"the fit {mem['peak_traced_mib']:.0f} MiB (the data frame itself: "
                    f"{mem['data_mib']:.0f} MiB); process max RSS {mem['maxrss_mib']:.0f} MiB "
                    f"({mem['maxrss_before_fit_mib']:.0f} MiB before the fit)"
                )
    return out


def environment(repeat: int, use_r: bool = True, legend: str | None = None,
                with_statsmodels: bool = True, peers: tuple = ("mixedlm", "statsmodels")) -> list[str]:
    """Header lines: the machine, the software versions and ``legend`` (how to read the table;
    by default this script's)."""
    import multilevel as ml
    import numpy as np

    parts = [f"multilevel {ml.__version__}", f"Python {platform.python_version()}",
             f"numpy {np.__version__}"]
    if with_statsmodels:
        for name in peers:
            try:
                parts.append(f"{name} {__import__(name).__version__}")
            except ImportError:
                pass
    if use_r and r_available():
        proc = subprocess.run(["Rscript", "-e", "cat(R.version$major, R.version$minor, "
                               "as.character(packageVersion('lme4')))"],
                              capture_output=True, text=True)
        if proc.returncode == 0 and proc.stdout.split():
            v = proc.stdout.split()
            parts.append(f"R {v[0]}.{v[1]}, lme4 {v[2]}")
    if legend is None:
        legend = (
            f"Seconds: median of {repeat} timed fits after one untimed warm-up (fewer for the "
            "slowest workloads, see the notes); ratios are alternative / multilevel; "
            "Δ objective is the alternative's -2 log-likelihood (REML criterion or deviance) minus "
            f"multilevel's; optima agree when every |Δ| <= {AGREE_TOL}.")
    return [
        f"Machine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs "
        f"({platform.processor() or 'unknown processor'})",
        "Software: " + ", ".join(parts),
        legend,
    ]


# ---------------------------------------------------------------------- main
def run(keys, repeat: int = 5, with_slow_r: bool = False, use_r: bool = True,
        use_statsmodels: bool = True, use_mixedlm: bool = True, memory: bool = False, rows: int = 1_000_000,
        groups: int = 10_000, progress=None) -> list[dict]:
    """Run the workloads; return one dict per workload with the three timings."""
    out = []
    for key in keys:
        w = WORKLOADS[key]
        n_rep = repeat if w.max_repeat is None else max(1, min(repeat, w.max_repeat))
        if progress:
            progress(f"{key}: loading data")
        data = load(w, rows, groups)
        if progress:
            progress(f"{key}: multilevel ({n_rep} timed fit(s))")
        m = time_multilevel(w, data, n_rep)
        if n_rep != repeat:
            m.note = "; ".join(filter(None, [m.note, f"{n_rep} timed fit(s)"]))
        if use_mixedlm:
            if progress:
                progress(f"{key}: mixedlm")
            x = time_mixedlm(w, data, n_rep)
        else:
            x = Timing(note="not run (--no-mixedlm)")
        if use_statsmodels:
            if progress and w.statsmodels is not None:
                progress(f"{key}: statsmodels")
            s = time_statsmodels(w, data, n_rep)
        else:
            s = Timing(note="not run (--no-statsmodels)")
        if use_r:
            r_rep = 1 if (w.slow_r and not w.r_warmup) else n_rep
            if progress and (with_slow_r or not w.slow_r):
                progress(f"{key}: lme4 ({r_rep} timed fit(s))")
            lt = time_lme4(w, r_rep, rows, groups, with_slow_r)
            if lt.seconds is not None and r_rep != repeat:
                warm = "" if w.r_warmup else ", no warm-up"
                lt.note = "; ".join(filter(None, [lt.note, f"{r_rep} timed fit(s){warm}"]))
        else:
            lt = Timing(note="not run (--no-r)")
        row = {"workload": w, "nobs": _nobs(w, data), "multilevel": m, "mixedlm": x, "statsmodels": s,
               "lme4": lt}
        if memory or w.memory:
            if progress:
                progress(f"{key}: peak memory (subprocess)")
            row["memory"] = measure_memory(key, rows, groups)
        out.append(row)
        del data
    return out


def _nobs(w: Workload, data) -> int:
    if w.statsmodels and w.statsmodels.get("columns"):
        return int(len(data.dropna(subset=w.statsmodels["columns"])))
    return int(len(data))


def to_json(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        d = {"workload": r["workload"].key, "label": r["workload"].label,
             "formula": r["workload"].formula, "reml": r["workload"].reml, "nobs": r["nobs"]}
        for who in ("multilevel", "mixedlm", "statsmodels", "lme4"):
            t = r[who]
            d[who] = {"seconds": t.seconds, "objective": t.objective, "note": t.note,
                      "runs": t.runs}
        if "memory" in r:
            d["memory"] = r["memory"]
        out.append(d)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Time multilevel, mixedlm, statsmodels MixedLM and lme4 on the same models.")
    p.add_argument("benchmarks", nargs="*", metavar="WORKLOAD",
                   help=f"workloads to run (default: all): {', '.join(WORKLOADS)}")
    p.add_argument("--repeat", type=int, default=5,
                   help="timed fits per package and workload (default 5; capped at 3 for "
                        "insteval and sim1m)")
    p.add_argument("--with-slow-r", action="store_true",
                   help="also run lme4 on the 1M-row simulation (over a minute per fit)")
    p.add_argument("--no-r", action="store_true", help="do not run lme4")
    p.add_argument("--no-statsmodels", action="store_true", help="do not run statsmodels")
    p.add_argument("--no-mixedlm", action="store_true", help="do not run mixedlm")
    p.add_argument("--memory", action="store_true",
                   help="measure the peak memory of every workload (always done for sim1m)")
    p.add_argument("--sim-rows", type=int, default=1_000_000, help=argparse.SUPPRESS)
    p.add_argument("--sim-groups", type=int, default=10_000, help=argparse.SUPPRESS)
    p.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--_memory", metavar="KEY", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args._memory:
        return _memory_child(args._memory, args.sim_rows, args.sim_groups)
    if args.list:
        for w in WORKLOADS.values():
            print(f"{w.key:11s} {w.label}: {w.formula}")
        return 0
    unknown = [k for k in args.benchmarks if k not in WORKLOADS]
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    keys = args.benchmarks or list(WORKLOADS)

    def progress(msg):
        if not args.quiet:
            print(f"[bench] {msg}", file=sys.stderr, flush=True)

    rows = run(keys, repeat=args.repeat, with_slow_r=args.with_slow_r, use_r=not args.no_r,
               use_statsmodels=not args.no_statsmodels, use_mixedlm=not args.no_mixedlm, memory=args.memory,
               rows=args.sim_rows, groups=args.sim_groups, progress=progress)
    if args.sim_rows != 1_000_000 or args.sim_groups != 10_000:
        for r in rows:
            if r["workload"].dataset is None:
                r["workload"] = replace(r["workload"], label=(
                    f"simulated {args.sim_rows:,} rows, {args.sim_groups:,} groups, "
                    "(1 + x1 | g), ML"))
    print("\n".join(environment(args.repeat, use_r=not args.no_r)))
    print()
    print(table(rows))
    extra = notes(rows)
    if extra:
        print()
        print("Notes:")
        print("\n".join(extra))
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(rows), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
