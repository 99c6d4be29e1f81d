"""Bad inputs across multilevel's public API, one line per input with its outcome.

Run from the repository root::

    python tests/reference/bad_inputs.py

Each input is one Python expression (printed as it is evaluated, so the line
shows the exact call) on small bundled data: ``S`` is sleepstudy (``N`` its
rows), ``CB`` is cbpp (``CBP`` with a proportion column ``prop``), ``s(...)``
and ``cb(...)`` are copies of them with columns replaced, ``LF``/``LF1`` lmer
fits of sleepstudy (``(Days | Subject)`` and ``(1 | Subject)``), ``GF`` the
binomial glmer fit of cbpp (``GF25`` the same with ``nagq=5``, ``GFP`` a
Poisson fit of ``incidence``), ``RF`` a Rasch fit of 100 persons of rasch5
(``R100``), ``D`` a dict of MCMC draws, ``TMP`` a temporary folder. Every
line reads::

    id | outcome | call | detail

with outcome one of

* ``clear error``: a ValueError/TypeError raised by multilevel's own code (its
  last traceback frame is a file of the package), one line, whose message
  contains one of the words the case lists as naming the problem (the
  argument, "formula", "data", "column", the column's name, ...);
* ``internal error``: anything else that was raised: another exception type,
  a ValueError/TypeError raised outside multilevel, or one from multilevel
  whose message is not one line or names none of the case's words (the
  detail says which, with the exception type and the last frame's file);
* ``warning``: the call succeeded with at least one warning;
* ``accepted``: the call succeeded silently.

``ml.bayes`` is never sampled: the samplers (``_sample_nuts`` and
``_sample_collapsed``) are replaced by a stub that stops the call, so a bayes
input that passes every check made before sampling is reported as accepted
(or warning) "(stopped before sampling)". ``MULTILEVEL_JAX_CACHE`` is set to
``off`` so that no compilation cache is written. Files (``fit.save``) are
written under a temporary directory (``<TMP>`` in the output), removed at
the end. The counts per outcome are printed last.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections import Counter
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("MULTILEVEL_JAX_CACHE", "off")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import multilevel as ml  # noqa: E402

PACKAGE_DIR = Path(ml.__file__).resolve().parent


# ------------------------------------------------------------------ no sampling
class StoppedBeforeSampling(BaseException):
    """Raised instead of sampling: every check of ml.bayes's arguments passed."""


def _stop(*args, **kwargs):
    raise StoppedBeforeSampling


def _install_sampling_stub() -> None:
    import multilevel.bayes.collapsed_sampler as collapsed_sampler
    import multilevel.bayes.fit as bayes_fit

    bayes_fit._sample_nuts = _stop
    collapsed_sampler._sample_collapsed = _stop


# ------------------------------------------------------------------------ data
def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


