"""Argument fuzzing of the public API: one argument at a time replaced by a weird value.

The project rule: every wrong argument of a public function ends in a one-line
``ValueError`` or ``TypeError`` raised by multilevel's own code (the last
traceback frame is a file of the ``multilevel`` package) whose message names
the argument; never an exception escaping from numpy, pandas, formulaic,
NLopt, scipy, JAX or Python itself, and never a silent success with a
nonsense argument.

Each case below is one public call with valid defaults on small bundled data
(``sleepstudy`` for ``lmer``, ``cbpp`` for ``glmer``, a 100-person slice of
``rasch5`` for the IRT helpers) in which exactly one argument is replaced by a
value drawn (by hypothesis) from :data:`WEIRD`. The call must then either

* succeed, and the value be listed in the case's ``legit`` labels (e.g.
  ``None`` for an optional argument, ``True``/``False`` for a flag), or
* raise ``ValueError``/``TypeError`` from a frame inside ``multilevel`` with a
  message containing the argument's name at the start of a word (or one of
  the documented aliases in :data:`ALIASES`, e.g. "data"/"column" for
  ``newdata``; ``L`` must appear as a whole, capital word).

``test_one_weird_argument`` checks that, over every value of :data:`WEIRD`;
``test_error_messages_are_one_line`` checks, over the values whose repr spans
several lines (a 3-D array, a DataFrame, a Series), that such an error's
message is one line (a message that quotes the value with ``{value!r}`` is not).

Fitted models are made once per module (they are cheap: ~25 ms for the lmer,
~150 ms for the glmer). ``ml.bayes`` is never sampled: its sampler
configuration is replaced by a stub that raises :class:`ReachedSampling`, so a
value that passes every check made before sampling counts as "accepted".
``fit.save`` runs in a temporary working directory, as its legitimate string
values ("x", "no") are paths.

Values deliberately skipped (listed in a case's ``skip``) are legitimate but
infeasible to run, e.g. ``nsim=10**30`` for the bootstrap. Judgement calls in
the ``legit`` lists: a bootstrap ``seed`` may be a sequence of non-negative
ints (numpy's SeedSequence entropy), but not a bool; ``ddf=None`` is
documented for ``coef_table``/``summary`` only, not for ``contest``/``anova``;
an empty ``parm``/``params`` selection, ``offset`` given to ``predict``
without ``newdata`` (silently ignored) and non-finite or boolean
``theta_grid`` values count as nonsense. Nothing here is slow (the whole file
runs in about 20-30 s on 2 cores); a case can be marked ``slow=True``.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import multilevel as ml

os.environ.setdefault("MPLBACKEND", "Agg")

PACKAGE_DIR = Path(ml.__file__).resolve().parent


# ------------------------------------------------------------ the weird values
# factories, so that mutable values (lists, dicts, arrays) are fresh each call
WEIRD: dict[str, Callable[[], object]] = {
    "None": lambda: None,
    "True": lambda: True,
    "False": lambda: False,
    "0": lambda: 0,
    "-1": lambda: -1,
    "1.5": lambda: 1.5,
    "-0.5": lambda: -0.5,
    "nan": lambda: math.nan,
    "inf": lambda: math.inf,
    "-inf": lambda: -math.inf,
    "empty_str": lambda: "",
    "x": lambda: "x",
    "no": lambda: "no",
    "empty_list": lambda: [],
    "list12": lambda: [1, 2],
    "nested_list": lambda: [[1, 2], [3, 4]],
    "empty_dict": lambda: {},
    "tuple1": lambda: (1,),
    "set12": lambda: {1, 2},
    "array3d": lambda: np.zeros((2, 2, 2)),
    "object": lambda: object(),
    "series_str": lambda: pd.Series(["a", "b", "c"]),
    "frame": lambda: pd.DataFrame({"a": [1.0, 2.0]}),
    "complex": lambda: 1 + 2j,
    "huge_int": lambda: 10**30,
    "bytes": lambda: b"x",
    "callable": lambda: (lambda *a, **k: None),
}
LABELS = sorted(WEIRD)

BOOL = frozenset({"True", "False"})
NONE = frozenset({"None"})
# seeds of the bootstrap go to numpy.random.SeedSequence, which also takes a
# sequence of non-negative ints as entropy: counted as legitimate
SEEDS = frozenset({"None", "0", "huge_int", "list12", "tuple1"})

# Words that count as naming an argument, beyond its own name (case-insensitive).
ALIASES: dict[str, tuple[str, ...]] = {
    "formula": ("formula", "data", "column"),
    "data": ("data", "column", "formula"),
    "newdata": ("newdata", "data", "column"),
    "parm": ("parm", "parameter"),
    "params": ("params", "parameter"),
    "path": ("path", "saved result", "file"),
    "fits[0]": ("argument 1", "fitted model"),
    "fit": ("fit", "model", "LmerResult", "GlmerResult"),
    "posterior_or_draws": ("posterior", "draws"),
    "priors": ("prior",),
    "weights": ("weight",),
    "group": ("group",),
    "ax": ("ax",),
    "name": ("name", "data set", "dataset"),
}


# ------------------------------------------------------------- fitted models
@functools.cache
def sleep() -> pd.DataFrame:
    return ml.datasets.load("sleepstudy")


@functools.cache
def cbpp() -> pd.DataFrame:
    return ml.datasets.load("cbpp")


@functools.cache
def cbpp_prop() -> pd.DataFrame:
    d = ml.datasets.load("cbpp")
    return d.assign(prop=d["incidence"] / d["size"])


LMER_FORMULA = "Reaction ~ Days + (Days | Subject)"
GLMER_FORMULA = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


@functools.cache
def lfit():
    return _quiet(ml.lmer, LMER_FORMULA, sleep())


@functools.cache
def lfit_small():
    return _quiet(ml.lmer, "Reaction ~ Days + (1 | Subject)", sleep())


@functools.cache
def gfit():
    return _quiet(ml.glmer, GLMER_FORMULA, cbpp())


@functools.cache
def rasch_fit():
    d = ml.datasets.load("rasch5")
    return _quiet(ml.glmer, "y ~ 0 + item + (1 | person)", d[d["person"] <= 100])


def draws() -> dict:
    rng = np.random.default_rng(1)
    return {"b_Days": rng.normal(size=(2, 30)), "sigma": np.abs(rng.normal(size=(2, 30)))}


# --------------------------------------------------------------------- bayes
class ReachedSampling(Exception):
    """Raised by the stub sampler configuration: every argument check before sampling passed."""


def _bayes(**kw):
    """``ml.bayes`` on sleepstudy with one argument replaced; stops before sampling."""
    import multilevel.bayes.fit as bayes_fit

    args = dict(formula="Reaction ~ Days + (1 | Subject)", data=sleep(), chains=1, draws=20, warmup=20,
                seed=1, progress=False)
    args.update(kw)

    def stop(*a, **k):
        raise ReachedSampling

    with mock.patch.object(bayes_fit, "SamplerConfig", side_effect=stop), \
            mock.patch.object(bayes_fit, "_enable_x64", lambda: None):
        return ml.bayes(**args)


# --------------------------------------------------------------------- plots
def _plot(fn, *args, **kw):
    import matplotlib.pyplot as plt

    try:
        return fn(*args, **kw)
    finally:
        plt.close("all")


def _save(fit, path):
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            return fit.save(path)
        finally:
            os.chdir(here)


# --------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    id: str
    arg: str
    call: Callable[[object], object]
    legit: frozenset = frozenset()
    skip: frozenset = frozenset()
    slow: bool = False
    aliases: tuple = field(default=())

    def words(self) -> tuple[str, ...]:
        return self.aliases or ALIASES.get(self.arg, (self.arg,))


def C(id, arg, call, legit=(), skip=(), slow=False, aliases=()):
    return Case(id, arg, call, frozenset(legit), frozenset(skip), slow, tuple(aliases))


def _lmer(**kw):
    args = dict(formula=LMER_FORMULA, data=sleep())
    args.update(kw)
    return ml.lmer(**args)


def _glmer(**kw):
    args = dict(formula=GLMER_FORMULA, data=cbpp(), family="binomial")
    args.update(kw)
    return ml.glmer(**args)


def _glmer_prop(**kw):
    args = dict(formula="prop ~ period + (1 | herd)", data=cbpp_prop(), family="binomial", weights="size")
    args.update(kw)
    return ml.glmer(**args)


def _boot(**kw):
    args = dict(fit=lfit(), nsim=2, seed=1, n_jobs=1)
    args.update(kw)
    return ml.bootstrap(**args)


CASES: list[Case] = [
    # ---- ml.lmer
    C("lmer", "formula", lambda v: _lmer(formula=v)),
    C("lmer", "data", lambda v: _lmer(data=v)),
    C("lmer", "reml", lambda v: _lmer(reml=v), BOOL),
    C("lmer", "weights", lambda v: _lmer(weights=v), NONE),
    C("lmer", "offset", lambda v: _lmer(offset=v), NONE),
    C("lmer", "optimizer", lambda v: _lmer(optimizer=v)),
    C("lmer", "start", lambda v: _lmer(start=v), NONE),
    # ---- ml.glmer
    C("glmer", "formula", lambda v: _glmer(formula=v)),
    C("glmer", "data", lambda v: _glmer(data=v)),
    C("glmer", "family", lambda v: _glmer(family=v)),
    C("glmer", "link", lambda v: _glmer(link=v), NONE),
    C("glmer", "nagq", lambda v: _glmer(nagq=v), {"0"}),
    C("glmer", "offset", lambda v: _glmer(offset=v), NONE),
    C("glmer", "optimizer", lambda v: _glmer(optimizer=v)),
    C("glmer(prop, weights=size)", "weights", lambda v: _glmer_prop(weights=v), NONE),
    # ---- ml.bayes (argument checks before sampling only)
    C("bayes", "formula", lambda v: _bayes(formula=v)),
    C("bayes", "data", lambda v: _bayes(data=v)),
    C("bayes", "family", lambda v: _bayes(family=v)),
    C("bayes", "link", lambda v: _bayes(link=v), NONE),
    C("bayes", "priors", lambda v: _bayes(priors=v), {"None", "empty_dict"}),
    C("bayes", "chains", lambda v: _bayes(chains=v), {"huge_int"}),
    C("bayes", "draws", lambda v: _bayes(draws=v), {"huge_int"}),
    C("bayes", "warmup", lambda v: _bayes(warmup=v), {"0", "huge_int"}),
    C("bayes", "seed", lambda v: _bayes(seed=v), {"None", "0", "huge_int"}),
    C("bayes", "progress", lambda v: _bayes(progress=v), BOOL),
    C("bayes", "sampler", lambda v: _bayes(sampler=v)),
    C("bayes", "weights", lambda v: _bayes(weights=v), NONE),
    C("bayes", "offset", lambda v: _bayes(offset=v), NONE),
    C("bayes", "target_accept", lambda v: _bayes(target_accept=v)),
    C("bayes", "max_tree_depth", lambda v: _bayes(max_tree_depth=v), {"huge_int"}),
    C("bayes", "chain_method", lambda v: _bayes(chain_method=v)),
    C("bayes", "center", lambda v: _bayes(center=v), BOOL),
    C("bayes", "keep_ranef", lambda v: _bayes(keep_ranef=v), BOOL),
    # ---- LmerResult.predict
    C("lmer.predict", "newdata", lambda v: lfit().predict(newdata=v), NONE),
    C("lmer.predict", "random", lambda v: lfit().predict(random=v), BOOL),
    C("lmer.predict", "allow_new_levels", lambda v: lfit().predict(allow_new_levels=v), BOOL),
    C("lmer.predict", "offset", lambda v: lfit().predict(offset=v), NONE),
    C("lmer.predict(newdata)", "offset", lambda v: lfit().predict(sleep().head(6), offset=v), NONE),
    # ---- GlmerResult.predict
    C("glmer.predict", "newdata", lambda v: gfit().predict(newdata=v), NONE),
    C("glmer.predict", "type", lambda v: gfit().predict(type=v)),
    C("glmer.predict", "random", lambda v: gfit().predict(random=v), BOOL),
    C("glmer.predict", "allow_new_levels", lambda v: gfit().predict(allow_new_levels=v), BOOL),
    C("glmer.predict", "offset", lambda v: gfit().predict(offset=v), NONE),
    C("glmer.predict(newdata)", "offset", lambda v: gfit().predict(cbpp().head(6), offset=v), NONE),
    # ---- residuals
    C("lmer.residuals", "type", lambda v: lfit().residuals(type=v)),
    C("glmer.residuals", "type", lambda v: gfit().residuals(type=v), NONE),
    # ---- confint (Wald for parm/level: the profile of every parameter is computed first)
    C("lmer.confint", "method", lambda v: lfit().confint(method=v)),
    C("lmer.confint(wald)", "level", lambda v: lfit().confint(method="wald", level=v)),
    C("lmer.confint(profile)", "level", lambda v: lfit().confint(level=v)),
    C("lmer.confint(wald)", "parm", lambda v: lfit().confint(method="wald", parm=v),
      {"None", "0", "list12", "tuple1"}),
    C("lmer.confint(boot)", "nsim", lambda v: lfit().confint(method="boot", nsim=v, seed=1, n_jobs=1),
      skip={"huge_int"}),
    C("lmer.confint(boot)", "seed", lambda v: lfit().confint(method="boot", nsim=2, seed=v, n_jobs=1),
      SEEDS),
    C("lmer.confint(boot)", "n_jobs", lambda v: lfit().confint(method="boot", nsim=2, seed=1, n_jobs=v),
      {"None", "-1", "huge_int"}),
    C("lmer.confint(boot)", "boot_type",
      lambda v: lfit().confint(method="boot", nsim=2, seed=1, n_jobs=1, boot_type=v)),
    C("glmer.confint", "method", lambda v: gfit().confint(method=v)),
    C("glmer.confint(wald)", "level", lambda v: gfit().confint(method="wald", level=v)),
    C("glmer.confint(wald)", "parm", lambda v: gfit().confint(method="wald", parm=v),
      {"None", "0", "list12", "tuple1"}),
    # ---- tests of fixed effects
    C("lmer.coef_table", "ddf", lambda v: lfit().coef_table(ddf=v), NONE),
    C("lmer.summary", "ddf", lambda v: lfit().summary(ddf=v), NONE),
    C("lmer.contest", "L", lambda v: lfit().contest(v), {"list12", "nested_list"}),
    C("lmer.contest", "ddf", lambda v: lfit().contest([0, 1], ddf=v)),
    C("lmer.contest", "joint", lambda v: lfit().contest([0, 1], joint=v), BOOL),
    C("lmer.anova", "type", lambda v: lfit().anova(type=v)),
    C("lmer.anova", "ddf", lambda v: lfit().anova(ddf=v)),
    # ---- other result methods
    C("lmer.refit", "reml", lambda v: lfit().refit(reml=v), BOOL | NONE),
    C("lmer.refit", "start", lambda v: lfit().refit(start=v), NONE),
    C("lmer.shrinkage", "group", lambda v: lfit_small().shrinkage(group=v), NONE),
    C("lmer.variance_partition", "fixed", lambda v: lfit().variance_partition(fixed=v), BOOL),
    C("glmer.variance_partition", "fixed", lambda v: gfit().variance_partition(fixed=v), BOOL),
    C("lmer.save", "path", lambda v: _save(lfit(), v), {"x", "no"}),
    C("glmer.save", "path", lambda v: _save(gfit(), v), {"x", "no"}),
    C("ml.load", "path", lambda v: ml.load(v)),
    C("ml.datasets.load", "name", lambda v: ml.datasets.load(v)),
    # ---- ml.anova
    C("ml.anova", "fits[0]", lambda v: ml.anova(v, lfit())),
    C("ml.anova", "refit", lambda v: ml.anova(lfit_small(), lfit(), refit=v), BOOL),
    C("ml.anova", "boundary", lambda v: ml.anova(lfit_small(), lfit(), boundary=v), BOOL),
    C("ml.anova", "names", lambda v: ml.anova(lfit_small(), lfit(), names=v), {"None", "list12"}),
    # ---- ml.bootstrap
    C("ml.bootstrap", "fit", lambda v: _boot(fit=v)),
    C("ml.bootstrap", "nsim", lambda v: _boot(nsim=v), skip={"huge_int"}),
    C("ml.bootstrap", "seed", lambda v: _boot(seed=v), SEEDS),
    C("ml.bootstrap", "fun", lambda v: _boot(fun=v), NONE),
    C("ml.bootstrap", "n_jobs", lambda v: _boot(n_jobs=v), {"None", "-1", "huge_int"}),
    # ---- ml.irt
    C("ml.irt.rasch", "fit", lambda v: ml.irt.rasch(v)),
    C("ml.irt.item_curves", "fit", lambda v: ml.irt.item_curves(v)),
    C("ml.irt.item_curves", "theta_grid", lambda v: ml.irt.item_curves(rasch_fit(), theta_grid=v),
      {"None", "0", "-1", "1.5", "-0.5", "list12", "tuple1", "huge_int"}),
    # ---- ml.plots
    C("ml.plots.caterpillar", "fit", lambda v: _plot(ml.plots.caterpillar, v)),
    C("ml.plots.caterpillar", "group", lambda v: _plot(ml.plots.caterpillar, lfit_small(), group=v), NONE),
    C("ml.plots.caterpillar", "ax", lambda v: _plot(ml.plots.caterpillar, lfit_small(), ax=v), NONE),
    C("ml.plots.caterpillar", "level", lambda v: _plot(ml.plots.caterpillar, lfit_small(), level=v)),
    C("ml.plots.item_curves", "fit", lambda v: _plot(ml.plots.item_curves, v)),
    C("ml.plots.item_curves", "ax", lambda v: _plot(ml.plots.item_curves, rasch_fit(), ax=v), NONE),
    C("ml.plots.item_curves", "theta_grid",
      lambda v: _plot(ml.plots.item_curves, rasch_fit(), theta_grid=v),
      {"None", "0", "-1", "1.5", "-0.5", "list12", "tuple1", "huge_int"}),
    C("ml.plots.trace", "posterior_or_draws", lambda v: _plot(ml.plots.trace, v)),
    C("ml.plots.trace", "params", lambda v: _plot(ml.plots.trace, draws(), params=v), NONE),
    C("ml.plots.trace", "ax", lambda v: _plot(ml.plots.trace, draws(), ax=v), NONE),
    C("ml.plots.density", "posterior_or_draws", lambda v: _plot(ml.plots.density, v)),
    C("ml.plots.density", "params", lambda v: _plot(ml.plots.density, draws(), params=v), NONE),
    C("ml.plots.density", "ax", lambda v: _plot(ml.plots.density, draws(), ax=v), NONE),
    C("ml.plots.density", "pooled", lambda v: _plot(ml.plots.density, draws(), pooled=v), BOOL),
]


# ------------------------------------------------------------------- checking
def _last_frame_file(tb) -> str:
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename


def _in_package(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return False


def _names(message: str, words) -> bool:
    """Whether ``message`` contains one of ``words`` at the start of a word
    (case-insensitive; ``L`` case-sensitive and as a whole word)."""
    for w in words:
        if w == "L":  # "l" is in every message
            if re.search(r"(?<![A-Za-z0-9_])L(?![A-Za-z0-9_])", message):
                return True
        elif re.search(r"(?<![A-Za-z0-9_])" + re.escape(w), message, flags=re.IGNORECASE):
            return True
    return False


def _run(case: Case, label: str):
    """Call ``case`` with the weird value ``label``: the exception raised, or None."""
    value = WEIRD[label]()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.call(value)
    except ReachedSampling:
        return None  # every check before sampling passed: accepted
    except Exception as exc:  # noqa: BLE001 - classified by the caller
        return exc
    return None


def problem(case: Case, label: str) -> str | None:
    """None when ``case`` handles the weird value ``label`` by the rule; otherwise what went wrong.

    (Whether the message is one line is checked separately, by
    :func:`test_error_messages_are_one_line`.)
    """
    call = f"{case.id}({case.arg}={label})"
    exc = _run(case, label)
    if exc is None:
        if label not in case.legit:
            return f"{call}: accepted silently (not a legitimate value for {case.arg})"
        return None
    where = _last_frame_file(exc.__traceback__)
    msg = str(exc)
    if not isinstance(exc, (ValueError, TypeError)):
        return f"{call}: {type(exc).__name__} from {where}: {msg[:300]!r}"
    if not _in_package(where):
        return f"{call}: {type(exc).__name__} raised outside multilevel ({where}): {msg[:300]!r}"
    if not _names(msg, case.words()):
        return (f"{call}: {type(exc).__name__} message does not name {case.arg!r} "
                f"(nor {', '.join(case.words())}): {msg[:300]!r}")
    return None


def multiline_message(case: Case, label: str) -> str | None:
    """What is wrong when ``case`` with ``label`` raises a multilevel error of more than one line."""
    exc = _run(case, label)
    if isinstance(exc, (ValueError, TypeError)) and _in_package(_last_frame_file(exc.__traceback__)) \
            and "\n" in str(exc).strip():
        return f"{case.id}({case.arg}={label}): {type(exc).__name__} message is not one line: {str(exc)[:300]!r}"
    return None


def _param(case: Case):
    marks = [pytest.mark.slow] if case.slow else []
    return pytest.param(case, id=f"{case.id}-{case.arg}", marks=marks)


def _settings(n: int):
    # no example database (nothing written under the repository), no explain phase
    return settings(max_examples=n, deadline=None, database=None,
                    phases=(Phase.explicit, Phase.generate, Phase.shrink),
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_one_weird_argument(case: Case):
    labels = [lab for lab in LABELS if lab not in case.skip]

    @_settings(len(labels))
    @given(label=st.sampled_from(labels))
    def check(label):
        trouble = problem(case, label)
        assert trouble is None, trouble

    check()


# values whose repr spans several lines: an error message quoting them is not one line
MULTILINE = ("array3d", "frame", "series_str")


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_error_messages_are_one_line(case: Case):
    labels = [lab for lab in MULTILINE if lab not in case.skip]

    @_settings(len(labels))
    @given(label=st.sampled_from(labels))
    def check(label):
        trouble = multiline_message(case, label)
        assert trouble is None, trouble

    check()


def test_cases_are_distinct():
    ids = [(c.id, c.arg) for c in CASES]
    assert len(ids) == len(set(ids))
    for c in CASES:
        assert c.legit <= set(WEIRD) and c.skip <= set(WEIRD), c
