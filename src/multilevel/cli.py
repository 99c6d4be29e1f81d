"""The ``multilevel`` command: fit a model from the shell, list the bundled data."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

__all__ = ["main", "read_data"]

_READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "tsv",
    ".gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "feather",
    ".arrow": "feather",
}

_QUIET = (DeprecationWarning, PendingDeprecationWarning)


def read_data(source: str):
    """Read a data file, or load a bundled data set by name.

    Parameters
    ----------
    source : str
        A path to a ``.csv`` (also ``.csv.gz``), ``.tsv``, ``.parquet`` or
        ``.feather`` file; when no such file exists, the name of a bundled
        data set (see ``multilevel datasets``).

    Returns
    -------
    pandas.DataFrame
        With ``attrs["name"]`` set to ``source`` (printed as ``Data:``). A
        CSV file with a JSON sidecar of the same name (as the bundled data
        have) gets the factor levels, and their order, listed there.

    Raises
    ------
    ValueError
        Unknown format, missing optional reader, or neither a file nor a
        bundled data set.

    Examples
    --------
    >>> read_data("sleepstudy").shape
    (180, 3)
    """
    import pandas as pd

    from . import datasets

    path = Path(source)
    if path.is_file():
        suffix = path.suffix.lower()
        kind = _READERS.get(suffix)
        if kind is None:
            raise ValueError(
                f"cannot read {source!r}: unknown file type {suffix or '(none)'!r}; "
                "use .csv, .tsv, .parquet or .feather"
            )
        try:
            if kind == "csv":
                df = pd.read_csv(path)
            elif kind == "tsv":
                df = pd.read_csv(path, sep="\t")
            elif kind == "parquet":
                df = pd.read_parquet(path)
            else:
                df = pd.read_feather(path)
        except ImportError:
            raise ValueError(
                f"reading {suffix} files needs pyarrow; run: pip install pyarrow"
            ) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"cannot read {source!r}: {first}") from None
        df = _apply_sidecar(df, path)
    elif path.is_dir():
        raise ValueError(f"{source!r} is a directory, not a data file")
    elif source in datasets.names():
        df = datasets.load(source)
    else:
        looks_like_path = path.suffix.lower() in _READERS or "/" in source or "\\" in source
        what = f"no such file: {source!r}" if looks_like_path else \
            f"{source!r} is neither a file nor a bundled data set"
        raise ValueError(f"{what} (bundled data sets: {', '.join(datasets.names())})")
    df.attrs["name"] = source
    return df


def _apply_sidecar(df, path: Path):
    """Restore factor levels from a JSON sidecar (``name.json`` next to ``name.csv``).

    The sidecar is the format of the bundled data: ``{"categories": {column:
    [levels...]}, "ordered": [columns...]}``. Anything else is ignored.
    """
    import pandas as pd

    stem = path.name[: -len(".csv.gz")] if path.name.lower().endswith(".csv.gz") else path.stem
    side = path.with_name(stem + ".json")
    if not side.is_file():
        return df
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return df
    cats = meta.get("categories") if isinstance(meta, dict) else None
    if not isinstance(cats, dict):
        return df
    ordered = set(meta.get("ordered") or [])
    for col, levels in cats.items():
        if col not in df.columns or not isinstance(levels, list):
            continue
        levels = [str(v) for v in levels]
        values = df[col].astype("string")
        # numbers read as floats ("1.0") are matched to integer labels ("1")
        if not values.dropna().isin(levels).all() and pd.api.types.is_float_dtype(df[col]):
            values = df[col].astype("Int64").astype("string")
        unknown = sorted(set(values.dropna()) - set(levels))
        if unknown:
            raise ValueError(
                f"column {col!r} of {str(path)!r} has values not listed in {side.name}: "
                f"{', '.join(unknown[:5])}"
            )
        df[col] = pd.Categorical(values, categories=levels, ordered=col in ordered)
    return df


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_PLOTS = ("caterpillar", "qq", "residuals", "shrinkage", "trace", "density", "rank", "ppc")


def _method(args) -> str:
    """The estimation method: --method, or --ml, or the family's default."""
    method = args.method or ("ml" if args.ml else None)
    # a gaussian response with the identity link is a linear mixed model
    gaussian = args.family == "gaussian" and args.link in (None, "identity")
    if method is None:
        return "reml" if gaussian else "laplace"
    if args.ml and method != "ml":
        raise ValueError(f"--ml and --method {method} disagree; give one of them")
    if gaussian and method in ("laplace", "agq"):
        raise ValueError(f"--method {method} is for GLMMs (--family binomial, poisson, negative_binomial, ...); "
                         "a gaussian model uses reml, ml or bayes")
    if not gaussian and method in ("reml", "ml"):
        raise ValueError(f"--method {method} is for gaussian models; a {args.family} GLMM uses "
                         "laplace, agq or bayes")
    return method