def _setup() -> None:
    """The data sets, fits and files the cases use (made when the script runs, not on import)."""
    global S, CB, CBP, R100, LF, LF1, GF, GFP, GF25, RF, D, TMP, N, DS, LFD, dd, CBD, GFD
    S = ml.datasets.load("sleepstudy")
    N = len(S)
    CB = ml.datasets.load("cbpp")
    CBP = CB.assign(prop=CB["incidence"] / CB["size"])
    r = ml.datasets.load("rasch5")
    R100 = r[r["person"] <= 100]
    LF = _quiet(ml.lmer, "Reaction ~ Days + (Days | Subject)", S)
    LF1 = _quiet(ml.lmer, "Reaction ~ Days + (1 | Subject)", S)
    GF = _quiet(ml.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", CB)
    GFP = _quiet(ml.glmer, "incidence ~ period + (1 | herd)", CB, family="poisson")
    GF25 = _quiet(ml.glmer, "cbind(incidence, size - incidence) ~ period + (1 | herd)", CB, nagq=5)
    RF = _quiet(ml.glmer, "y ~ 0 + item + (1 | person)", R100)
    import dask
    import dask.dataframe as dd

    dask.config.set(scheduler="synchronous")
    DS = dd.from_pandas(S, npartitions=3)
    LFD = _quiet(ml.lmer, "Reaction ~ Days + (Days | Subject)", DS)
    CBD = dd.from_pandas(CBP, npartitions=3)
    GFD = _quiet(ml.glmer, "prop ~ period + (1 | herd)", CBD, weights="size", nagq=0)
    rng = np.random.default_rng(1)
    D = {"b_Days": rng.normal(size=(2, 30)), "sigma": np.abs(rng.normal(size=(2, 30)))}
    TMP = Path(tempfile.mkdtemp(prefix="multilevel_bad_inputs_"))
    (TMP / "not_a_zip.zip").write_text("hello")
    with zipfile.ZipFile(TMP / "no_manifest.zip", "w") as zf:
        zf.writestr("data.csv", "a,b\n1,2\n")
    (TMP / "a_directory").mkdir()
    with zipfile.ZipFile(TMP / "bad_manifest.zip", "w") as zf:
        zf.writestr("manifest.json", '{"format": "multilevel-result", "format_version": 999}')


def s(**cols) -> pd.DataFrame:
    """sleepstudy with columns replaced or added."""
    return S.assign(**cols)


def cb(**cols) -> pd.DataFrame:
    """cbpp with columns replaced or added."""
    return CB.assign(**cols)


F = ("formula", "data", "column")   # words that name a formula or data problem
LMER = "'Reaction ~ Days + (Days | Subject)'"
LMER1 = "'Reaction ~ Days + (1 | Subject)'"
GLMER = "'cbind(incidence, size - incidence) ~ period + (1 | herd)'"
BAYES = "'Reaction ~ Days + (1 | Subject)'"
BKW = "chains=1, draws=20, warmup=20, seed=1, progress=False"

# (code, words that name the problem); the code is evaluated with this module's globals
CASES: list[tuple[str, tuple[str, ...]]] = []


def add(code: str, *words: str) -> None:
    CASES.append((code, words or F))


# ============================================================ formula syntax
for f in [
    "''", "'   '", "'Reaction'", "'~ Days + (1 | Subject)'", "'Reaction ~'", "'Reaction ~ Days +'",
    "'Reaction ~~ Days + (1 | Subject)'", "'Reaction ~ Days ~ Subject + (1 | Subject)'",
    "'Reaction ~ Days + (1 | Subject'", "'Reaction ~ Days + 1 | Subject)'",
    "'Reaction ~ Days + (1 | Subject))'", "'Reaction ~ Days + ( | Subject)'", "'Reaction ~ Days + (1 | )'",
    "'Reaction ~ Days + (1 || )'", "'Reaction ~ Days + (1 | Subject/)'", "'Reaction ~ Days + (1 | /Subject)'",
    "'Reaction ~ Days + (1 | Subject:)'", "'Reaction ~ Days + (1 | 1)'",
    "'Reaction ~ Days + (1 | Subject + Days)'", "'Reaction ~ Days + (0 | Subject)'",
    "'Reaction ~ Days + (-1 | Subject)'", "'Reaction ~ Days + [1 | Subject]'",
    "'Reaction ~ Days + {1 | Subject}'", "'Reaction ~ Days + (1 | Subject) | Days'",
    "'Reaction ~ Days * * Subject + (1 | Subject)'", "'Reaction ~ log( + (1 | Subject)'",
    "'Reaction ~ foo(Days) + (1 | Subject)'", "'Reaction ~ Days + (1 | Subject) + (1 | Subject)'",
    "'Reaction ~ . + (1 | Subject)'", "'Reaction ~ Days + (1 | Subject); Days'",
    "'Reaction ~ `Days + (1 | Subject)'", "'Reaction ~ Days + (1 | Subject) + offset()'",
    "'log(Reaction ~ Days + (1 | Subject)'", "'Reaction ~ Days + (Days | Subject) + (Days | Subject)'",
    "'Reaction ~ Days + poly(Days, 20) + (1 | Subject)'",
    "'Reaction ~ log(Days) + (1 | Subject)'", "'Reaction ~ C(Days, foo) + (1 | Subject)'",
    "'Reaction ~ Days + (1 | Subject) + (1 | Subject:Reaction)'", "'cbind(Reaction, Days) ~ Days + (1 | Subject)'",
    "\"Reaction ~ Days + __import__('os').getpid() + (1 | Subject)\"",
    "'Reaction ~ Days + (1 | Subject) + 1e400'", "'Reaction ~ Days + (Days | Subject) - Days - 1 - 0'",
    "'Reaction ~ Days + (1 | Subject) + (1 | Days:Subject:Days)'", "'Reaction + Days ~ Days + (1 | Subject)'",
    "'Reaction ~ Days + (1 |Subject) + Reaction'", "'Reaction ~ Days + (Reaction | Subject)'",
    "'Reaction ~ Days + (1 | Subject) + x.y$z'",
]:
    add(f"ml.lmer({f}, S)")
add("ml.lmer('Reaction ~ Days + I(Days / 0) + (1 | Subject)', S)", *F, "I(Days / 0)")
add("ml.lmer(1, S)", "formula")
add("ml.lmer(None, S)", "formula")
add(f"ml.lmer({LMER}.encode(), S)", "formula")
add(f"ml.lmer([{LMER}], S)", "formula")
add("ml.glmer('cbind(incidence) ~ period + (1 | herd)', CB)", *F, "cbind")
add("ml.glmer('cbind(incidence, size - incidence, size) ~ period + (1 | herd)', CB)", *F, "cbind")
add("ml.glmer('cbind(incidence, size - ) ~ period + (1 | herd)', CB)", *F, "cbind")
add("ml.glmer('cbind(incidence, size - incidence) ~ period', CB)")
add("ml.glmer('', CB)")

# ============================================================ unknown columns
add("ml.lmer('Reactoin ~ Days + (1 | Subject)', S)", "column", "Reactoin")
add("ml.lmer('Reaction ~ Dayz + (1 | Subject)', S)", "column", "Dayz")
add("ml.lmer('Reaction ~ Days + (1 | Subjekt)', S)", "column", "Subjekt")
add("ml.lmer('Reaction ~ Days + (Dayz | Subject)', S)", "column", "Dayz")
add("ml.lmer('reaction ~ Days + (1 | Subject)', S)", "column", "reaction")
add("ml.lmer('Reaction ~ log(Dayz) + (1 | Subject)', S)", "column", "Dayz")
add("ml.lmer('Reaction ~ Days + offset(foo) + (1 | Subject)', S)", "column", "foo")
add("ml.lmer('Reaction ~ Days + (1 | Subject/foo)', S)", "column", "foo")
add("ml.glmer('cbind(incidence, sizee - incidence) ~ period + (1 | herd)', CB)", "column", "sizee", "cbind")
add("ml.glmer('incidense ~ period + (1 | herd)', CB, family='poisson')", "column", "incidense")
add(f"ml.bayes('Reaction ~ Dayz + (1 | Subject)', S, {BKW})", "column", "Dayz")

# ============================================================ wrong column types
add(f"ml.lmer({LMER1}, s(Reaction=S['Reaction'].astype(str)))", *F, "Reaction", "response")
add(f"ml.lmer({LMER1}, s(Reaction=S['Subject'].astype(str)))", *F, "Reaction", "response")
add(f"ml.lmer({LMER1}, s(Reaction=pd.Categorical(S['Subject'])))", *F, "Reaction", "response")
add(f"ml.lmer({LMER1}, s(Reaction=S['Days'] > 4))", *F, "Reaction", "response")
add(f"ml.lmer({LMER1}, s(Reaction=pd.date_range('2020-01-01', periods=N)))", *F, "Reaction", "date")
add(f"ml.lmer({LMER1}, s(Reaction=S['Reaction'] + 1j))", *F, "Reaction", "complex")
add(f"ml.lmer({LMER1}, s(Reaction=pd.to_timedelta(S['Days'], unit='D')))", *F, "Reaction")
add(f"ml.lmer({LMER1}, s(Reaction=[1.0, 'a'] * (N // 2)))", *F, "Reaction")
add(f"ml.lmer({LMER1}, s(Reaction=[[1.0]] * N))", *F, "Reaction")
add(f"ml.lmer({LMER1}, s(Days=pd.date_range('2020-01-01', periods=N)))", *F, "Days", "date")
add(f"ml.lmer({LMER1}, s(Days=[{{'a': 1}}] * N))", *F, "Days")
add(f"ml.lmer({LMER1}, s(Days=S['Days'] + 1j))", *F, "Days", "complex")
add(f"ml.lmer({LMER1}, s(Days=pd.to_timedelta(S['Days'], unit='D')))", *F, "Days")
add(f"ml.lmer({LMER1}, s(Subject=[{{'a': 1}}] * N))", *F, "Subject")
add("ml.lmer('Reaction ~ Days + (1 | Reaction)', S)", *F, "Reaction")
add(f"ml.lmer({LMER1}, s(Subject=S['Reaction']))", *F, "Subject")
add(f"ml.lmer({LMER1}, s(Reaction=pd.array([float(v) if i % 7 else None for i, v in enumerate(S['Reaction'])], dtype='Float64')))", *F)
add("ml.glmer('incidence ~ period + (1 | herd)', CB)", *F, "incidence", "response", "binomial")
add("ml.glmer('incidence ~ period + (1 | herd)', cb(incidence=-CB['incidence']), family='poisson')", *F, "incidence", "response", "negative")
add("ml.glmer('prop ~ period + (1 | herd)', CBP, family='poisson')", *F, "prop", "response", "integer", "count")
add("ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', cb(incidence=CB['incidence'].astype(str)))", *F, "incidence", "cbind")
add("ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', cb(incidence=CB['size'] + 1))", *F, "cbind", "negative")
add("ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', cb(incidence=CB['incidence'] + 0.5))", *F, "cbind", "integer", "count")
add("ml.glmer('incidence ~ period + (1 | herd)', cb(incidence=CB['incidence'].astype(str)))", *F, "incidence", "response")
add(f"ml.bayes('Reaction ~ Days + (1 | Subject)', s(Reaction=S['Reaction'].astype(str)), {BKW})", *F, "Reaction", "response")

# ============================================================ all-NA columns
add(f"ml.lmer({LMER1}, s(Reaction=np.nan))", *F, "Reaction", "missing", "rows")
add(f"ml.lmer({LMER1}, s(Days=np.nan))", *F, "Days", "missing", "rows")
add(f"ml.lmer({LMER1}, s(Subject=None))", *F, "Subject", "missing", "rows")
add(f"ml.lmer({LMER}, s(Days=np.where(S['Days'] > 100, 1.0, np.nan)))", *F, "Days", "missing", "rows")
add(f"ml.lmer({LMER1}, S, weights=np.full(N, np.nan))", "weights", "missing", "rows")
add(f"ml.lmer({LMER1}, S, offset=np.full(N, np.nan))", "offset", "missing", "rows")
add("ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', cb(incidence=np.nan))", *F, "missing", "rows")
add(f"ml.bayes({BAYES}, s(Reaction=np.nan), {BKW})", *F, "Reaction", "missing", "rows")
add(f"ml.lmer({LMER1}, s(Reaction=np.where(S['Days'] < 1, S['Reaction'], np.nan)))", *F, "Reaction", "observations")

# ============================================================ constant responses
add(f"ml.lmer({LMER1}, s(Reaction=250.0))", *F, "Reaction", "constant", "response")
add(f"ml.lmer({LMER1}, s(Reaction=0.0))", *F, "Reaction", "constant", "response")
add(f"ml.lmer({LMER}, s(Reaction=1e300))", *F, "Reaction", "constant", "response")
add("ml.glmer('y ~ period + (1 | herd)', cb(y=0))", *F, "response", "constant", "all")
add("ml.glmer('y ~ period + (1 | herd)', cb(y=1))", *F, "response", "constant", "all")
add("ml.glmer('incidence ~ period + (1 | herd)', cb(incidence=0), family='poisson')", *F, "response", "constant", "zero")
add(f"ml.bayes({BAYES}, s(Reaction=250.0), {BKW})", *F, "Reaction", "constant", "response")

# ============================================================ single-level factors / degenerate designs
add(f"ml.lmer({LMER1}, s(Subject='a'))", *F, "Subject", "level")
add("ml.lmer('Reaction ~ f + (1 | Subject)', s(f='a'))", *F, "f", "level")
add("ml.lmer('Reaction ~ Days + (1 | Subject) + (1 | g)', s(g='a'))", *F, "g", "level")
add("ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', cb(herd='1'))", *F, "herd", "level")
add(f"ml.lmer({LMER1}, s(Days=0))", *F, "Days", "constant", "aliased", "rank")
add("ml.lmer('Reaction ~ Days + D2 + (1 | Subject)', s(D2=S['Days'] * 2))", *F, "D2", "aliased", "rank")
add("ml.lmer('Reaction ~ Days + (1 | Subject)', S.iloc[:10])", *F, "Subject", "level")
add(f"ml.bayes({BAYES}, s(Subject='a'), {BKW})", *F, "Subject", "level")

# ============================================================ data objects
add(f"ml.lmer({LMER}, None)", "data")
add(f"ml.lmer({LMER}, S.to_numpy())", "data")
add(f"ml.lmer({LMER}, S.to_dict('records'))", "data")
add(f"ml.lmer({LMER}, {{'Reaction': [1.0, 2.0], 'Days': [1.0], 'Subject': ['a', 'b']}})", "data")
add(f"ml.lmer({LMER}, S['Reaction'])", "data")
add(f"ml.lmer({LMER}, pd.DataFrame())", *F)
add(f"ml.lmer({LMER}, S.iloc[:0])", *F, "rows", "observations")
add(f"ml.lmer({LMER}, S.iloc[:1])", *F, "rows", "observations", "level", "Reaction", "response")
add(f"ml.lmer({LMER}, S.iloc[:2])", *F, "rows", "observations", "level")
add(f"ml.lmer({LMER}, pd.concat([S, S[['Days']]], axis=1))", *F, "Days")
add(f"ml.lmer({LMER}, S.set_axis(pd.MultiIndex.from_tuples([(c, c) for c in S.columns]), axis=1))", *F)
add("ml.lmer('Reaction ~ Days + (1 | Subject)', S.set_axis([0, 1, 2], axis=1))", *F)
add(f"ml.lmer({LMER}, 'sleepstudy')", "data")
add(f"ml.lmer({LMER}, S.set_index('Subject'))", *F, "Subject")
add(f"ml.glmer({GLMER}, None)", "data")
add(f"ml.glmer({GLMER}, CB.to_numpy())", "data")
add(f"ml.bayes({BAYES}, None, {BKW})", "data")

# ============================================================ weights (lmer)
add(f"ml.lmer({LMER1}, S, weights=-np.ones(N))", "weights", "negative")
add(f"ml.lmer({LMER1}, S, weights=np.zeros(N))", "weights", "zero")
add(f"ml.lmer({LMER1}, S, weights=np.r_[0.0, np.ones(N - 1)])", "weights", "zero")
add(f"ml.lmer({LMER1}, S, weights=np.r_[np.inf, np.ones(N - 1)])", "weights", "infinite")
add(f"ml.lmer({LMER1}, S, weights='foo')", "weights", "column", "foo")
add(f"ml.lmer({LMER1}, S, weights='Subject')", "weights", "numeric")
add(f"ml.lmer({LMER1}, S, weights=np.ones(N - 1))", "weights", "length")
add(f"ml.lmer({LMER1}, S, weights=np.ones((N, 2)))", "weights", "length")
add(f"ml.lmer({LMER1}, S, weights=np.ones(N) + 1j)", "weights", "complex", "numbers")
add(f"ml.lmer({LMER1}, S, weights=np.ones(N, dtype=bool))", "weights", "bool")
add(f"ml.lmer({LMER1}, S, weights=pd.Series(np.ones(N), index=np.arange(N) + 1000))", "weights", "index")
add(f"ml.lmer({LMER1}, S, weights=1.0)", "weights", "length")
add(f"ml.lmer({LMER1}, S, weights=['a'] * N)", "weights", "numbers", "numeric")
add(f"ml.lmer({LMER1}, S, weights={{'a': 1}})", "weights")
add(f"ml.lmer({LMER1}, S, weights=np.full(N, 1e308) * 10)", "weights", "infinite")
add(f"ml.lmer({LMER1}, S, weights=np.full(N, 1e-300))", "weights")
add(f"ml.lmer({LMER1}, S, weights=True)", "weights")
add(f"ml.glmer({GLMER}, CB, weights='size')", "weights", "cbind")
add("ml.glmer('prop ~ period + (1 | herd)', CBP, weights=-CBP['size'])", "weights", "negative")
add("ml.glmer('prop ~ period + (1 | herd)', CBP, weights=CBP['size'] + 0.5)", "weights", "integer", "trials")
add("ml.glmer('prop ~ period + (1 | herd)', CBP, weights=np.zeros(len(CBP)))", "weights", "zero")
add("ml.glmer('prop ~ period + (1 | herd)', CBP, weights='herd')", "weights", "numeric")
add("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', weights=-np.ones(len(CB)))", "weights", "negative")
add(f"ml.bayes({BAYES}, S, weights=-np.ones(N), {BKW})", "weights", "negative")

# ============================================================ offset
add(f"ml.lmer({LMER1}, S, offset=np.r_[np.inf, np.zeros(N - 1)])", "offset", "infinite")
add(f"ml.lmer({LMER1}, S, offset='Subject')", "offset", "numeric")
add(f"ml.lmer({LMER1}, S, offset='foo')", "offset", "column", "foo")
add(f"ml.lmer({LMER1}, S, offset=np.zeros(N + 1))", "offset", "length")
add(f"ml.lmer({LMER1}, S, offset=np.zeros((N, 2)))", "offset", "length")
add(f"ml.lmer({LMER1}, S, offset=np.zeros(N) + 1j)", "offset", "complex", "numbers")
add(f"ml.lmer({LMER1}, S, offset=pd.Series(np.zeros(N), index=np.arange(N)[::-1] + 5))", "offset", "index")
add(f"ml.lmer({LMER1}, S, offset={{1, 2}})", "offset")
add(f"ml.lmer({LMER1}, S, offset=5.0)", "offset", "length")
add("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', offset='size')", "offset")
add("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', offset=np.log(CB['size'] - CB['size']))", "offset", "infinite")
add(f"ml.bayes({BAYES}, S, offset='foo', {BKW})", "offset", "column", "foo")

# ============================================================ family / link / nagq
add(f"ml.glmer({GLMER}, CB, family='x')", "family")
add(f"ml.glmer({GLMER}, CB, family=None)", "family")
add(f"ml.glmer({GLMER}, CB, family=1)", "family")
add(f"ml.glmer({GLMER}, CB, family='gaussian')", "family", "gaussian", "lmer")
add(f"ml.glmer({GLMER}, CB, family='Binomial')", "family")
add(f"ml.glmer({GLMER}, CB, family='binomial ')", "family")
add(f"ml.glmer({GLMER}, CB, family='gamma')", "family")
add(f"ml.glmer({GLMER}, CB, family=['binomial'])", "family")
add(f"ml.glmer({GLMER}, CB, family='poisson')", "family", "poisson", "cbind", "response")
add(f"ml.glmer({GLMER}, CB, link='x')", "link")
add(f"ml.glmer({GLMER}, CB, link='identity')", "link")
add(f"ml.glmer({GLMER}, CB, link='log')", "link")
add("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', link='identity')", "link")
add("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', link='logit')", "link")
add(f"ml.glmer({GLMER}, CB, link='')", "link")
add(f"ml.glmer({GLMER}, CB, link=1)", "link")
add(f"ml.glmer({GLMER}, CB, nagq=-1)", "nagq")
add(f"ml.glmer({GLMER}, CB, nagq=26)", "nagq")
add(f"ml.glmer({GLMER}, CB, nagq=1.5)", "nagq")
add(f"ml.glmer({GLMER}, CB, nagq='1')", "nagq")
add(f"ml.glmer({GLMER}, CB, nagq=True)", "nagq")
add(f"ml.glmer({GLMER}, CB, nagq=None)", "nagq")
add(f"ml.glmer({GLMER}, CB, nagq=np.nan)", "nagq")
add("ml.glmer('cbind(incidence, size - incidence) ~ period + (period | herd)', CB, nagq=5)", "nagq", "scalar", "quadrature")
add("ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | period)', CB, nagq=5)", "nagq", "scalar", "quadrature")

# ============================================================ optimizer / start / reml
add(f"ml.lmer({LMER}, S, optimizer='x')", "optimizer")
add(f"ml.lmer({LMER}, S, optimizer=None)", "optimizer")
add(f"ml.lmer({LMER}, S, optimizer='BOBYQA')", "optimizer")
add(f"ml.lmer({LMER}, S, optimizer=1)", "optimizer")
add(f"ml.lmer({LMER}, S, optimizer='')", "optimizer")
add(f"ml.lmer({LMER}, S, optimizer=['bobyqa'])", "optimizer")
add(f"ml.glmer({GLMER}, CB, optimizer='x')", "optimizer")
add(f"ml.glmer({GLMER}, CB, optimizer={{'name': 'bobyqa'}})", "optimizer")
add(f"ml.lmer({LMER}, S, start='x')", "start")
add(f"ml.lmer({LMER}, S, start=[1.0, 0.0])", "start")
add(f"ml.lmer({LMER}, S, start=[-1.0, 0.0, 1.0])", "start")
add(f"ml.lmer({LMER}, S, start=[np.nan, 0.0, 1.0])", "start")
add(f"ml.lmer({LMER}, S, start=[np.inf, 0.0, 1.0])", "start")
add(f"ml.lmer({LMER}, S, start=['a', 'b', 'c'])", "start")
add(f"ml.lmer({LMER}, S, start={{'Subject': 1.0}})", "start")
add(f"ml.lmer({LMER}, S, start=np.ones((1, 1, 3)))", "start")
add(f"ml.lmer({LMER}, S, start=True)", "start")
add(f"ml.lmer({LMER}, S, start=1.0)", "start")
add(f"ml.lmer({LMER}, S, reml='no')", "reml")
add(f"ml.lmer({LMER}, S, reml=None)", "reml")
add(f"ml.lmer({LMER}, S, reml=1)", "reml")
add(f"ml.lmer({LMER}, S, reml=0)", "reml")
add(f"ml.lmer({LMER}, S, reml='TRUE')", "reml")
add(f"ml.lmer({LMER}, S, REML=False)", "REML", "reml", "argument")
add(f"ml.glmer({GLMER}, CB, reml=False)", "reml", "argument")
add(f"ml.glmer({GLMER}, CB, start=[1.0])", "start", "argument")

# ============================================================ ml.bayes (rejected before sampling)
BB = f"ml.bayes({BAYES}, S, "
for arg, words in [
    ("priors=[ml.priors.normal(0, 1)]", ("priors",)),
    ("priors={'b': 1}", ("prior", "b")),
    ("priors={'bogus': ml.priors.normal(0, 1)}", ("prior", "bogus")),
    ("priors={'b': ml.priors.lkj(2)}", ("prior", "lkj")),
    ("priors={'cor': ml.priors.normal(0, 1)}", ("prior", "cor")),
    ("priors={'b': 'normal(0, 1)'}", ("prior",)),
    ("priors={'b': ml.priors.gamma(1, 1, on='precision')}", ("prior", "precision")),
    ("priors={'b_Dayz': ml.priors.normal(0, 1)}", ("prior", "b_Dayz")),
    ("priors={'nu': ml.priors.gamma(2, 0.1)}", ("prior", "nu")),
    ("priors={'sd': ml.priors.normal(0, 1)}", ("prior", "sd")),
    ("priors={'Intercept': ml.priors.normal(0, 1), 'b_Intercept': ml.priors.normal(0, 1)}", ("prior", "Intercept")),
    ("priors={1: ml.priors.normal(0, 1)}", ("prior",)),
    ("priors='normal'", ("priors",)),
    ("chains=0", ("chains",)), ("chains=-1", ("chains",)), ("chains=1.5", ("chains",)), ("chains='4'", ("chains",)),
    ("chains=True", ("chains",)), ("chains=None", ("chains",)),
    ("draws=0", ("draws",)), ("draws='x'", ("draws",)), ("draws=10.0", ("draws",)),
    ("warmup=-1", ("warmup",)), ("warmup=1.5", ("warmup",)),
    ("seed=-1", ("seed",)), ("seed=1.5", ("seed",)), ("seed='x'", ("seed",)), ("seed=True", ("seed",)),
    ("sampler='x'", ("sampler",)), ("sampler=None", ("sampler",)),
    ("target_accept=0", ("target_accept",)), ("target_accept=1", ("target_accept",)),
    ("target_accept=1.5", ("target_accept",)), ("target_accept='0.8'", ("target_accept",)),
    ("target_accept=np.nan", ("target_accept",)), ("target_accept=True", ("target_accept",)),
    ("max_tree_depth=0", ("max_tree_depth",)), ("max_tree_depth=1.5", ("max_tree_depth",)),
    ("chain_method='x'", ("chain_method",)), ("chain_method=None", ("chain_method",)),
    ("chain_method='Parallel'", ("chain_method",)),
    ("center='no'", ("center",)), ("keep_ranef='no'", ("keep_ranef",)), ("progress='no'", ("progress",)),
    ("family='x'", ("family",)), ("family='tweedie'", ("family",)), ("link='log'", ("link",)),
    ("family=None", ("family",)),
]:
    kw = BKW
    for k in ("chains", "draws", "warmup", "seed", "progress"):
        if arg.startswith(k + "="):
            kw = ", ".join(p for p in BKW.split(", ") if not p.startswith(k + "="))
    add(f"{BB}{arg}, {kw})", *words)
add(f"ml.bayes('cbind(incidence, size - incidence) ~ period + (1 | herd)', CB, family='binomial', sampler='collapsed', {BKW})", "sampler", "collapsed", "gaussian")
add(f"ml.bayes('Reaction ~ Days', S, sampler='collapsed', {BKW})", "sampler", "collapsed", "random")
add(f"ml.bayes({BAYES}, S, sampler='collapsed', priors={{'b': ml.priors.cauchy(0, 1)}}, {BKW})", "sampler", "collapsed", "prior", "normal")
add(f"ml.bayes('cbind(incidence, size - incidence) ~ period + (1 | herd)', CB, family='binomial', priors={{'sigma': ml.priors.exponential(1)}}, {BKW})", "prior", "sigma")
add(f"ml.bayes({BAYES}, S, foo=1, {BKW})", "foo", "argument")
add(f"ml.bayes({BAYES}, S, family='binomial', {BKW})", *F, "binomial", "response")

# ============================================================ ml.priors
for code, words in [
    ("ml.priors.normal(0, -1)", ("sd", "normal")), ("ml.priors.normal(0, 'x')", ("sd", "normal")),
    ("ml.priors.normal(np.nan, 1)", ("mu", "normal")), ("ml.priors.normal(0, 1, precision=1)", ("precision", "sd")),
    ("ml.priors.normal(0)", ("sd", "precision")), ("ml.priors.half_normal(np.nan)", ("scale",)),
    ("ml.priors.half_normal(np.inf)", ("scale",)), ("ml.priors.uniform(1, 0)", ("lo", "hi")),
    ("ml.priors.gamma(1, 1, on='x')", ("on",)), ("ml.priors.student_t(-1)", ("df",)),
    ("ml.priors.lkj(0)", ("eta",)), ("ml.priors.lkj(-1)", ("eta",)), ("ml.priors.exponential(0)", ("rate",)),
    ("ml.priors.cauchy(0, None)", ("scale",)), ("ml.priors.half_cauchy([1, 2])", ("scale",)),
    ("ml.priors.normal(0, 1, lower='x')", ("lower",)), ("ml.priors.student_t(3, 1, 1, lower=0)", ("lower",)),
    ("ml.priors.normal(0, True)", ("sd",)), ("ml.priors.gamma(0, 1)", ("shape",)),
]:
    add(code, *words)

# ============================================================ predict
add("LF.predict(S.drop(columns='Days'))", "newdata", "column", "Days")
add("LF.predict(S.drop(columns='Subject'))", "newdata", "column", "Subject")
add("LF.predict(s(Days=['a'] * N))", "newdata", "column", "Days")
add("LF.predict({'Days': [1, 2], 'Subject': ['308', '309']})", "newdata")
add("LF.predict(S.to_numpy())", "newdata", "data")
add("LF.predict([1, 2, 3])", "newdata", "data")
add("LF.predict(pd.DataFrame({'Days': [], 'Subject': []}))", "newdata", "rows")
add("LF.predict(S.iloc[:0])", "newdata", "rows")
add("LF.predict(s(Days=np.nan))", "newdata", "missing", "Days")
add("LF.predict(s(Days=np.inf))", "newdata", "infinite", "Days")
add("LF.predict(s(Subject='new'), allow_new_levels=False)", "allow_new_levels", "level")
add("LF.predict(S.head(6), random='no')", "random")
add("LF.predict(S.head(6), offset=np.zeros(3))", "offset", "length")
add("LF.predict(S.head(6), offset='foo')", "offset", "column", "foo")
add("LF.predict(offset='foo')", "offset")
add("LF.predict(S.head(6), foo=1)", "foo", "argument")
add("LF.predict(s(Days=pd.date_range('2020-01-01', periods=N)))", "newdata", "column", "Days", "date")
add("GF.predict(cb(period='9'))", "newdata", "level", "period")
add("GF.predict(CB, type='probability')", "type")
add("GF.predict(CB, type=None)", "type")
add("GF.predict(CB.drop(columns='herd'))", "newdata", "column", "herd")
add("GF.predict(cb(period=np.nan))", "newdata", "missing", "period")
add("GF.predict(CB, type='response', random=None)", "random")

# ============================================================ contest (L)
for code, words in [
    ("LF.contest([])", ("L",)), ("LF.contest([1])", ("L",)), ("LF.contest([1, 2, 3])", ("L",)),
    ("LF.contest('x')", ("L",)), ("LF.contest([[1, 2], [1]])", ("L",)), ("LF.contest([np.nan, 1])", ("L",)),
    ("LF.contest([0, 0])", ("L",)), ("LF.contest(np.zeros((2, 2, 2)))", ("L",)),
    ("LF.contest({'Days': 1})", ("L",)), ("LF.contest(pd.Series({'Days': 1.0}))", ("L",)),
    ("LF.contest(pd.DataFrame({'a': [1.0], 'b': [2.0], 'c': [3.0]}))", ("L",)),
    ("LF.contest([0, 1], ddf='x')", ("ddf",)), ("LF.contest([0, 1], joint='no')", ("joint",)),
    ("LF.contest(None)", ("L",)), ("LF.contest([0, 1j])", ("L",)), ("LF.contest([[0, 1], [0, 2]])", ("L",)),
]:
    add(code, *words)

# ============================================================ confint
for code, words in [
    ("LF.confint(parm='foo')", ("parm", "parameter")), ("LF.confint(parm=99)", ("parm", "parameter")),
    ("LF.confint(parm=-1)", ("parm", "parameter")), ("LF.confint(method='wald', parm=[])", ("parm", "parameter")),
    ("LF.confint(parm=1.5)", ("parm", "parameter")), ("LF.confint(parm=['Days', 'foo'])", ("parm", "parameter")),
    ("LF.confint(parm=True)", ("parm", "parameter")),
    ("LF.confint(level=0)", ("level",)), ("LF.confint(level=1)", ("level",)), ("LF.confint(level=95)", ("level",)),
    ("LF.confint(level='0.95')", ("level",)), ("LF.confint(level=np.nan)", ("level",)),
    ("LF.confint(method='x')", ("method",)), ("LF.confint(method=None)", ("method",)),
    ("LF.confint(method='wald', foo=1)", ("foo", "argument")),
    ("LF.confint(method='boot', nsim=0, seed=1, n_jobs=1)", ("nsim",)),
    ("LF.confint(method='boot', nsim=-5, seed=1, n_jobs=1)", ("nsim",)),
    ("LF.confint(method='boot', nsim='10', seed=1, n_jobs=1)", ("nsim",)),
    ("LF.confint(method='boot', nsim=2, seed='x', n_jobs=1)", ("seed",)),
    ("LF.confint(method='boot', nsim=2, seed=1, n_jobs='x')", ("n_jobs",)),
    ("LF.confint(method='boot', nsim=2, seed=1, n_jobs=1, boot_type='x')", ("boot_type",)),
    ("LF.confint(method='boot', nsim=2, seed=1, n_jobs=1, fun='x')", ("fun",)),
    ("LF.confint(method='boot', nsim=2, seed=1, n_jobs=1, foo=1)", ("foo", "argument")),
    ("GF.confint(parm='foo')", ("parm", "parameter")), ("GF.confint(level=2)", ("level",)),
    ("GF.confint(method='wald', parm=99)", ("parm", "parameter")),
    ("ml.glmer('cbind(incidence, size - incidence) ~ period + (period | herd)', CB).confint()", ("profile", "scalar", "method")),
]:
    add(code, *words)

# ============================================================ coef_table / anova method / summary / residuals / refit
for code, words in [
    ("LF.coef_table(ddf='x')", ("ddf",)), ("LF.coef_table(ddf=1)", ("ddf",)),
    ("LF.anova(type=4)", ("type",)), ("LF.anova(type='IV')", ("type",)), ("LF.anova(type=0)", ("type",)),
    ("LF.anova(ddf='x')", ("ddf",)), ("LF.anova(type=None)", ("type",)), ("LF.summary(ddf='x')", ("ddf",)),
    ("LF.residuals('x')", ("type", "residual")), ("LF.residuals(None)", ("type", "residual")),
    ("GF.residuals('pearsons')", ("type", "residual")),
    ("LF1.shrinkage(group='foo')", ("group", "grouping")), ("LF.shrinkage()", ("group", "intercept", "slope")),
    ("LF.refit(start='x')", ("start",)), ("LF.refit(reml='no')", ("reml",)), ("LF.refit(start=[1.0])", ("start",)),
    ("LF.variance_partition(fixed='no')", ("fixed",)), ("GF.variance_partition(fixed='no')", ("fixed",)),
    ("ml.glmer('y ~ period + (1 | herd)', cb(y=(CB['incidence'] > 0).astype(int))).check_overdispersion()", ("overdispersion", "Bernoulli")),
]:
    add(code, *words)

# ============================================================ after the fit
for code, words in [
    ("ml.emmeans(LF, 'day')", ("day", "predictor")),
    ("ml.emmeans(LF, 'Days', weights='bogus')", ("weights",)),
    ("ml.emmeans(LF, 'Days', at={'Days': 'x'})", ("at", "Days")),
    ("ml.emmeans(LF, 'Days', df='exact')", ("df",)),
    ("ml.emmeans(GF, 'period', df='kenward-roger')", ("df", "glmer")),
    ("ml.emmeans(GF, 'period', type='prob')", ("type",)),
    ("ml.emmeans(GF, 'period').pairs(adjust='tukee')", ("adjust",)),
    ("ml.emmeans(GF, 'period').contrast('pairs')", ("contrast",)),
    ("ml.emmeans(GF, 'period').contrast({'a': [1, -1]})", ("contrast", "coefficients")),
    ("ml.emmeans(GF, 'period').contrast('trt.vs.ctrl', ref=9)", ("ref",)),
    ("ml.emmeans(GF, 'period', level=95)", ("level",)),
    ("ml.effects(LF, 'Days', n=1)", ("n",)),
    ("ml.emmeans(GF, 'period', cov_reduce='max')", ("cov_reduce",)),
    ("ml.emmeans(LF, 'Days', cov_reduce={'Subject': 'range'})", ("cov_reduce", "Subject")),
    ("LF.hatvalues(kind='glm')", ("kind",)), ("GF.cooks_distance(kind=1)", ("kind",)),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='negative_binomial').hatvalues()", ("dispersion",)),
    ("ml.report(S)", ("fit",)), ("ml.report(LF, confint='bayes')", ("confint",)),
    ("ml.report(LF, level=95)", ("level",)), ("ml.report(LF, ddf='KR')", ("ddf",)),
    ("LF.report(figures='no')", ("figures",)), ("GF.report(title=1)", ("title",)),
    ("ml.report(LF, '/tmp')", ("directory",)), ("ml.report(LF, 3)", ("path",)),
    ("ml.report(LF, '/no/such/folder/fit.html')", ("folder",)),
    ("LF.predict(S, interval='credible')", ("interval",)),
    ("GF.predict(CB, interval='prediction')", ("prediction",)),
    ("LF.simulate(0)", ("nsim",)), ("LF.simulate(2, use_re='yes')", ("use_re",)),
    ("ml.power(LF, 'days', nsim=2)", ("test", "fixed effect")),
    ("ml.power(LF, 'Days', nsim=2, n_groups=[0])", ("n_groups",)),
    ("ml.power(LF, 'Days', nsim=2, group='herd')", ("group",)),
    ("ml.power(LF, 'Days', nsim=2, alpha=2)", ("alpha",)),
    ("ml.pbtest(LF, LF1, nsim=2)", ("smaller", "first")),
    ("ml.pbtest(LF1, GF, nsim=2)", ("lmer", "glmer")),
    ("LF.influence('herd')", ("groups", "column")),
    ("LF.influence('Subject', obs=True)", ("groups", "obs")),
    ("LF.check(nsim=1)", ("nsim",)),
    ("ml.lm('Reaction ~ Days + (1 | Subject)', S)", ("random", "lmer")),
    ("ml.glm('incidence ~ period', CB, family='gamma')", ("family", "gamma")),
    ("ml.lmlist('Reaction ~ Days', S)", ("lmlist", "formula")),
    ("ml.anova(ml.lm('Reaction ~ Days', S), GF)", ("linear", "GLMM")),
]:
    add(code, *words)

