"""Prior distributions for Bayesian multilevel models, and how they attach to parameters.

A prior is a small frozen object (:class:`Prior`) made by one of the functions
below; ``ml.bayes(..., priors={...})`` takes a dict of them keyed by brms-style
parameter classes:

==========================  =====================================================
key                         parameters it sets
==========================  =====================================================
``"b"``                     every fixed effect except the intercept
``"b_<coef>"``              one fixed effect, e.g. ``"b_femaleF"``
``"Intercept"``             the intercept (see ``center`` in ``ml.bayes``), or
                            every threshold of a cumulative model
``"sd"``                    every random-effect standard deviation
``"sd_<group>"``            the standard deviations of one grouping factor
``"sd_<group>__<coef>"``    one standard deviation, e.g. ``"sd_school__femaleF"``
``"cor"``, ``"cor_<group>"``  the correlation matrices (``lkj`` only)
``"rho"``, ``"rho_<group>"``  the correlation of a structured term (``cs``,
                            ``hcs``, ``ar1``): ``uniform(a, b)`` within the
                            interval the structure allows (by default all
                            of it: ``(-1, 1)`` for ar1, ``(-1/(k-1), 1)``
                            for cs and hcs)
``"sigma"``                 the residual standard deviation (gaussian, student)
``"nu"``                    the degrees of freedom of the student family
``"shape"``                 the shape of the negative_binomial (variance
                            ``mu + mu^2 / shape``) and gamma families
``"phi"``                   the precision of the beta and betabinomial
                            families, the dispersion of nbinom1 (variance
                            ``mu (1 + phi)``)
``"Intercept_zi"``          the zero-inflation model's intercept (``zi=``), on
                            the logit scale of the structural-zero probability
``"b_zi"``, ``"b_zi_<coef>"``  the zero-inflation model's other coefficients
==========================  =====================================================

The most specific key wins (``"b_femaleF"`` over ``"b"``). Random-effect
coefficient names use ``Intercept`` for lme4's ``(Intercept)``.

This module imports neither JAX nor NumPyro; the distributions are built when
a model is sampled.

Examples
--------
>>> from multilevel.bayes import priors
>>> priors.normal(0, 10)
normal(0, 10)
>>> priors.normal(0, precision=0.01)    # JAGS's dnorm(0, 0.01)
normal(0, precision=0.01)
>>> priors.gamma(0.001, 0.001, on="precision")   # JAGS's dgamma(0.001, 0.001) on 1/sd^2
gamma(0.001, 0.001, on="precision")
>>> priors.half_normal(-1)
Traceback (most recent call last):
...
ValueError: half_normal: scale must be a positive finite number, not -1
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Prior", "normal", "student_t", "cauchy", "logistic", "half_normal", "half_student_t",
           "half_cauchy", "exponential", "uniform", "gamma", "lkj"]

#: distributions whose support is the whole real line (unless truncated with ``lower``)
_REAL = {"normal", "student_t", "cauchy", "logistic"}
#: distributions on the positive half-line
_POSITIVE = {"half_normal", "half_student_t", "half_cauchy", "exponential", "gamma"}


def _fmt(x: float) -> str:
    """A number as a prior's text shows it: up to 4 significant digits."""
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}"


