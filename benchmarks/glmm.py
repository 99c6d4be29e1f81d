"""Side-by-side timings of multilevel's ``glmer``, mixedlm's and lme4's ``glmer`` on the same GLMMs.

Usage::

    python benchmarks/glmm.py                       # every workload, 5 timed repeats
    python benchmarks/glmm.py cbpp verbagg          # some of them
    python benchmarks/glmm.py --with-slow-r         # include glmer's slow fits (14-120 s each)
    python benchmarks/glmm.py cbpp --repeat 1 --no-r
    python benchmarks/glmm.py --list

For each workload the script times, in one run:

* multilevel: the whole ``ml.glmer(formula, data, family, link, nagq)`` call,
  from the data frame in memory to the result; median of ``--repeat`` calls
  after one untimed warm-up call (for the slowest workloads fewer calls, and
  for verbagg_slope a single call after a small cbpp fit as the warm-up);
* mixedlm (PyPI, an lme4 port with a Rust backend; the ``bench`` extra), the
  fastest Python peer: the whole ``mixedlm.glmer(formula, data, family,
  nAGQ=...)`` call, timed as multilevel's. mixedlm's formulas have no
  ``cbind()``: a binomial response with trials is given to it as the
  proportion (a column added to the data) with the trials as weights, the
  same likelihood. Only the canonical links are run;
* lme4, when ``Rscript`` with lme4 is on the PATH: ``benchmarks/glmer_time.R``
  reads the bundled CSV (factor levels restored from its JSON sidecar) and
  times complete ``glmer()`` calls inside R with glmer's default control, so
  R's start-up and reading the data are not counted, as they are not for
  multilevel.  glmer's slowest fits (random slope, Rasch) run only with
  ``--with-slow-r``, and then once.

It prints a markdown table with the seconds, the ratio glmer / multilevel
(above 1: multilevel is faster), the difference of the log-likelihoods
(multilevel's minus glmer's; positive: glmer stopped at a lower value) and the
objective evaluations of each optimizer.  For nAGQ > 1 glmer's logLik is
relative to the saturated model for binomial responses with trials (lme4 issue
#161); the comparison uses glmer's logLik plus the saturated log-likelihood,
the absolute scale on which multilevel reports it (as
tests/reference/lme4_glmm.R computes ``loglik_absolute``).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from run import (  # noqa: E402  (benchmarks/run.py)
    Timing,
    _median_time,
    bundled_paths,
    environment,
    fmt_delta,
    fmt_ratio,
    fmt_seconds,
    r_available,
)

SAME_TOL = 1e-4  # on the log-likelihood scale


@dataclass(frozen=True)
class GlmmWorkload:
    """One generalized linear mixed model on one bundled data set."""

    key: str
    label: str
    formula: str
    dataset: str
    family: str = "binomial"
    link: str = "logit"
    nagq: int = 1
    max_repeat: int | None = None  # cap on multilevel's timed repeats (slow fits)
    warmup: bool = True  # False: warm multilevel up on a small cbpp fit instead (slow fits)
    r_repeat: int | None = None  # glmer's timed repeats when fixed (slow fits)
    r_warmup: bool = True
    slow_r: bool = False  # glmer only with --with-slow-r


VERBAGG = "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
RASCH = "y ~ 0 + item + (1 | person)"

WORKLOADS = {
    w.key: w for w in [
        GlmmWorkload("verbagg", "VerbAgg (1 | id) + (1 | item), Laplace", VERBAGG, "verbagg"),
        GlmmWorkload("verbagg_nagq0", "VerbAgg (1 | id) + (1 | item), nAGQ = 0", VERBAGG,
                     "verbagg", nagq=0),
        GlmmWorkload("cbpp", "cbpp cbind() (1 | herd), Laplace", CBPP, "cbpp"),
        GlmmWorkload("cbpp_agq25", "cbpp cbind() (1 | herd), nAGQ = 25", CBPP, "cbpp", nagq=25),
        GlmmWorkload(
            "grouseticks", "grouseticks Poisson (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
            "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
            "grouseticks", family="poisson", link="log",
        ),
        GlmmWorkload(
            "verbagg_slope", "VerbAgg (1 + Anger | item) + (1 | id), Laplace",
            "r2 ~ Anger + Gender + btype + situ + (1 + Anger | item) + (1 | id)", "verbagg",
            max_repeat=1, warmup=False, r_repeat=1, slow_r=True,
        ),
        GlmmWorkload(
            "hsb82_slope", "hsb82 I(mAch > 12) (1 + ses | school), Laplace",
            "I(mAch > 12) ~ ses + sector + (1 + ses | school)", "hsb82",
        ),
        GlmmWorkload("rasch", "Rasch 5 items, 100,000 rows, (1 | person), Laplace", RASCH,
                     "rasch5", max_repeat=3, r_repeat=1, r_warmup=False, slow_r=True),
        GlmmWorkload("rasch_agq15", "Rasch 5 items, 100,000 rows, (1 | person), nAGQ = 15",
                     RASCH, "rasch5", nagq=15, max_repeat=3, r_repeat=1, r_warmup=False,
                     slow_r=True),
    ]
}


@dataclass
class GlmmTiming(Timing):
    """What one package did on one workload; ``objective`` is the log-likelihood."""

    feval: int | None = None
    optimizer: str | None = None


# -------------------------------------------------------------------- timing
def time_multilevel(w: GlmmWorkload, data, repeat: int) -> GlmmTiming:
    import multilevel as ml

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ml.glmer(w.formula, data, family=w.family, link=w.link, nagq=w.nagq)

    if not w.warmup:  # the modules and code paths, without a second slow fit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ml.glmer(CBPP, ml.datasets.load("cbpp"), family="binomial")
    med, secs, res = _median_time(fit, repeat, warmup=w.warmup)
    note = "; ".join(m.split(":")[0] for m in res.messages)
    return GlmmTiming(med, float(res.loglik), note, secs, feval=int(res.optinfo.feval),
                      optimizer=res.optinfo.optimizer)


def time_glmer(w: GlmmWorkload, repeat: int, with_slow_r: bool) -> GlmmTiming:
    if w.slow_r and not with_slow_r:
        return GlmmTiming(note="not run (pass --with-slow-r)")
    if not r_available():
        return GlmmTiming(note="Rscript with lme4 not found")
    csv, sidecar = bundled_paths(w.dataset)
    cmd = ["Rscript", str(HERE / "glmer_time.R"), str(csv), w.formula, w.family, w.link,
           str(w.nagq), str(repeat), str(sidecar), "TRUE" if w.r_warmup else "FALSE"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return GlmmTiming(note=f"glmer failed: {last}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    note = "; ".join(m.split(":")[0] for m in out.get("messages") or [])
    ll = out.get("loglik_absolute")
    return GlmmTiming(float(out["median_seconds"]), None if ll is None else float(ll), note,
                      list(out.get("seconds") or []), feval=out.get("feval"),
                      optimizer=out.get("optimizer"))


_I_RESPONSE = re.compile(r"^\s*I\((.*)\)\s*~(.*)$")
_CBIND = re.compile(r"^\s*cbind\(\s*(\w+)\s*,\s*(\w+)\s*-\s*\1\s*\)\s*~(.*)$")


def time_mixedlm(w: GlmmWorkload, data, repeat: int) -> GlmmTiming:
    try:
        import mixedlm
        from mixedlm import families
    except ImportError:
        return GlmmTiming(note="mixedlm not installed (pip install -e '.[bench]')")
    canonical = {("binomial", "logit"): families.Binomial, ("poisson", "log"): families.Poisson}
    if (w.family, w.link) not in canonical:
        return GlmmTiming(note=f"not run ({w.family} with the {w.link} link)")
    formula, weights, frame, note = w.formula, None, data, ""
    m = _CBIND.match(w.formula)
    if m:  # cbind(k, n - k) ~ rhs: the proportion k / n with weights n
        k, n, rhs = m.groups()
        frame = data.assign(_prop=data[k] / data[n])
        formula, weights = f"_prop ~{rhs}", frame[n].to_numpy(dtype=float)
        note = "proportion with weights for cbind()"
    i = _I_RESPONSE.match(w.formula)
    if i:  # I(expression) ~ rhs: the expression's values as a column
        expr, rhs = i.groups()
        frame = data.assign(_response=data.eval(expr).astype(float))
        formula, note = f"_response ~{rhs}", f"response I({expr}) computed as a column"

    def fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return mixedlm.glmer(formula, frame, family=canonical[(w.family, w.link)](), nAGQ=w.nagq,
                                 weights=weights)

    try:
        med, secs, res = _median_time(fit, repeat, warmup=w.warmup)
    except Exception as exc:  # report a peer's failure in the table, do not stop the run
        return GlmmTiming(note=f"mixedlm failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}")
    ll = res.logLik()
    note = "; ".join(filter(None, ["" if res.converged else "did not converge", note]))
    return GlmmTiming(med, float(getattr(ll, "value", ll)), note, secs,
                      feval=getattr(res, "n_iter", None), optimizer=getattr(res, "optimizer", None))


# -------------------------------------------------------------------- output
def optimum(m: GlmmTiming, g: GlmmTiming) -> str:
    if m.objective is None or g.objective is None:
        return "—"
    d = m.objective - g.objective
    if abs(d) <= SAME_TOL:
        return "same"
    return "multilevel higher" if d > 0 else "glmer higher"


def _count(t: GlmmTiming) -> str:
    if t.feval is None:
        return "—"
    return f"{int(t.feval):,}" + (f" ({t.optimizer})" if t.optimizer else "")


def table(rows: list[dict]) -> str:
    head = ["workload", "rows", "multilevel s", "mixedlm s", "glmer s", "mixedlm / multilevel",
            "glmer / multilevel", "logLik multilevel", "Δ logLik mixedlm", "Δ logLik glmer",
            "optimum (glmer)", "evaluations multilevel", "evaluations mixedlm", "evaluations glmer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m, g = r["multilevel"], r["glmer"]
        x = r.get("mixedlm") or GlmmTiming(note="not run")
        cells = [r["workload"].label, f"{r['nobs']:,}", fmt_seconds(m.seconds), fmt_seconds(x.seconds),
                 fmt_seconds(g.seconds), fmt_ratio(x, m), fmt_ratio(g, m),
                 "—" if m.objective is None else f"{m.objective:.4f}",
                 fmt_delta(m, x), fmt_delta(m, g), optimum(m, g), _count(m), _count(x), _count(g)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def notes(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        for who in ("multilevel", "mixedlm", "glmer"):
            if who in r and r[who].note:
                out.append(f"- {r['workload'].key}, {who}: {r[who].note}")
    return out


def legend(repeat: int) -> str:
    return (
        f"Seconds: median of {repeat} timed fits after one untimed warm-up (fewer for the "
        "slowest workloads, see the notes); glmer / multilevel above 1: multilevel is faster; "
        "Δ logLik is multilevel's log-likelihood minus glmer's (for nAGQ > 1 glmer's logLik "
        "plus the saturated log-likelihood, the absolute scale), optimum 'same' when "
        f"|Δ| <= {SAME_TOL:g}; evaluations: objective evaluations of the last optimisation "
        "stage, with its optimizer (glmer's optinfo$feval, multilevel's fit.optinfo.feval; "
        "for nAGQ > 0 the stage over theta and beta).")


def command_line(argv) -> str:
    """The command that produced the output, as it could be typed again."""
    script = Path(__file__).resolve()
    try:
        shown = script.relative_to(Path.cwd().resolve())
    except ValueError:
        shown = script
    return shlex.join(["python", str(shown), *argv])


# ---------------------------------------------------------------------- main
def run(keys, repeat: int = 5, with_slow_r: bool = False, use_r: bool = True,
        progress=None, use_mixedlm: bool = True) -> list[dict]:
    """Run the workloads; return one dict per workload with both timings."""
    import multilevel as ml

    out = []
    for key in keys:
        w = WORKLOADS[key]
        n_rep = repeat if w.max_repeat is None else max(1, min(repeat, w.max_repeat))
        data = ml.datasets.load(w.dataset)
        if progress:
            progress(f"{key}: multilevel ({n_rep} timed fit(s))")
        m = time_multilevel(w, data, n_rep)
        if n_rep != repeat or not w.warmup:
            warm = "" if w.warmup else ", warm-up on a small cbpp fit instead"
            m.note = "; ".join(filter(None, [m.note, f"{n_rep} timed fit(s){warm}"]))
        if use_r:
            r_rep = n_rep if w.r_repeat is None else w.r_repeat
            if progress and (with_slow_r or not w.slow_r):
                progress(f"{key}: glmer ({r_rep} timed fit(s))")
            g = time_glmer(w, r_rep, with_slow_r)
            if g.seconds is not None and r_rep != repeat:
                warm = "" if w.r_warmup else ", no warm-up"
                g.note = "; ".join(filter(None, [g.note, f"{r_rep} timed fit(s){warm}"]))
        else:
            g = GlmmTiming(note="not run (--no-r)")
        if use_mixedlm:
            if progress:
                progress(f"{key}: mixedlm ({n_rep} timed fit(s))")
            x = time_mixedlm(w, data, n_rep)
        else:
            x = GlmmTiming(note="not run (--no-mixedlm)")
        out.append({"workload": w, "nobs": int(len(data)), "multilevel": m, "mixedlm": x, "glmer": g})
        del data
    return out


def to_json(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        w = r["workload"]
        d = {"workload": w.key, "label": w.label, "formula": w.formula, "dataset": w.dataset,
             "family": w.family, "link": w.link, "nagq": w.nagq, "nobs": r["nobs"]}
        for who in ("multilevel", "mixedlm", "glmer"):
            t = r.get(who) or GlmmTiming()
            d[who] = {"seconds": t.seconds, "loglik": t.objective, "feval": t.feval,
                      "optimizer": t.optimizer, "note": t.note, "runs": t.runs}
        m, g = r["multilevel"].objective, r["glmer"].objective
        d["delta_loglik"] = None if m is None or g is None else m - g
        x = (r.get("mixedlm") or GlmmTiming()).objective
        d["delta_loglik_mixedlm"] = None if m is None or x is None else m - x
        out.append(d)
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(
        description="Time multilevel's glmer, mixedlm's and lme4's glmer on the same models.")
    p.add_argument("benchmarks", nargs="*", metavar="WORKLOAD",
                   help=f"workloads to run (default: all): {', '.join(WORKLOADS)}")
    p.add_argument("--repeat", type=int, default=5,
                   help="timed fits per package and workload (default 5; on the slow "
                        "workloads at most 3 (verbagg_slope: 1) for multilevel and 1 for "
                        "glmer)")
    p.add_argument("--with-slow-r", action="store_true",
                   help="also run glmer on " + ", ".join(k for k, w in WORKLOADS.items()
                                                         if w.slow_r)
                        + " (14-120 s a fit)")
    p.add_argument("--no-r", action="store_true", help="do not run glmer")
    p.add_argument("--no-mixedlm", action="store_true", help="do not run mixedlm")
    p.add_argument("--json", metavar="PATH", help="also write the raw results as JSON")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)

    if args.list:
        for w in WORKLOADS.values():
            slow = " [glmer with --with-slow-r]" if w.slow_r else ""
            print(f"{w.key:14s} {w.label}: {w.formula}, {w.family}({w.link}), "
                  f"nAGQ = {w.nagq}{slow}")
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
               progress=progress, use_mixedlm=not args.no_mixedlm)
    command = command_line(argv)
    env = environment(args.repeat, use_r=not args.no_r, legend=legend(args.repeat),
                      peers=("mixedlm",))
    print(f"Command: {command}")
    print("\n".join(env))
    print()
    print(table(rows))
    extra = notes(rows)
    if extra:
        print()
        print("Notes:")
        print("\n".join(extra))
    if args.json:
        doc = {"command": command, "environment": env, "results": to_json(rows)}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