# ============================================================ ml.bootstrap
for code, words in [
    ("ml.bootstrap(LF1, nsim=0, seed=1, n_jobs=1)", ("nsim",)),
    ("ml.bootstrap(LF1, nsim=-1, seed=1, n_jobs=1)", ("nsim",)),
    ("ml.bootstrap(LF1, nsim=1.5, seed=1, n_jobs=1)", ("nsim",)),
    ("ml.bootstrap(LF1, nsim='100', seed=1, n_jobs=1)", ("nsim",)),
    ("ml.bootstrap(LF1, nsim=None, seed=1, n_jobs=1)", ("nsim",)),
    ("ml.bootstrap(LF1, nsim=2, seed=-1, n_jobs=1)", ("seed",)),
    ("ml.bootstrap(LF1, nsim=2, seed='x', n_jobs=1)", ("seed",)),
    ("ml.bootstrap(LF1, nsim=2, seed=1.5, n_jobs=1)", ("seed",)),
    ("ml.bootstrap(LF1, nsim=2, seed=True, n_jobs=1)", ("seed",)),
    ("ml.bootstrap(LF1, nsim=2, seed=1, n_jobs=0)", ("n_jobs",)),
    ("ml.bootstrap(LF1, nsim=2, seed=1, n_jobs=-2)", ("n_jobs",)),
    ("ml.bootstrap(LF1, nsim=2, seed=1, n_jobs='x')", ("n_jobs",)),
    ("ml.bootstrap(LF1, nsim=2, seed=1, n_jobs=1.5)", ("n_jobs",)),
    ("ml.bootstrap(None, nsim=2, seed=1, n_jobs=1)", ("fit", "model")),
    ("ml.bootstrap(S, nsim=2, seed=1, n_jobs=1)", ("fit", "model")),
    ("ml.bootstrap(LF1, nsim=2, seed=1, n_jobs=1, fun='x')", ("fun",)),
    ("ml.bootstrap(LF1, nsim=2, seed=1, n_jobs=1, fun=lambda f: 'x')", ("fun",)),
    ("ml.bootstrap(LF1, nsim=2, seed=1, n_jobs=1, fun=lambda f: None)", ("fun",)),
    ("ml.bootstrap(LF1, nsim=2, seed=1, n_jobs=1, fun=lambda: 1.0)", ("fun",)),
    ("ml.bootstrap(GF, nsim=2, seed=1, n_jobs=1, fun=lambda f: np.zeros((2, 2)))", ("fun",)),
]:
    add(code, *words)