@dataclass(frozen=True)
class Prior:
    """A prior distribution for one class of parameters.

    Make priors with the functions of this module (``normal``, ``half_cauchy``,
    ...), not with this class directly.

    Attributes
    ----------
    dist : str
        ``"normal"``, ``"student_t"``, ``"cauchy"``, ``"logistic"``, ``"half_normal"``,
        ``"half_student_t"``, ``"half_cauchy"``, ``"exponential"``,
        ``"uniform"``, ``"gamma"`` or ``"lkj"``.
    params : tuple of float
        The distribution's parameters in a fixed order: normal (mu, sd);
        student_t (df, mu, scale); cauchy (mu, scale); logistic (mu, scale); half_normal (scale);
        half_student_t (df, scale); half_cauchy (scale); exponential (rate);
        uniform (lo, hi); gamma (shape, rate); lkj (eta).
    lower : float or None
        Truncation point for normal, student_t and cauchy (a prior that lives
        on ``[lower, inf)``); None for none.
    on : {"value", "precision"}
        For gamma: ``"precision"`` puts the gamma on ``1 / x**2`` of the
        standard deviation ``x`` it is given to (the Jacobian of the change of
        variables is included, so the implied prior on ``x`` is exact).
    text : str
        How the prior prints.

    Examples
    --------
    >>> p = normal(0, 2.5, lower=0)
    >>> p.dist, p.params, p.lower, p.support
    ('normal', (0.0, 2.5), 0.0, 'positive')
    """

    dist: str
    params: tuple[float, ...]
    lower: float | None = None
    on: str = "value"
    text: str = field(default="", compare=False)

    def __repr__(self) -> str:
        return self.text or f"{self.dist}({', '.join(_fmt(v) for v in self.params)})"

    __str__ = __repr__

    @property
    def support(self) -> str:
        """``"real"``, ``"positive"`` (a subset of ``[0, inf)``), ``"interval"`` or ``"correlation"``.

        Examples
        --------
        >>> normal(0, 1).support, half_cauchy(1).support, uniform(-1, 1).support, lkj(2).support
        ('real', 'positive', 'interval', 'correlation')
        """
        if self.dist == "lkj":
            return "correlation"
        if self.dist in _POSITIVE:
            return "positive"
        if self.dist == "uniform":
            return "positive" if self.params[0] >= 0 else "interval"
        if self.lower is not None:
            return "positive" if self.lower >= 0 else "interval"
        return "real"

    @property
    def kind(self) -> tuple:
        """What must agree for priors to be drawn as one vector: (dist, truncated, on).

        Examples
        --------
        >>> normal(0, 1).kind == normal(3, 2).kind, normal(0, 1).kind == normal(0, 1, lower=0).kind
        (True, False)
        """
        return (self.dist, self.lower is not None, self.on)

    @property
    def values(self) -> tuple[float, ...]:
        """The numbers that vary between priors of one kind: params, then ``lower``.

        Examples
        --------
        >>> half_student_t(3, 2.5).values, normal(0, 1, lower=0).values
        ((3.0, 2.5), (0.0, 1.0, 0.0))
        """
        return self.params + ((self.lower,) if self.lower is not None else ())

    def scaled(self, factor: float) -> "Prior":
        """The same prior with its scale multiplied by ``factor`` (used for autoscaling).

        Examples
        --------
        >>> normal(0, 2.5).scaled(10)
        normal(0, 25)
        """
        p = list(self.params)
        d = self.dist
        if d == "normal":
            p[1] *= factor
        elif d == "student_t":
            p[2] *= factor
        elif d in ("cauchy", "logistic", "half_student_t"):
            p[1] *= factor
        elif d in ("half_normal", "half_cauchy"):
            p[0] *= factor
        elif d == "exponential":
            p[0] /= factor
        else:
            raise ValueError(f"{d} priors are not rescaled")
        return _make(d, tuple(p), self.lower, self.on)


def _text(dist: str, params, lower, on, precision: float | None = None) -> str:
    if precision is not None:
        body = f"{_fmt(params[0])}, precision={_fmt(precision)}"
    else:
        body = ", ".join(_fmt(v) for v in params)
    if lower is not None:
        body += f", lower={_fmt(lower)}"
    if on != "value":
        body += f', on="{on}"'
    return f"{dist}({body})"


def _make(dist, params, lower=None, on="value", precision=None) -> Prior:
    params = tuple(float(v) for v in params)
    lower = None if lower is None else float(lower)
    return Prior(dist, params, lower, on, _text(dist, params, lower, on, precision))


def _finite(name: str, what: str, x) -> float:
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name}: {what} must be a number, not {x!r}")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} must be a number, not {x!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name}: {what} must be a finite number, not {x!r}")
    return v


def _positive(name: str, what: str, x) -> float:
    if isinstance(x, (bool, np.bool_)):
        raise ValueError(f"{name}: {what} must be a positive number, not {x!r}")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {what} must be a positive number, not {x!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}: {what} must be a positive finite number, not {x!r}")
    return v


def _lower(name: str, lower) -> float | None:
    return None if lower is None else _finite(name, "lower", lower)


def normal(mu: float = 0.0, sd: float | None = None, *, precision: float | None = None,
           lower: float | None = None) -> Prior:
    """Normal prior with mean ``mu`` and standard deviation ``sd`` (or ``precision`` = 1/sd^2).

    Parameters
    ----------
    mu : float, default 0
    sd : float
        Standard deviation (> 0). Give either ``sd`` or ``precision``.
    precision : float, optional
        ``1 / sd**2``, as JAGS's ``dnorm(mu, precision)`` is written.
    lower : float, optional
        Truncate to ``[lower, inf)``; ``lower=0`` makes a prior for a
        standard deviation (brms's ``lb = 0``).

    Returns
    -------
    Prior

    Examples
    --------
    >>> normal(0, 10)
    normal(0, 10)
    >>> normal(0, precision=1 / (100 * 4.0 ** 2))   # dnorm(0, 1/(100*sdY^2)) with sdY = 4
    normal(0, precision=0.000625)
    >>> normal(0, 10, lower=0)
    normal(0, 10, lower=0)
    """
    mu = _finite("normal", "mu", mu)
    if (sd is None) == (precision is None):
        raise ValueError("normal: give exactly one of sd and precision")
    if precision is not None:
        prec = _positive("normal", "precision", precision)
        return _make("normal", (mu, 1.0 / math.sqrt(prec)), _lower("normal", lower), precision=prec)
    return _make("normal", (mu, _positive("normal", "sd", sd)), _lower("normal", lower))


