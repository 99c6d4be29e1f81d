"""Item response theory reading of a Rasch-type GLMM.

A multilevel logistic regression with one fixed effect per item and a random
intercept per person,

    logit Pr(y_ij = 1) = gamma_i + U_j,    U_j ~ N(0, tau^2),

is the Rasch model: setting the person's ability theta_j = U_j and the item's
difficulty b_i = -gamma_i gives Pr(y_ij = 1) = 1 / (1 + exp(-(theta_j - b_i))).
With the probit link it is the normal-ogive one-parameter model. Fit it with
``ml.glmer("y ~ 0 + item + (1 | person)", data)``; this module reads the
fit as item difficulties, person abilities and item characteristic curves.

Examples
--------
>>> import multilevel as ml
>>> d = ml.datasets.load("rasch5")
>>> fit = ml.glmer("y ~ 0 + item + (1 | person)", d[d["person"] <= 200])
>>> ml.irt.rasch(fit).items["difficulty"].round(2).tolist()
[-1.83, -2.58, 1.29, -2.64, -1.54]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["RaschParameters", "rasch", "item_curves"]

_LINKS = ("logit", "probit")


@dataclass(frozen=True)
class RaschParameters:
    """Item and person parameters of a Rasch-type fit.

    Attributes
    ----------
    items : pandas.DataFrame
        One row per item (indexed by the item labels): ``difficulty``
        (b = -gamma), ``se`` (its standard error, that of gamma) and
        ``p_correct`` (the observed proportion of 1s).
    persons : pandas.DataFrame
        One row per person: ``ability`` (the conditional mode of the person
        effect) and ``sd`` (its conditional standard deviation, lme4's
        ``condVar``).
    ability_sd : float
        The estimated standard deviation tau of abilities in the population.
    link : str
        ``"logit"`` (Rasch) or ``"probit"`` (normal ogive).
    item_column, person_column : str
        The data's columns that name items and persons.
    """

    items: pd.DataFrame
    persons: pd.DataFrame
    ability_sd: float
    link: str
    item_column: str
    person_column: str


def _is_posterior(fit) -> bool:
    return hasattr(fit, "ranef_draws") and hasattr(fit, "model")


def _shape(fit) -> tuple[str, str, list[str]]:
    """(item column, person column, item labels) of a ``y ~ 0 + item + (1 | person)`` fit,
    or a one-line ValueError saying which formula is needed."""
    need = ("needs a binomial fit of the form y ~ 0 + item + (1 | person) (logit or probit link): "
            "one fixed effect per item, no intercept, one random intercept per person")
    formula = getattr(fit, "formula", None)
    if _is_posterior(fit):
        design, family_name, link_name = fit.model.design, fit.family, fit.link
    else:
        family = getattr(fit, "family", None)
        design = getattr(fit, "design", None)
        family_name = getattr(family, "name", None)
        link_name = getattr(getattr(family, "link", None), "name", None)
    if design is None or family_name != "binomial":
        raise ValueError(f"the IRT reading {need}; got {type(fit).__name__} {formula!r}")
    if link_name not in _LINKS:
        raise ValueError(f"the IRT reading {need}; got the {link_name} link")
    terms = design.terms
    if len(terms) != 1 or terms[0].columns != ("(Intercept)",) or len(terms[0].group_columns) != 1:
        raise ValueError(f"the IRT reading {need}; got {formula!r}")
    fixed = re.sub(r"\s+", "", design.formula.fixed)
    m = re.fullmatch(r"(?:0\+|-1\+)(.+)|(.+?)(?:\+0|-1)", fixed)
    item = (m.group(1) or m.group(2)) if m else None
    if item is not None:
        item = item.strip("`")
    data = design.data
    if item is None or data is None or item not in data.columns or "(Intercept)" in design.fixed.names:
        raise ValueError(f"the IRT reading {need}; got {formula!r}")
    names = list(design.fixed.names)
    if pd.api.types.is_numeric_dtype(data[item]) or not all(n.startswith(item) for n in names) \
            or design.fixed.dropped:
        raise ValueError(f"the IRT reading {need}; {item!r} must be a categorical column of items, got {formula!r}")
    return item, terms[0].group_columns[0], [n[len(item):] for n in names]


def rasch(fit) -> RaschParameters:
    """Item difficulties and person abilities of a ``y ~ 0 + item + (1 | person)`` fit.

    Parameters
    ----------
    fit : GlmerResult or Posterior
        A binomial fit (logit: Rasch; probit: normal ogive) with one fixed
        effect per item, no intercept, and a random intercept per person; or
        the same model fitted by ``ml.bayes`` (with ``keep_ranef=True``).

    Returns
    -------
    RaschParameters
        ``items`` (difficulty b = -gamma, se, p_correct), ``persons``
        (ability, sd) and ``ability_sd`` (tau). For a Posterior these are
        posterior means, with posterior SDs in ``se`` and ``sd`` (``persons``
        is empty when the posterior was sampled with ``keep_ranef=False``).

    Raises
    ------
    ValueError
        For a fit of another shape, saying which formula is needed.

    Examples
    --------
    >>> import multilevel as ml
    >>> d = ml.datasets.load("rasch5")
    >>> fit = ml.glmer("y ~ 0 + item + (1 | person)", d[d["person"] <= 200])
    >>> r = ml.irt.rasch(fit)
    >>> r.items.index.tolist(), r.items.columns.tolist()
    (['a', 'b', 'c', 'd', 'e'], ['difficulty', 'se', 'p_correct'])
    >>> r.items["difficulty"].round(2).tolist(), r.items["se"].round(2).tolist()
    ([-1.83, -2.58, 1.29, -2.64, -1.54], [0.23, 0.28, 0.21, 0.29, 0.22])
    >>> r.persons.head(3).round(2).values.tolist()   # ability, sd of persons 1-3
    [[-0.57, 0.84], [0.19, 0.89], [0.19, 0.89]]
    >>> round(r.ability_sd, 2)
    1.17
    >>> ml.irt.rasch(ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...                       ml.datasets.load("cbpp")))   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the IRT reading needs a binomial fit of the form y ~ 0 + item + (1 | person) ...
    """
    item, person, labels = _shape(fit)
    posterior = _is_posterior(fit)
    design = fit.model.design if posterior else fit.design
    y = design.y
    if posterior:
        w = np.asarray(fit.model.data.get("w", np.ones(design.n)), dtype=float)
    else:
        w = np.asarray(fit._prior, dtype=float)
    X = design.X
    succ = (X * (w * y)[:, None]).sum(axis=0)
    trials = (X * w[:, None]).sum(axis=0)
    idx = pd.Index(labels, name=item)
    if posterior:
        gamma = fit._beta_flat()
        est, se = gamma.mean(axis=0), gamma.std(axis=0, ddof=1)
        group = fit.model.group_names[0]
        if fit.ranef_draws is None:  # keep_ranef=False: the items and tau, no persons
            ability, sd = np.empty(0), np.empty(0)
            index = pd.Index([], name=person)
        else:
            r = fit.ranef()[group]
            coef = r.columns.get_level_values(0)[0]
            ability, sd = r[(coef, "Estimate")].to_numpy(), r[(coef, "Est.Error")].to_numpy()
            index = r.index.rename(person)
        tau = float(np.mean(fit.draws[fit.model.sd_names[0]]))
        link_name = fit.link
    else:
        est, se = fit.fixef.to_numpy(), fit.se.to_numpy()
        group = design.terms[0].group
        ability = fit.ranef[group].iloc[:, 0].to_numpy()
        sd = np.sqrt(fit.ranef_var[group].iloc[:, 0].to_numpy())
        index = fit.ranef[group].index.rename(person)
        tau = float(fit.varcorr["std_dev"].iloc[0])
        link_name = fit.family.link.name
    items = pd.DataFrame({"difficulty": -est, "se": se,
                          "p_correct": succ / np.where(trials > 0, trials, np.nan)}, index=idx)
    persons = pd.DataFrame({"ability": ability, "sd": sd}, index=index)
    return RaschParameters(items=items, persons=persons, ability_sd=tau, link=link_name,
                           item_column=item, person_column=person)


def item_curves(fit, theta_grid=None) -> pd.DataFrame:
    """Item characteristic curves P(y = 1 | ability) = inverse-link(ability - b).

    Parameters
    ----------
    fit : GlmerResult or Posterior
        A ``y ~ 0 + item + (1 | person)`` fit (see :func:`rasch`); for a
        Posterior, the curves at the posterior mean difficulties.
    theta_grid : array-like, optional
        Abilities at which to evaluate the curves; by default 161 points over
        +-max(4, 3 tau).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``ability``, one column of probabilities per item.

    Examples
    --------
    >>> import multilevel as ml
    >>> d = ml.datasets.load("rasch5")
    >>> fit = ml.glmer("y ~ 0 + item + (1 | person)", d[d["person"] <= 200])
    >>> curves = ml.irt.item_curves(fit, theta_grid=[-2.0, 0.0, 2.0])
    >>> curves.columns.tolist(), curves.index.tolist()
    (['a', 'b', 'c', 'd', 'e'], [-2.0, 0.0, 2.0])
    >>> curves["c"].round(3).tolist()   # the hardest item
    [0.036, 0.216, 0.671]
    """
    r = rasch(fit)
    if theta_grid is None:
        half = max(4.0, 3.0 * r.ability_sd)
        theta_grid = np.linspace(-half, half, 161)
    try:
        grid = np.asarray(theta_grid, dtype=float)
    except (TypeError, ValueError):
        grid = None
    if grid is None or isinstance(theta_grid, (bool, np.bool_)) or grid.ndim != 1 or grid.size == 0 \
            or not np.all(np.isfinite(grid)) or isinstance(theta_grid, pd.DataFrame):
        from .arguments import short_repr

        raise ValueError(f"theta_grid must be a non-empty sequence of finite abilities, e.g. "
                         f"np.linspace(-3, 3, 61), not {short_repr(theta_grid)}")
    from .families import link

    b = r.items["difficulty"].to_numpy()
    P = link(r.link).inverse(grid[:, None] - b[None, :])
    return pd.DataFrame(P, index=pd.Index(grid, name="ability"), columns=r.items.index.rename(None))