# ============================================================ ml.anova
for code, words in [
    ("ml.anova(LF)", ("anova", "models", "2")), ("ml.anova()", ("anova", "models", "2")),
    ("ml.anova(LF, 'x')", ("argument", "fitted model")), ("ml.anova(LF1, GF)", ("linear", "GLMM", "kind")),
    ("ml.anova(LF1, ml.lmer('Reaction ~ Days + (1 | Subject)', S.iloc[:170]))", ("observations", "rows")),
    ("ml.anova(LF1, LF, names=['a'])", ("names",)), ("ml.anova(LF1, LF, names=['a', 'a'])", ("names",)),
    ("ml.anova(LF1, LF, names=5)", ("names",)), ("ml.anova(LF1, LF, refit='no')", ("refit",)),
    ("ml.anova(GF, GFP)", ("famil", "link")),
    ("ml.anova(LF1, ml.lmer('log(Reaction) ~ Days + (1 | Subject)', S))", ("response",)),
    ("ml.anova(GF, GF25)", ("quadrature", "nagq")),
    ("ml.anova(LF1, LF, names='ab')", ("names",)),
    ("ml.anova(LF1, LF1)", ("same", "identical", "model")),
]:
    add(code, *words)

# ============================================================ save / load / datasets
for code, words in [
    ("ml.load(TMP / 'missing.zip')", ("path", "saved result", "file")),
    ("ml.load(TMP / 'a_directory')", ("path", "saved result", "file", "directory")),
    ("ml.load(TMP / 'not_a_zip.zip')", ("path", "saved result", "file")),
    ("ml.load(TMP / 'no_manifest.zip')", ("path", "saved result", "file")),
    ("ml.load(TMP / 'bad_manifest.zip')", ("path", "saved result", "file", "version")),
    ("ml.load(None)", ("path",)), ("ml.load(123)", ("path",)), ("ml.load('')", ("path", "saved result", "file")),
    ("LF.save(None)", ("path",)), ("LF.save(TMP / 'no_such_dir' / 'fit.zip')", ("path", "directory", "folder")),
    ("LF.save('')", ("path",)), ("LF.save(123)", ("path",)), ("GF.save(TMP / 'a_directory')", ("path", "directory")),
    ("ml.datasets.load('foo')", ("name", "data set", "dataset")), ("ml.datasets.load(None)", ("name", "data set", "dataset")),
    ("ml.datasets.load(1)", ("name", "data set", "dataset")), ("ml.datasets.load('SleepStudy')", ("name", "data set", "dataset")),
    ("ml.datasets.load(['sleepstudy'])", ("name", "data set", "dataset")),
]:
    add(code, *words)