def student_t(df: float, mu: float = 0.0, scale: float = 1.0, *, lower: float | None = None) -> Prior:
    """Student-t prior with ``df`` degrees of freedom, location ``mu`` and ``scale``.

    Parameters
    ----------
    df, mu, scale : float
    lower : float, optional
        Only ``lower=0`` with ``mu=0`` (the same as ``half_student_t(df, scale)``).

    Examples
    --------
    >>> student_t(3, 0, 2.5)
    student_t(3, 0, 2.5)
    """
    if lower is not None and not (_finite("student_t", "lower", lower) == 0 and float(mu) == 0):
        raise ValueError("student_t: lower is supported only at 0 with mu = 0 (a half Student-t, "
                         "as half_student_t(df, scale))")
    return _make("student_t", (_positive("student_t", "df", df), _finite("student_t", "mu", mu),
                               _positive("student_t", "scale", scale)), _lower("student_t", lower))


def cauchy(mu: float = 0.0, scale: float = 1.0, *, lower: float | None = None) -> Prior:
    """Cauchy prior with location ``mu`` and ``scale``.

    Examples
    --------
    >>> cauchy(0, 5)
    cauchy(0, 5)
    """
    return _make("cauchy", (_finite("cauchy", "mu", mu), _positive("cauchy", "scale", scale)),
                 _lower("cauchy", lower))


def logistic(mu: float = 0.0, scale: float = 1.0) -> Prior:
    """Logistic prior with location ``mu`` and ``scale``.

    ``logistic(0, 1)`` on a logit is the uniform distribution on the
    probability: brms's default for the intercept of a zero-inflation model.

    Examples
    --------
    >>> logistic(0, 1)
    logistic(0, 1)
    """
    return _make("logistic", (_finite("logistic", "mu", mu), _positive("logistic", "scale", scale)))


def half_normal(scale: float = 1.0) -> Prior:
    """Half-normal prior on ``[0, inf)``: the absolute value of a normal(0, scale).

    Examples
    --------
    >>> half_normal(5)
    half_normal(5)
    """
    return _make("half_normal", (_positive("half_normal", "scale", scale),))


def half_student_t(df: float = 3.0, scale: float = 1.0) -> Prior:
    """Half Student-t prior on ``[0, inf)``: brms's ``student_t(df, 0, scale)`` on an SD.

    Examples
    --------
    >>> half_student_t(3, 2.5)
    half_student_t(3, 2.5)
    """
    return _make("half_student_t", (_positive("half_student_t", "df", df),
                                    _positive("half_student_t", "scale", scale)))


def half_cauchy(scale: float = 1.0) -> Prior:
    """Half-Cauchy prior on ``[0, inf)`` (Gelman 2006 for group-level SDs).

    Examples
    --------
    >>> half_cauchy(25)
    half_cauchy(25)
    """
    return _make("half_cauchy", (_positive("half_cauchy", "scale", scale),))


def exponential(rate: float = 1.0) -> Prior:
    """Exponential prior with ``rate`` (mean ``1 / rate``).

    Examples
    --------
    >>> exponential(0.1)
    exponential(0.1)
    """
    return _make("exponential", (_positive("exponential", "rate", rate),))


def uniform(lo: float, hi: float) -> Prior:
    """Uniform prior on ``(lo, hi)``; JAGS's ``dunif(0.0001, 200)`` on an SD is ``uniform(0.0001, 200)``.

    Examples
    --------
    >>> uniform(0.0001, 200)
    uniform(0.0001, 200)
    >>> uniform(1, 1)
    Traceback (most recent call last):
    ...
    ValueError: uniform: lo must be below hi, got lo=1 and hi=1
    """
    lo_v, hi_v = _finite("uniform", "lo", lo), _finite("uniform", "hi", hi)
    if not lo_v < hi_v:
        raise ValueError(f"uniform: lo must be below hi, got lo={lo!r} and hi={hi!r}")
    return _make("uniform", (lo_v, hi_v))