def _fit_model(args, data, method: str):
    from . import bayes, glmer, lmer

    if method in ("reml", "ml"):
        return lmer(args.formula, data, reml=method == "reml", weights=args.weights,
                    offset=args.offset, optimizer=args.optimizer)
    if method in ("laplace", "agq"):
        nagq = args.nagq if method == "agq" else 1
        if method == "agq" and nagq < 2:
            raise ValueError("--method agq needs --nagq of 2 or more (adaptive quadrature points)")
        return glmer(args.formula, data, family=args.family, link=args.link, nagq=nagq,
                     weights=args.weights, offset=args.offset, optimizer=args.optimizer)
    return bayes(args.formula, data, family=args.family, link=args.link, chains=args.chains,
                 draws=args.draws, warmup=args.warmup, seed=args.seed, weights=args.weights,
                 offset=args.offset, progress=sys.stderr.isatty())


def _plot(fit, kind: str, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from . import plots

    obj = getattr(plots, kind)(fit)
    fig = obj.figure if hasattr(obj, "figure") and not hasattr(obj, "savefig") else obj
    fig.savefig(out, dpi=100, bbox_inches="tight")


def _check_options(args, method: str) -> None:
    """Refuse option combinations that cannot go together, before any data is read or fitted."""
    bayes = method == "bayes"
    if args.plot and not args.out:
        raise ValueError("--plot needs --out FILE (e.g. --out caterpillar.png)")
    if args.plot in ("trace", "density", "rank", "ppc") and not bayes:
        raise ValueError(f"--plot {args.plot} needs a Bayesian fit: use it with --method bayes")
    if args.plot in ("residuals", "shrinkage") and bayes:
        raise ValueError(f"--plot {args.plot} takes a fit by reml, ml, laplace or agq, not bayes")
    if args.ddf == "kenward-roger" and method != "reml":
        raise ValueError("--ddf kenward-roger needs a REML fit (the default for gaussian models)")
    if args.confint and bayes:
        raise ValueError("--confint is for likelihood fits; a Bayesian fit prints its "
                         "credible intervals in the summary")
    if args.optimizer != "auto" and bayes:
        raise ValueError("--optimizer chooses the optimizer of a likelihood fit; a Bayesian fit samples "
                         "(--chains, --draws, --warmup)")
    if args.json and bayes:
        raise ValueError("--json is for likelihood fits; use the Python API's draws_df() for "
                         "a Bayesian fit")
    if args.anova and method not in ("reml", "ml"):
        raise ValueError("--anova gives lmerTest's F tests of a linear mixed model (reml or ml)")
    if args.type != "link" and not args.emmeans:
        raise ValueError("--type is for --emmeans")
    if args.emmeans and args.json:
        raise ValueError("--emmeans prints tables; it does not go with --json")
    if args.report is not None:
        if not args.report.lower().endswith((".html", ".htm")):
            raise ValueError(f"the report is an HTML file: give a name ending in .html, not {args.report!r}")
        folder = os.path.dirname(os.path.abspath(args.report))
        if not os.path.isdir(folder):
            raise ValueError(f"cannot write the report {args.report}: the folder {folder} does not exist")


def _fit(args, quiet: bool = False) -> int:
    """``multilevel fit``; ``quiet`` (``multilevel report``) prints no summary, only the
    warnings and where the report went."""
    method = _method(args)
    _check_options(args, method)
    data = read_data(args.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = _fit_model(args, data, method)
        # the bootstrap's simulations seeded by --seed, so that they can be repeated
        extra = (fit.confint(method=args.confint, **({"seed": args.seed} if args.confint == "boot" else {}))
                 if args.confint else None)
        means = None
        if args.emmeans:
            from .marginal import emmeans

            means = emmeans(fit, args.emmeans, type=args.type)
            means = (means, means.pairs())
        if args.plot:
            _plot(fit, args.plot, args.out)
    if args.report:
        from .report import report

        # the report keeps its own warnings (shown beside the parts that issued them)
        report(fit, args.report, confint=args.confint or "profile", ddf=args.ddf, intervals=extra)
    seen = set()
    for w in caught:
        if issubclass(w.category, _QUIET):
            continue
        msg = _one_line(w.message)
        if msg not in seen:
            seen.add(msg)
            print(f"warning: {msg}", file=sys.stderr)
    if quiet:
        print(f"report written to {args.report}")
        return 0
    if args.json:
        print(json.dumps(fit.to_dict(), indent=2))
        return 0
    if method in ("reml", "ml"):
        print(fit.summary(ddf=None if args.ddf == "none" else args.ddf))
    else:
        print(fit.summary())
    if args.anova:
        print()
        print(fit.anova(ddf="kenward-roger" if args.ddf == "kenward-roger" else "satterthwaite"))
    if extra is not None:
        print()
        print(f"Confidence intervals ({args.confint}):")
        print(extra.to_string())
    if means is not None:
        print()
        print("Estimated marginal means:")
        print(means[0])
        print()
        print(means[1])
    if args.plot:
        print(f"\n{args.plot} plot written to {args.out}")
    if args.report:
        print(f"\nreport written to {args.report}")
    return 0


def _report_command(args) -> int:
    """``multilevel report``: the fit of ``multilevel fit ... --report FILE``, without the summary."""
    args.report, args.out = args.out, None
    if _method(args) == "bayes":
        if args.confint is not None:
            raise ValueError("--confint is for likelihood fits; a Bayesian fit's report shows its "
                             "credible intervals")
    elif args.confint is None:
        args.confint = "profile"
    return _fit(args, quiet=True)


def _datasets(args) -> int:
    from . import datasets

    if args.name is None:
        names = datasets.names()
        width = max(len(n) for n in names)
        for name in names:
            print(f"{name.ljust(width)}  {datasets.describe(name).get('title', '')}")
        return 0
    meta = datasets.describe(args.name)
    print(f"{args.name}: {meta.get('title', '')}")
    print(f"rows: {meta.get('nrow', '?')}")
    print(f"source: {meta.get('source', '')}")
    if meta.get("description"):
        print(f"\n{meta['description']}")
    cols = meta.get("columns") or {}
    if cols:
        print("\ncolumns:")
        width = max(len(c) for c in cols)
        for col, note in cols.items():
            print(f"  {col.ljust(width)}  {_one_line(note)}")
    return 0


def _model_options(p) -> None:
    """The options that say which model to fit and how (fit and report share them)."""
    p.add_argument("formula", metavar="FORMULA",
                   help="lme4 formula, e.g. 'Reaction ~ Days + (Days | Subject)'")
    p.add_argument("--data", required=True, metavar="PATH_OR_NAME",
                   help="a .csv/.tsv/.parquet/.feather file, or a bundled data set name")
    p.add_argument("--family", default="gaussian",
                   choices=["gaussian", "binomial", "poisson", "negative_binomial", "nbinom1", "gamma", "beta",
                            "betabinomial"],
                   help="response family (default gaussian: a linear mixed model; the others, and gaussian "
                        "with --link log, are GLMMs)")
    p.add_argument("--link", default=None, help="link function (default: the family's canonical)")
    p.add_argument("--method", choices=["reml", "ml", "laplace", "agq", "bayes"],
                   help="estimation: reml (default for gaussian) or ml; laplace (default for "
                        "binomial and poisson) or agq (--nagq points); bayes (NUTS, as brms)")
    p.add_argument("--nagq", type=int, default=10,
                   help="quadrature points for --method agq (default 10)")
    p.add_argument("--chains", type=int, default=4, help="--method bayes: chains (default 4)")
    p.add_argument("--draws", type=int, default=1000,
                   help="--method bayes: draws per chain after warmup (default 1000)")
    p.add_argument("--warmup", type=int, default=1000,
                   help="--method bayes: warmup iterations per chain (default 1000)")
    p.add_argument("--seed", type=int, default=1,
                   help="random seed of --method bayes and of --confint boot (default 1)")
    p.add_argument("--ml", action="store_true",
                   help="maximum likelihood instead of REML (as --method ml)")
    p.add_argument("--ddf", choices=["satterthwaite", "kenward-roger", "none"], default="satterthwaite",
                   help="degrees of freedom of the t tests: Satterthwaite's, as lmerTest "
                        "(default), Kenward-Roger's (REML), or none for lme4's own table")
    p.add_argument("--weights", metavar="COL", help="column of prior weights")
    p.add_argument("--offset", metavar="COL", help="column holding an offset")
    p.add_argument("--optimizer", default="auto",
                   choices=["auto", "bobyqa", "cobyqa", "nelder-mead"],
                   help="optimizer of a likelihood fit (default: auto: with one random-effects term "
                        "(one scalar term for a GLMM of a family with a dispersion) a quasi-Newton search "
                        "on the exact gradient, BOBYQA otherwise)")


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="multilevel",
        description="Fit multilevel models written in lme4's formula syntax: linear (REML, ML), "
                    "generalized (Laplace, adaptive quadrature) and Bayesian.",
        epilog='example: multilevel fit "course ~ 1 + female + (1 + female | school)" '
               "--data gcsemv --ml",
    )
    p.add_argument("--version", action="version", version=f"multilevel {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    f = sub.add_parser(
        "fit", help="fit a model and print its summary",
        description="Fit a linear mixed model (REML unless --ml), a GLMM (--family) or a "
                    "Bayesian model (--method bayes) and print an lme4-, glmer- or brms-style "
                    "summary, or the estimates as JSON.",
    )
    _model_options(f)
    f.add_argument("--confint", choices=["profile", "wald", "boot"],
                   help="also print confidence intervals by this method")
    f.add_argument("--plot", choices=list(_PLOTS),
                   help="also write a figure (needs --out and matplotlib)")
    f.add_argument("--out", metavar="FILE", help="where --plot writes its figure (.png, .svg, .pdf)")
    f.add_argument("--report", metavar="FILE.html",
                   help="also write a self-contained HTML report of the fit (tables, figures, "
                        "checks; intervals by --confint, profile by default)")
    f.add_argument("--json", action="store_true",
                   help="print the estimates as JSON instead of the summary")
    f.add_argument("--emmeans", metavar="SPECS",
                   help="estimated marginal means of these variables (e.g. 'schgend' or '~ sex | schgend') "
                        "with their Tukey-adjusted pairwise differences, as R's emmeans")
    f.add_argument("--type", choices=["link", "response"], default="link",
                   help="--emmeans of a GLMM: on the link (default) or the response scale")
    f.add_argument("--anova", action="store_true",
                   help="also print the type III ANOVA table of the fixed effects")
    f.set_defaults(run=_fit)

    r = sub.add_parser(
        "report", help="fit a model and write its HTML report",
        description="Fit a model as 'fit' does and write a self-contained HTML report of it "
                    "(tables, figures, convergence checks, the call that reproduces it).",
    )
    _model_options(r)
    r.add_argument("--out", required=True, metavar="FILE.html", help="where the report is written")
    r.add_argument("--confint", choices=["profile", "wald", "boot"], default=None,
                   help="the intervals the report shows (default profile; likelihood fits)")
    r.set_defaults(run=_report_command, plot=None, json=False, anova=False, emmeans=None, type="link")

    d = sub.add_parser("datasets", help="list the bundled data sets (or describe one)")
    d.add_argument("name", nargs="?", metavar="NAME", help="describe this data set")
    d.set_defaults(run=_datasets)
    return p


def main(argv=None) -> int:
    """Run the ``multilevel`` command line.

    Commands::

        multilevel fit FORMULA --data PATH_OR_NAME [--family F] [--link L]
                       [--method reml|ml|laplace|agq|bayes] [--nagq N]
                       [--chains N --draws N --warmup N --seed N] [--ml] [--json]
                       [--ddf satterthwaite|kenward-roger|none] [--anova]
                       [--confint profile|wald|boot] [--plot KIND --out FILE]
                       [--report FILE.html]
                       [--weights COL] [--offset COL] [--optimizer NAME]
        multilevel report FORMULA --data PATH_OR_NAME --out FILE.html [the model options of fit]
                       [--confint profile|wald|boot]
        multilevel datasets [NAME]

    ``report`` fits as ``fit`` does and writes the HTML report of
    :func:`multilevel.report` instead of printing the summary. ``fit`` prints the lme4-style summary (or, with ``--json``, the estimates
    of :meth:`LmerResult.to_dict` as JSON) on standard output. Warnings such
    as a singular fit go to standard error as ``warning: ...`` lines; errors
    (a bad formula, an unknown column, a missing file) as one ``error: ...``
    line, with exit status 2.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on an error.

    Examples
    --------
    >>> status = main(["fit", "Reaction ~ Days + (Days | Subject)",
    ...                "--data", "sleepstudy", "--json"])  # doctest: +ELLIPSIS
    {
      "formula": "Reaction ~ Days + (Days | Subject)",
      "method": "REML",
    ...
    >>> status
    0
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        return args.run(args)
    except BrokenPipeError:  # e.g. piped into `head`
        return 0
    except (ValueError, TypeError, OSError) as exc:
        print(f"error: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