# ============================================================ plots
for code, words in [
    ("ml.plots.caterpillar(LF1, group='foo')", ("group", "grouping")),
    ("ml.plots.caterpillar(LF1, level=2)", ("level",)), ("ml.plots.caterpillar(LF1, level='x')", ("level",)),
    ("ml.plots.caterpillar(LF1, ax='x')", ("ax",)), ("ml.plots.caterpillar(None)", ("fit", "model")),
    ("ml.plots.caterpillar(S)", ("fit", "model")),
    ("ml.plots.item_curves(LF1)", ("fit", "IRT", "binomial")), ("ml.plots.item_curves(RF, theta_grid='x')", ("theta_grid",)),
    ("ml.plots.item_curves(RF, ax=1)", ("ax",)),
    ("ml.plots.trace({})", ("draws",)), ("ml.plots.trace({'a': np.zeros(3)})", ("draws", "shape")),
    ("ml.plots.trace(D, params='foo')", ("params", "parameter")), ("ml.plots.trace(D, params=[])", ("params", "parameter")),
    ("ml.plots.trace(None)", ("posterior", "draws")), ("ml.plots.trace({'a': [['x', 'y']]})", ("draws",)),
    ("ml.plots.trace(D, ax=[1, 2])", ("ax",)),
    ("ml.plots.density(None)", ("posterior", "draws")), ("ml.plots.density(D, pooled='no')", ("pooled",)),
    ("ml.plots.density(D, params=3)", ("params", "parameter")), ("ml.plots.density({'a': np.full((2, 5), np.nan)})", ("draws", "finite", "missing")),
]:
    add(code, *words)