def gamma(shape: float, rate: float, on: str = "value") -> Prior:
    """Gamma prior with ``shape`` and ``rate`` (mean ``shape / rate``).

    Parameters
    ----------
    shape, rate : float
        Both positive.
    on : {"value", "precision"}
        ``"value"``: the parameter itself has this gamma prior (e.g. ``nu``).
        ``"precision"``: given to a standard deviation ``x`` (an ``"sd"`` or
        ``"sigma"`` key), the gamma is on the precision ``1 / x**2``, as
        JAGS's ``ptau ~ dgamma(0.001, 0.001)``; the sampler works on ``x``
        with the Jacobian ``|d(x^-2)/dx| = 2 / x^3`` included, so the
        posterior is exactly JAGS's. Derive the precision's draws with
        ``post.derive("ptau", lambda d: 1 / d["sd_g__Intercept"] ** 2)``.

    Examples
    --------
    >>> gamma(2, 0.1)
    gamma(2, 0.1)
    >>> gamma(0.001, 0.001, on="precision")
    gamma(0.001, 0.001, on="precision")
    """
    if on not in ("value", "precision"):
        raise ValueError(f'gamma: on must be "value" or "precision", not {on!r}')
    return _make("gamma", (_positive("gamma", "shape", shape), _positive("gamma", "rate", rate)), on=on)


def lkj(eta: float = 1.0) -> Prior:
    """LKJ prior on a correlation matrix (``eta = 1``: uniform over correlation matrices).

    Examples
    --------
    >>> lkj(2)
    lkj(2)
    """
    return _make("lkj", (_positive("lkj", "eta", eta),))


# --------------------------------------------------------------- classes and resolution
#: parameter classes and the supports their priors may have
CLASS_SUPPORT = {
    "b": ("real", "interval", "positive"),
    "Intercept": ("real", "interval", "positive"),
    "sd": ("positive",),
    "sigma": ("positive",),
    "nu": ("positive",),
    "shape": ("positive",),
    "phi": ("positive",),
    "b_zi": ("real", "interval", "positive"),
    "Intercept_zi": ("real", "interval", "positive"),
    "cor": ("correlation",),
    "rho": ("interval", "positive"),
}

#: the family's own positive parameter (brms's name) of the families that have one
FAMILY_AUX = {"negative_binomial": "shape", "nbinom1": "phi", "gamma": "shape", "beta": "phi", "betabinomial": "phi"}


def check_class(prior, cls: str, key: str) -> Prior:
    """Raise a one-line ValueError when ``prior`` cannot be a prior of parameter class ``cls``.

    Examples
    --------
    >>> check_class(half_cauchy(5), "sd", "sd_school")
    half_cauchy(5)
    >>> check_class(normal(0, 5), "sigma", "sigma")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: priors['sigma'] = normal(0, 5) puts mass below 0, ... or e.g. normal(0, 5, lower=0)
    """
    if not isinstance(prior, Prior):
        raise ValueError(
            f"priors[{key!r}] must be a prior such as ml.priors.normal(0, 1), not {prior!r}"
        )
    supp = prior.support
    if cls == "cor":
        if supp != "correlation":
            raise ValueError(f"priors[{key!r}] = {prior} is not a prior for a correlation matrix; use lkj(eta)")
        return prior
    if supp == "correlation":
        raise ValueError(f"priors[{key!r}] = lkj(...) is a prior for correlation matrices, keyed 'cor' "
                         "or 'cor_<group>'")
    if prior.on == "precision" and cls not in ("sd", "sigma"):
        raise ValueError(f"priors[{key!r}] = {prior} puts a prior on a precision, which only a "
                         "standard deviation ('sd...' or 'sigma') has")
    if cls == "rho":
        if prior.dist != "uniform" or prior.on != "value":
            raise ValueError(f"priors[{key!r}] = {prior} is not a prior for a structured term's correlation; "
                             "use uniform(a, b) within the interval the structure allows")
        return prior
    if supp not in CLASS_SUPPORT[cls]:
        what = {"sd": "a standard deviation", "sigma": "a standard deviation",
                "nu": "a degrees-of-freedom parameter (> 0)", "shape": "a shape parameter (> 0)",
                "phi": "a precision or dispersion parameter (> 0)"}[cls]
        example = (f"{prior.dist}({', '.join(_fmt(v) for v in prior.params)}, lower=0)"
                   if prior.dist in _REAL else "half_normal(1)")
        raise ValueError(
            f"priors[{key!r}] = {prior} puts mass below 0, but {cls} is {what}; use a half_* prior, "
            f"exponential, gamma, uniform(0, hi) or e.g. {example}"
        )
    return prior


@dataclass(frozen=True)
class PriorSlot:
    """One parameter and the prior it gets.

    Attributes
    ----------
    name : str
        brms-style parameter name, e.g. ``"b_femaleF"``, ``"sd_school__Intercept"``,
        ``"cor_school"`` (one entry per correlation matrix).
    cls : str
        ``"b"``, ``"Intercept"``, ``"sd"``, ``"cor"``, ``"sigma"``, ``"nu"``,
        ``"shape"``, ``"phi"``, ``"Intercept_zi"`` or ``"b_zi"``.
    coef, group : str
        Coefficient and grouping factor ("" where none).
    prior : Prior
    source : str
        ``"default"`` or the ``priors=`` key that set it.

    Examples
    --------
    >>> PriorSlot("sigma", "sigma", "", "", exponential(0.1), "default").prior
    exponential(0.1)
    """

    name: str
    cls: str
    coef: str
    group: str
    prior: Prior
    source: str


_SQRT_2PI_INV = 1.0 / math.sqrt(2.0 * math.pi)
#: rstanarm multiplies the default scales by dnorm(0) / dlogis(0) for the probit link
PROBIT_FACTOR = _SQRT_2PI_INV / 0.25


def default_priors(family: str, link: str, y: np.ndarray, X: np.ndarray, fixed_names, intercept: int | None,
                   offset: np.ndarray | None = None, Xzi: np.ndarray | None = None, zi_names=(),
                   zi_intercept: int | None = None, moments=None) -> dict:
    """The default (weakly informative, autoscaled) priors of each class.

    With ``sy = sd(y - offset)``, ``my = mean(y - offset)`` and ``sx_j`` the
    standard deviation of predictor column j (sample SDs, as R's ``sd``):

    - gaussian, student: Intercept ~ normal(my, 2.5 sy); b_j ~ normal(0, 2.5 sy / sx_j);
      sd ~ half_student_t(3, 2.5 sy / sz_j) with sz_j the standard deviation of the
      effect's column (1 for an intercept; :func:`sd_defaults`); sigma ~
      exponential(1 / sy); nu ~ gamma(2, 0.1).
    - binomial, poisson: Intercept ~ normal(0, 2.5); b_j ~ normal(0, 2.5 / sx_j);
      sd ~ half_student_t(3, 2.5 / sz_j); with the probit link every one of these scales
      is multiplied by dnorm(0) / dlogis(0) = 1.596, as rstanarm does.
    - negative_binomial, gamma, beta: as binomial and poisson, with the
      Intercept's prior centred on the link of the response's median where
      that is finite (brms's ``student_t(3, g(median y), 2.5)`` location), and
      shape (negative_binomial, gamma) or phi (beta) ~ gamma(0.01, 0.01), brms's default.
    - cor ~ lkj(1).
    - a zero-inflation model (``Xzi``, its columns ``zi_names``): Intercept_zi ~
      logistic(0, 1) (brms's default: uniform on the probability of a
      structural zero where the other columns are at their means); b_zi_j ~
      normal(0, 2.5 / sx_j).

    A column with no variation (sx_j = 0) gets the unscaled 2.5 sy (or 2.5).

    ``moments`` (:class:`~multilevel.bayes.moments.RowMoments`) gives ``sy``,
    ``my`` and ``sx`` where the rows are not at hand (data in parts; ``y`` and
    ``X`` are then None), for the gaussian and student families.

    Returns
    -------
    dict
        ``"Intercept"`` -> Prior, ``"b"`` -> {name: Prior}, ``"sd"``, ``"cor"``,
        ``"sigma"``, ``"nu"``, ``"shape"``, ``"phi"``, ``"Intercept_zi"`` -> Prior;
        ``"b_zi"`` -> {name: Prior}.

    Examples
    --------
    >>> y = np.array([1.0, 3.0, 5.0, 7.0]); X = np.c_[np.ones(4), [0.0, 0, 1, 1]]
    >>> d = default_priors("gaussian", "identity", y, X, ("(Intercept)", "x"), 0)
    >>> d["Intercept"], d["b"]["x"], d["sd"], d["sigma"]
    (normal(4, 6.455), normal(0, 11.18), half_student_t(3, 6.455), exponential(0.3873))
    """
    gaussian = family in ("gaussian", "student")
    if moments is not None:
        if not gaussian:
            raise ValueError(f"the default priors of a {family} model need the response's rows")
        yy, sy, my = None, moments.y_sd, moments.y_mean
        sxs = np.asarray(moments.x_sd, dtype=float)
    else:
        yy = y if offset is None else y - offset
        sy = float(np.std(yy, ddof=1)) if yy.size > 1 else 1.0
        my = float(np.mean(yy)) if gaussian else 0.0
        sxs = np.array([float(np.std(X[:, j], ddof=1)) if X.shape[0] > 1 else 0.0 for j in range(X.shape[1])])
    if not (np.isfinite(sy) and sy > 0):
        sy = 1.0
    unit = 2.5 * (sy if gaussian else 1.0) * (PROBIT_FACTOR if link == "probit" else 1.0)
    out: dict = {}
    if intercept is not None or family == "cumulative":  # (a cumulative model's thresholds)
        loc = my if gaussian else 0.0
        if family in FAMILY_AUX:
            loc = _link_of_median(link, yy)
        out["Intercept"] = normal(loc, unit)
    b = {}
    for j, name in enumerate(fixed_names):
        if j == intercept:
            continue
        sx = sxs[j]
        b[name] = normal(0.0, unit / sx if sx > 0 and np.isfinite(sx) else unit)
    out["b"] = b
    out["sd"] = half_student_t(3, unit)
    out["cor"] = lkj(1)
    if gaussian:
        out["sigma"] = exponential(1.0 / sy)
    if family == "student":
        out["nu"] = gamma(2, 0.1)
    if family in FAMILY_AUX:
        out[FAMILY_AUX[family]] = gamma(0.01, 0.01)
    if Xzi is not None:
        if zi_intercept is not None:
            out["Intercept_zi"] = logistic(0.0, 1.0)
        bz = {}
        for j, name in enumerate(zi_names):
            if j != zi_intercept:
                sx = float(np.std(Xzi[:, j], ddof=1)) if Xzi.shape[0] > 1 else 0.0
                bz[name] = normal(0.0, 2.5 / sx if sx > 0 and np.isfinite(sx) else 2.5)
        out["b_zi"] = bz
    return out