# ============================================================ irt
for code, words in [
    ("ml.irt.rasch(LF1)", ("IRT", "binomial", "fit")), ("ml.irt.rasch(GF)", ("IRT", "item")),
    ("ml.irt.rasch(None)", ("IRT", "fit")), ("ml.irt.rasch(ml.glmer('y ~ item + (1 | person)', R100))", ("IRT", "Intercept", "0 +")),
    ("ml.irt.item_curves(RF, theta_grid=[np.nan])", ("theta_grid",)), ("ml.irt.item_curves(RF, theta_grid='x')", ("theta_grid",)),
    ("ml.irt.item_curves(RF, theta_grid=[])", ("theta_grid",)), ("ml.irt.item_curves(RF, theta_grid=np.zeros((2, 2)))", ("theta_grid",)),
]:
    add(code, *words)


# ============================================== families with a dispersion, ordinal
for code, words in [
    ("ml.glmer('incidence ~ period + (1 | herd)', cb(incidence=-CB['incidence']), family='negative_binomial')",
     ("incidence", "negative", "count")),
    ("ml.glmer('prop ~ period + (1 | herd)', CBP, family='nbinom1')", ("prop", "integer", "count")),
    ("ml.glmer('prop ~ period + (1 | herd)', CBP, family='gamma')", ("prop", "<= 0", "Gamma")),
    ("ml.glmer('prop ~ period + (1 | herd)', CBP, family='beta')", ("prop", "beta", "between 0 and 1")),
    ("ml.glmer(" + GLMER + ", CB, family='negative_binomial')", ("cbind", "binomial")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='gamma', link='logit')", ("link", "gamma")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='tweedie')", ("family", "tweedie")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family=2)", ("family",)),
    ("ml.glm('incidence ~ period', CB, family='negative_binomial')", ("glmer", "theta")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='cumulative')", ("clmm",)),
    ("ml.clmm('incidence ~ period + (1 | herd)', CB)", ("incidence", "ordered categorical")),
    ("ml.clmm('period ~ size + (1 | herd)', CB)", ("period", "ordered categorical")),
    ("ml.clmm('r ~ size + (1 | herd)', cb(r=pd.Categorical(CB['period'], ordered=True)), link='cauchit')", ("link",)),
    ("ml.clmm('r ~ 0 + size + (1 | herd)', cb(r=pd.Categorical(CB['period'], ordered=True)))", ("intercept",)),
    ("ml.clmm('r ~ size', cb(r=pd.Categorical(CB['period'], ordered=True)))", ("random-effects",)),
    ("ml.clmm('r ~ size + (1 | herd)', cb(r=pd.Categorical(CB['period'], categories=['1', '2', '3', '4', '5'], ordered=True)))",
     ("categories", "5")),
    ("ml.clmm('r ~ size + (1 | herd)', cb(r=pd.Categorical(CB['period'], ordered=True)), nagq=0)", ("nagq",)),
    ("GFP.residuals('deviancee')", ("type", "deviancee")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', zi='~ perio')", ("perio",)),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', zi=['~ 1'])", ("zi",)),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', zi='~ (1 | herd)')", ("zi", "fixed-effects")),
    ("ml.glmer(" + GLMER + ", CB, zi='~ 1')", ("zi", "binomial")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', zi='~ 1 + offset(perio)')", ("perio",)),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson', zi='~ 1 + offset(herd)')",
     ("offset(herd)",)),
    ("ml.lmer('Reaction ~ Days + (1 | Subject)', S, dispformula='~ offset(Days)')", ("dispformula", "offset")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='betabinomial')", ("beta-binomial", "cbind")),
    ("ml.glmer('cbind(incidence > 0, incidence == 0) ~ period + (1 | herd)', CB, family='betabinomial')",
     ("more than one trial", "binomial")),
]:
    add(code, *words)