def _link_of_median(link: str, y: np.ndarray) -> float:
    """``g(median(y))``, rounded to 2 decimals, or 0 where it is not finite.

    Examples
    --------
    >>> _link_of_median("log", np.array([1.0, 2.0, np.e])), _link_of_median("log", np.zeros(3))
    (0.69, 0.0)
    """
    from ..families.links import LINKS

    m = float(np.median(y)) if y.size else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        g = LINKS[link].fun(np.float64(m))
    return round(float(g), 2) if np.isfinite(g) else 0.0


def sd_defaults(base: Prior, terms, group_names, sd_params, column_sd=None) -> dict:
    """Default prior of each random-effect SD: ``base`` (half_student_t(3, s)) with
    its scale divided by the sample SD of the effect's column, as the fixed
    effects' defaults are, so that the prior says the same in any units of the
    predictor; a constant column (an intercept) keeps ``base``. ``column_sd``:
    per term, the columns' SDs where the rows are not at hand
    (:func:`column_sds` of each term by default).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> sds = [("sd_Subject__Intercept", "Subject", "Intercept"), ("sd_Subject__Days", "Subject", "Days")]
    >>> out = sd_defaults(half_student_t(3, 10.0), d.terms, ["Subject"], sds)
    >>> out["sd_Subject__Intercept"], out["sd_Subject__Days"]
    (half_student_t(3, 10), half_student_t(3, 3.472))
    """
    if column_sd is None:
        column_sd = [column_sds(term) for term in terms]
    sx = {(g, coef_name(c)): s for term, g, sds in zip(terms, group_names, column_sd)
          for c, s in zip(term.columns, sds)}
    for term, g, sds in zip(terms, group_names, shared_sds(column_sd, terms)):
        if getattr(term, "structure", None) is not None and term.structure.nsd == 1:
            sx[(g, "")] = sds[0]
    out = {}
    for name, g, c in sd_params:
        s = sx.get((g, c))
        out[name] = base if s is None else half_student_t(base.params[0], base.params[1] / s)
    return out


def shared_sds(column_sd, terms) -> list:
    """Per term, its columns' SDs, or for a term with one SD over its columns (``cs``,
    ``ar1``) one: their root mean square (a constant column counting 1), None if every
    column is constant.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from multilevel.design.structure import structure
    >>> t = SimpleNamespace(structure=structure("ar1", 2))
    >>> shared_sds([[0.5, 0.5], [None]], [t, SimpleNamespace(structure=None)])
    [[0.5], [None]]
    """
    out = []
    for sds, term in zip(column_sd, terms):
        st = getattr(term, "structure", None)
        if st is None or st.nsd > 1:
            out.append(list(sds))
        elif all(s is None for s in sds):
            out.append([None])
        else:
            out.append([float(np.sqrt(np.mean([1.0 if s is None else s * s for s in sds])))])
    return out


def column_sds(term, rows=None) -> list[float | None]:
    """Sample SD of each column of a random-effects term, None for a constant column
    (an intercept has no units to follow); over the rows ``rows`` (a mask: those of
    positive weight) where given.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> [None if s is None else round(s, 4) for s in column_sds(d.terms[0])]
    [None, 2.8803]
    """
    out = []
    for j in range(term.k):
        z = term.Z[:, j] if rows is None else term.Z[rows, j]
        s = float(np.std(z, ddof=1)) if z.size > 1 else 0.0
        out.append(s if np.isfinite(s) and s > 1e-12 * float(np.max(np.abs(z))) else None)
    return out


def coef_name(name: str) -> str:
    """brms's name of a coefficient: ``(Intercept)`` becomes ``Intercept``.

    Examples
    --------
    >>> coef_name("(Intercept)"), coef_name("femaleF")
    ('Intercept', 'femaleF')
    """
    return "Intercept" if name == "(Intercept)" else name


def resolve(user: dict | None, defaults: dict, fixed_names, intercept: int | None,
            sd_params: list[tuple[str, str, str]], cor_params: list[tuple[str, str]],
            thresholds: int = 0, zi_names=(), zi_intercept: int | None = None,
            rho_params=()) -> list[PriorSlot]:
    """Match ``priors=`` keys to parameters; every parameter gets its most specific prior.

    Parameters
    ----------
    user : dict or None
        The ``priors=`` argument.
    defaults : dict
        From :func:`default_priors`.
    fixed_names : sequence of str
        lme4 names of the fixed effects.
    intercept : int or None
        Position of ``(Intercept)`` among them.
    sd_params : list of (name, group, coef)
        The random-effect SDs, e.g. ``("sd_school__Intercept", "school", "Intercept")``.
    cor_params : list of (name, group)
        One per correlation matrix, e.g. ``("cor_school", "school")``.
    thresholds : int, default 0
        A cumulative model's number of thresholds (``b_Intercept[1]``, ...),
        which take the ``"Intercept"`` prior (one on the whole real line).
    zi_names : sequence of str
        The zero-inflation model's coefficients (``zi=``), named in the
        draws ``b_zi_<coef>``; keys ``"Intercept_zi"``, ``"b_zi"`` and
        ``"b_zi_<coef>"`` set their priors.
    zi_intercept : int or None
        Position of ``(Intercept)`` among them.
    rho_params : sequence of (name, group, lower)
        The structured terms' correlations (``rho_<group>``) and the lowest
        value each may take; keys ``"rho"`` and ``"rho_<group>"`` set their
        priors, ``uniform(lower, 1)`` by default.

    Returns
    -------
    list of PriorSlot
        The thresholds, fixed effects in order, then SDs, correlations, the
        structured terms' correlations, sigma, nu, shape, phi and the
        zero-inflation coefficients.

    Raises
    ------
    ValueError
        For an unknown key (listing the valid ones) or a prior of the wrong kind.

    Examples
    --------
    >>> y = np.arange(6.0); X = np.c_[np.ones(6), np.arange(6.0)]
    >>> d = default_priors("gaussian", "identity", y, X, ("(Intercept)", "x"), 0)
    >>> slots = resolve({"b_x": normal(0, 1)}, d, ("(Intercept)", "x"), 0,
    ...                 [("sd_g__Intercept", "g", "Intercept")], [])
    >>> [(s.name, str(s.prior), s.source) for s in slots][:2]
    [('b_Intercept', 'normal(2.5, 4.677)', 'default'), ('b_x', 'normal(0, 1)', 'b_x')]
    >>> resolve({"b_z": normal(0, 1)}, d, ("(Intercept)", "x"), 0, [], [])
    Traceback (most recent call last):
    ...
    ValueError: unknown prior key 'b_z'; valid keys for this model: b, b_x, Intercept, sigma
    """
    if user is not None and not isinstance(user, dict):
        raise TypeError(
            f"priors must be a dict from parameter classes to priors, e.g. {{'b': ml.priors.normal(0, 5), "
            f"'sd': ml.priors.half_normal(10)}}, not a {type(user).__name__}"
        )
    user = dict(user or {})
    if "b_Intercept" in user and intercept is not None:
        if "Intercept" in user:
            raise ValueError("give the intercept's prior once, as 'Intercept' (not also 'b_Intercept')")
        user["Intercept"] = user.pop("b_Intercept")
    if "b_zi_Intercept" in user and zi_intercept is not None:
        if "Intercept_zi" in user:
            raise ValueError("give the zero-inflation intercept's prior once, as 'Intercept_zi' "
                             "(not also 'b_zi_Intercept')")
        user["Intercept_zi"] = user.pop("b_zi_Intercept")
    slopes = [n for j, n in enumerate(fixed_names) if j != intercept]
    valid: list[str] = []
    if slopes:
        valid += ["b"] + [f"b_{n}" for n in slopes]
    if intercept is not None or thresholds:
        valid.append("Intercept")
    if sd_params:
        valid.append("sd")
        groups = list(dict.fromkeys(g for _, g, _ in sd_params))
        valid += [f"sd_{g}" for g in groups] + [name for name, _, _ in sd_params]
    if cor_params:
        valid.append("cor")
        valid += [name for name, _ in cor_params]
    if rho_params:
        valid.append("rho")
        valid += [name for name, _, _ in rho_params]
    if "sigma" in defaults:
        valid.append("sigma")
    for cls in ("nu", "shape", "phi"):
        if cls in defaults:
            valid.append(cls)
    zi_slopes = [n for j, n in enumerate(zi_names) if j != zi_intercept]
    if zi_intercept is not None:
        valid.append("Intercept_zi")
    if zi_slopes:
        clash = [f"b_zi_{n}" for n in zi_slopes if f"b_zi_{n}" in valid] + (["b_zi"] if "b_zi" in valid else [])
        if clash:
            raise ValueError(f"the fixed effect named {clash[0][2:]!r} has the name a zero-inflation "
                             f"coefficient's prior key ({clash[0]!r}) takes: rename that column")
        valid += ["b_zi"] + [f"b_zi_{n}" for n in zi_slopes]
    valid = list(dict.fromkeys(valid))
    unknown = [k for k in user if k not in valid]
    if unknown:
        raise ValueError(f"unknown prior key {unknown[0]!r}; valid keys for this model: {', '.join(valid)}")

    def pick(keys, cls, default):
        for k in keys:
            if k in user:
                return check_class(user[k], cls, k), k
        return default, "default"

    slots: list[PriorSlot] = []
    if thresholds:
        p, src = pick(["Intercept"], "Intercept", defaults["Intercept"])
        if p.support != "real":
            raise ValueError(f"priors['Intercept'] = {p}: the thresholds of a cumulative model need a prior on "
                             "the whole real line (normal, student_t or cauchy)")
        for k in range(1, thresholds + 1):
            slots.append(PriorSlot(f"b_Intercept[{k}]", "Intercept", f"Intercept[{k}]", "", p, src))
    def coefficients(names, position, prefix, cls_int, cls_b):
        """The slots of a model's coefficients: its intercept (class ``cls_int``), the others (``cls_b``)."""
        for j, n in enumerate(names):
            if j == position:
                p, src = pick([cls_int], cls_int, defaults[cls_int])
                slots.append(PriorSlot(f"{prefix}Intercept", cls_int, "Intercept", "", p, src))
            else:
                p, src = pick([f"{prefix}{n}", cls_b], cls_b, defaults[cls_b][n])
                slots.append(PriorSlot(f"{prefix}{n}", cls_b, n, "", p, src))

    coefficients(fixed_names, intercept, "b_", "Intercept", "b")
    for name, g, c in sd_params:
        p, src = pick([name, f"sd_{g}", "sd"], "sd", defaults.get("sd_by_name", {}).get(name, defaults["sd"]))
        slots.append(PriorSlot(name, "sd", c, g, p, src))
    for name, g in cor_params:
        p, src = pick([name, "cor"], "cor", defaults["cor"])
        slots.append(PriorSlot(name, "cor", "", g, p, src))
    for name, g, lo in rho_params:
        p, src = pick([name, "rho"], "rho", uniform(lo, 1.0))
        a, b = p.params[:2]
        if a < lo - 1e-12 or b > 1.0:
            raise ValueError(f"priors[{src!r}] = {p} allows correlations outside ({_fmt(lo)}, 1), the values "
                             f"{name}'s structure can take: give uniform(a, b) with {_fmt(lo)} <= a < b <= 1")
        slots.append(PriorSlot(name, "rho", "", g, p, src))
    for cls in ("sigma", "nu", "shape", "phi"):
        if cls in defaults:
            p, src = pick([cls], cls, defaults[cls])
            slots.append(PriorSlot(cls, cls, "", "", p, src))
    coefficients(zi_names, zi_intercept, "b_zi_", "Intercept_zi", "b_zi")
    return slots