# ------------------------------------- ml.bayes with the dispersion and ordinal families
R = "cb(r=pd.Categorical(CB['period'], ordered=True))"
for code, words in [
    (f"ml.bayes({BAYES}, S, family='gamma', link='inverse', {BKW})", ("link", "inverse", "gamma")),
    (f"ml.bayes({BAYES}, S, family='beta', {BKW})", ("Reaction", "beta", "between 0 and 1")),
    (f"ml.bayes({BAYES}, S, family='negative_binomial', {BKW})", ("Reaction", "integer", "count")),
    (f"ml.bayes({BAYES}, S, family='nbinom1', {BKW})", ("Reaction", "integer", "count")),
    (f"ml.bayes('incidence ~ period + (1 | herd)', CB, family='betabinomial', {BKW})", ("incidence", "proportions", "cbind")),
    (f"ml.bayes({BAYES}, S, family='gamma', priors={{'shape': ml.priors.normal(0, 1)}}, {BKW})", ("shape", "below 0")),
    (f"ml.bayes({BAYES}, S, family='gamma', priors={{'phi': ml.priors.gamma(1, 1)}}, {BKW})", ("prior", "phi")),
    (f"ml.bayes({BAYES}, S, family='cumulative', {BKW})", ("Reaction", "ordered categorical")),
    (f"ml.bayes('r ~ 0 + size + (1 | herd)', {R}, family='cumulative', {BKW})", ("intercept",)),
    (f"ml.bayes('r ~ size + (1 | herd)', {R}, family='cumulative', priors={{'Intercept': ml.priors.half_normal(1)}}, {BKW})",
     ("Intercept", "real line")),
    (f"ml.bayes('r ~ size + (1 | herd)', {R}, family='cumulative', link='log', {BKW})", ("link", "log")),
]:
    add(code, *words)


# ------------------------------------------- zero inflation in ml.bayes, covariance structures
for code, words in [
    (f"ml.bayes({BAYES}, S, zi='~ Days', {BKW})", ("zi", "gaussian")),
    (f"ml.bayes('incidence ~ period + (1 | herd)', CB, family='poisson', zi='~ perio', {BKW})", ("perio",)),
    (f"ml.bayes('incidence ~ period + (1 | herd)', cb(incidence=CB['incidence'] + 1), family='poisson', zi='~ 1', "
     f"{BKW})", ("zi", "no zeros")),
    (f"ml.bayes('incidence ~ period + (1 | herd)', CB, family='poisson', zi='~ 1', "
     f"priors={{'b_zi': ml.priors.normal(0, 1)}}, {BKW})", ("prior", "b_zi")),
    (f"ml.bayes('incidence ~ period + (1 | herd)', CB, family='poisson', zi='~ 1', "
     f"priors={{'Intercept_zi': ml.priors.lkj(1)}}, {BKW})", ("Intercept_zi", "lkj")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CB, family='poisson').predict(type='zprob')", ("zprob", "zi=")),
    (f"ml.bayes('incidence ~ period + (1 | herd)', CB, family='poisson', {BKW}).epred(dpar='zi')", ("dpar", "zi")),
    ("ml.lmer('Reaction ~ Days + ar1(0 + o | Subject)', s(o=S['Days'].astype(str)))", ("ar1", "order", "o")),
    ("ml.lmer('Reaction ~ Days + ar1(0 + o | Subject)', s(o=pd.Categorical(S['Days'])))", ("ar1", "unordered", "ordered")),
    ("ml.lmer('Reaction ~ Days + ar1(0 + C(w) | Subject)', s(w=S['Days'] ** 2))", ("ar1", "equally spaced", "w")),
    ("ml.lmer('Reaction ~ Days + ar1(1 + Days | Subject)', S)", ("ar1", "one column per occasion")),
    ("ml.lmer('Reaction ~ Days + ar1(0 + o | Subject)', s(o=pd.Categorical(S['Days'], ordered=True)))"
     ".predict(S.head())", ("random-effects matrix", "newdata", "o")),
    ("ml.lmer('Reaction ~ Days + cs(1 | Subject)', S)", ("cs", "2 columns")),
    ("ml.lmer('Reaction ~ Days + cs(0 + Days || Subject)', S)", ("cs", "one bar")),
    ("ml.lmer('Reaction ~ Days + cs(0 + C(Days) | Subject)', S)", ("cs", "random intercept", "(1 | Subject)")),
    ("ml.lmer('Reaction ~ Days + hcs(1 + Days | Subject)', S).confint(method='profile', parm='rho')",
     ("parm", "rho")),
    ("ml.lmer('Reaction ~ Days + hcs(1 + Days | Subject)', S).coef_table(ddf='kenward-roger')",
     ("Kenward-Roger", "satterthwaite")),
    (f"ml.bayes('Reaction ~ Days + hcs(1 + Days | Subject)', S, priors={{'rho': ml.priors.normal(0, 1)}}, {BKW})",
     ("rho", "uniform(a, b)")),
    (f"ml.bayes('Reaction ~ Days + hcs(1 + Days | Subject)', S, priors={{'rho_Subject': ml.priors.uniform(-2, 1)}}, {BKW})",
     ("rho_Subject", "-1 <= a < b <= 1")),
    (f"ml.bayes('Reaction ~ Days + cs(0 + C(Days) | Subject)', S, {BKW})", ("cs", "random intercept", "(1 | Subject)")),
    ("ml.lmer(" + LMER1 + ", S, dispformula='~ 0 + Days')", ("dispformula", "intercept")),
    ("ml.lmer(" + LMER1 + ", S, dispformula='~ Dayz')", ("dispformula", "Dayz")),
    ("ml.lmer(" + LMER1 + ", S, dispformula=['~ Days'])", ("dispformula",)),
    ("ml.lmer(" + LMER1 + ", S, residual='ar1(Days)')", ("residual", "ar1(time | g)")),
    ("ml.lmer(" + LMER1 + ", S, residual='ar1(Subject | Subject)')", ("residual", "numeric")),
    ("ml.lmer(" + LMER1 + ", S, residual='cs(1 | Subject)')", ("residual", "random intercept")),
    ("ml.lmer(" + LMER1 + ", S, residual='cs(1 | Days)')", ("residual", "nested")),
    ("ml.lmer(" + LMER1 + ", s(t=S['Days'] // 2), residual='ar1(t | Subject)')", ("residual", "same time")),
    ("ml.lmer(" + LMER1 + ", S, residual=1)", ("residual",)),
    ("ml.lmer(" + LMER1 + ", S, residual='ar1(Days | Subject)').hatvalues()", ("hat values", "residual")),
    ("ml.lmer(" + LMER1 + ", S, dispformula='~ Days').icc()", ("ICC", "dispformula")),
    # data in parts (DS: sleepstudy as a Dask frame of 3 parts; LFD its lmer fit)
    ("ml.lmer('Reaction ~ scale(Days) + (1 | Subject)', DS)", ("scale", "parts")),
    ("ml.lmer('Reaction ~ poly(Days, 2) + (1 | Subject)', DS)", ("poly", "parts")),
    ("ml.lmer(" + LMER1 + ", DS, weights=np.ones(N))", ("weights", "column name")),
    ("ml.lmer(" + LMER1 + ", DS, weights='Dayz')", ("weights", "Dayz")),
    ("ml.lmer(" + LMER1 + ", DS, weights='Subject')", ("weights", "numeric")),
    ("ml.lmer(" + LMER1 + ", DS, dispformula='~ Days')", ("dispformula", "parts")),
    ("ml.lmer(" + LMER1 + ", DS, residual='ar1(Days | Subject)')", ("residual", "parts")),
    ("ml.lmer('Reaction ~ Dayz + (1 | Subject)', DS)", ("Dayz",)),
    ("ml.lmer('Reaction ~ Days + (1 | Subjct)', DS)", ("Subjct",)),
    ("ml.lmer('Subject ~ Days + (1 | Subject)', DS)", ("response", "numeric")),
    ("ml.lmer(" + LMER1 + ", str(TMP / 'none*.parquet'))", ("Parquet",)),
    ("ml.lmer(" + LMER1 + ", str(TMP / 'a_directory'))", ("Parquet",)),
    ("ml.lmer(" + LMER1 + ", dd.from_pandas(s(Reaction=1.0), npartitions=2))", ("response", "constant")),
    ("ml.lmer('Reaction ~ Days + (1 | Subject)', dd.from_pandas(s(Subject='a'), npartitions=2))",
     ("Subject", "level")),
    ("LFD.hatvalues()", ("hatvalues", "parts")),
    ("LFD.confint(method='profile')", ("confint", "Wald")),
    ("LFD.coef_table(ddf='kenward-roger')", ("Kenward-Roger", "satterthwaite")),
    ("ml.bootstrap(LFD, nsim=2)", ("bootstrap", "parts")),
    ("ml.power(LFD, 'Days', effect=1.0, nsim=2)", ("power", "parts")),
    ("ml.emmeans(LFD, 'Days')", ("marginal", "parts")),
    ("LFD.design.y", ("rows", "parts")),
    ("LFD.save(TMP / 'fit.zip')", ("save", "parts")),
    ("LFD.residuals('bogus')", ("type", "bogus")),
    # glmer and bayes on data in parts (CBD: cbpp with prop = incidence / size, 3 parts; GFD its glmer fit)
    ("ml.glmer('cbind(incidence, size - incidence) ~ period + (1 | herd)', CBD)", ("cbind", "weights=")),
    ("ml.glmer('prop ~ period + (1 | herd)', CBD, weights='size', family='gamma')", ("gamma", "memory")),
    ("ml.glmer('prop ~ period + (1 | herd)', CBD, weights='size', nagq=5)", ("nagq", "1")),
    ("ml.glmer('incidence ~ period + (1 | herd)', CBD, family='poisson', zi='~ 1')", ("zi=", "parts")),
    ("ml.glmer('prop ~ period + (1 | herd)', CBD)", ("non-integer", "weights")),
    ("ml.glmer('prop ~ period + (1 | herd)', CBD, weights='sizze')", ("sizze",)),
    ("GFD.confint(method='profile')", ("confint", "Wald")),
    ("GFD.residuals('bogus')", ("type", "bogus")),
    ("GFD.save(TMP / 'gfit.zip')", ("save", "parts")),
    ("ml.bootstrap(GFD, nsim=2)", ("bootstrap", "parts")),
    ("ml.emmeans(GFD, 'period')", ("marginal", "parts")),
    ("ml.bayes('Reaction ~ Days + (1 | Subject)', DS, family='poisson')", ("gaussian", "parts")),
    ("ml.bayes('Reaction ~ Days + (1 | Subject)', DS, sampler='nuts')", ("collapsed", "nuts")),
    # generalized least squares, and a structured term carrying the residual covariance
    ("ml.gls('Reaction ~ Days + (1 | Subject)', S)", ("fixed effects only", "ml.lmer")),
    ("ml.gls('Reaction ~ Dayz', S)", ("Dayz",)),
    ("ml.gls(1, S)", ("formula",)),
    ("ml.gls('Reaction ~ Days', S, reml='yes')", ("reml",)),
    ("ml.gls('Reaction ~ Days', S, residual='us(Days | Days)')", ("residual", "same occasion")),
    ("ml.gls('Reaction ~ Days', S, residual='us(1 | Subject)')", ("residual", "occasion")),
    ("ml.gls('Reaction ~ Days', S, residual='us(Dayz | Subject)')", ("residual", "Dayz")),
    ("ml.gls('Reaction ~ Days', S, residual='ar1(Days | Subject)', weights=np.zeros(N))", ("weight", "0")),
    ("ml.gls('Reaction ~ Days', S, dispformula='~ 0')", ("dispformula", "ml.lmer")),
    ("ml.gls('Reaction ~ Days', S, residual='ar1(Days | Subject)').residuals('bogus')", ("type", "bogus")),
    ("ml.emmeans(ml.gls('Reaction ~ Days', S, residual='ar1(Days | Subject)'), 'Days', df='kenward-roger')",
     ("Kenward-Roger", "gls")),
    ("ml.lmer('Reaction ~ Days + (1 | Subject)', S, dispformula='~ 0')", ("dispformula", "term")),
    ("ml.lmer('Reaction ~ Days + (0 + Days | Subject)', S, dispformula='~ 0')", ("dispformula", "indicator")),
    ("ml.lmer(" + LMER1 + ", S, residual='us(Days | Subject)')", ("residual", "ml.gls")),
]:
    add(code, *words)


# ------------------------------------------------------------------- running
def _last_frame(tb) -> tuple[str, int]:
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename, tb.tb_lineno


def _short(path: str) -> str:
    p = Path(path)
    try:
        return "multilevel/" + str(p.resolve().relative_to(PACKAGE_DIR))
    except (OSError, ValueError):
        pass
    m = re.search(r"site-packages/(.*)$", path)
    return m.group(1) if m else path


def _in_package(path: str) -> bool:
    try:
        return Path(path).resolve().is_relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return False


def _names(message: str, words) -> bool:
    for w in words:
        if w == "L":
            if re.search(r"(?<![A-Za-z0-9_])L(?![A-Za-z0-9_])", message):
                return True
        elif re.search(r"(?<![A-Za-z0-9_])" + re.escape(w), message, flags=re.IGNORECASE):
            return True
    return False


def _one_line(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def classify(code: str, words) -> tuple[str, str]:
    here = os.getcwd()
    import matplotlib.pyplot as plt

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            os.chdir(TMP)
            try:
                eval(code, globals())  # noqa: S307 - the cases are this file's own expressions
            finally:
                os.chdir(here)
                plt.close("all")
        except StoppedBeforeSampling:
            note = " (stopped before sampling)"
        except Exception as exc:  # noqa: BLE001
            where, line = _last_frame(exc.__traceback__)
            msg = str(exc)
            kind = type(exc).__name__
            if isinstance(exc, (ValueError, TypeError)) and _in_package(where):
                if "\n" in msg.strip():
                    return "internal error", f"{kind} from {_short(where)}:{line}, message not one line: {_one_line(msg)}"
                if not _names(msg, words):
                    return "internal error", (f"{kind} from {_short(where)}:{line}, message names none of "
                                              f"{'/'.join(words)}: {_one_line(msg)}")
                return "clear error", f"{kind}: {_one_line(msg)}"
            if where == "<string>" and kind == "TypeError" and "unexpected keyword argument" in msg:
                # Python's own check of the call's signature, raised in the caller's frame
                return "internal error", f"{kind} from Python's signature check (caller's frame): {_one_line(msg)}"
            return "internal error", f"{kind} from {_short(where)}:{line}: {_one_line(msg)}"
        else:
            note = ""
    ws = [w for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))
          or "multilevel" in str(w.filename)]
    if ws:
        first = ws[0]
        more = f" (+{len(ws) - 1} more)" if len(ws) > 1 else ""
        return "warning", f"{first.category.__name__}{note}: {_one_line(first.message, 140)}{more}"
    return "accepted", note.strip()


def main() -> int:
    _setup()
    _install_sampling_stub()
    codes = [c for c, _ in CASES]
    dup = {c for c in codes if codes.count(c) > 1}
    if dup:
        print("duplicate cases:", *sorted(dup), sep="\n  ", file=sys.stderr)
        return 2
    counts: Counter = Counter()
    try:
        for i, (code, words) in enumerate(CASES, 1):
            outcome, detail = classify(code, words)
            counts[outcome] += 1
            detail = detail.replace(str(TMP), "<TMP>")
            print(f"{i:03d} | {outcome:14s} | {code} | {detail}", flush=True)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print()
    print(f"{len(CASES)} inputs:", ", ".join(f"{k} {counts[k]}" for k in
                                          ("clear error", "internal error", "warning", "accepted")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
