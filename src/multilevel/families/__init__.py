"""Response distributions and link functions, shared by the GLMM and Bayesian routes.

Each family carries its link and what a fitting route needs, as R's
``family`` objects do: the variance function, deviance, log-likelihood, an
IRLS step, simulation, and a check of the response that names what is wrong.

- :mod:`~multilevel.families.links`: the link functions.
- :mod:`~multilevel.families.exponential`: binomial, Poisson, gaussian (no
  dispersion parameter to estimate).
- :mod:`~multilevel.families.dispersion`: what the families with a
  dispersion parameter share; :mod:`~multilevel.families.negative_binomial`
  (NB2, NB1) and :mod:`~multilevel.families.continuous` (Gamma, beta, gaussian
  with a non-identity link) are such families, as are
  :mod:`~multilevel.families.beta_binomial` (overdispersed binomial counts)
  and :mod:`~multilevel.families.ordinal` (cumulative link models, whose own
  parameters are the thresholds).

Examples
--------
>>> fam = family("binomial", "probit")
>>> fam.name, fam.link.name
('binomial', 'probit')
>>> family("nbinom2")
Family('negative_binomial', link='log', theta=1)
"""

from __future__ import annotations

from ..arguments import short_repr
from .beta_binomial import BetaBinomial
from .continuous import Beta, Gamma, GaussianLink
from .dispersion import DispersionFamily
from .exponential import Family
from .links import LINKS, Link, link
from .negative_binomial import NegativeBinomial1, NegativeBinomial2
from .ordinal import Cumulative

__all__ = ["Link", "Family", "DispersionFamily", "family", "link", "FAMILIES", "LINKS", "ALIASES"]

#: allowed links per family, the first being the default (as R's)
FAMILIES: dict[str, tuple[str, ...]] = {
    "binomial": ("logit", "probit", "cloglog", "log"),
    "poisson": ("log",),
    "gaussian": ("identity", "log", "inverse"),
    "negative_binomial": ("log",),
    "nbinom1": ("log",),
    "gamma": ("inverse", "log", "identity"),
    "beta": ("logit", "probit", "cloglog"),
    "betabinomial": ("logit", "probit", "cloglog"),
    "cumulative": ("logit", "probit", "cloglog"),
}

#: other names users write for a family (glmmTMB's, R's)
ALIASES: dict[str, str] = {
    "nbinom2": "negative_binomial", "negbin": "negative_binomial", "nb2": "negative_binomial",
    "nb": "negative_binomial", "negative_binomial2": "negative_binomial", "nb1": "nbinom1",
    "negative_binomial1": "nbinom1", "beta_family": "beta", "beta_binomial": "betabinomial",
    "betabinom": "betabinomial", "normal": "gaussian", "ordinal": "cumulative",
}

_CLASSES = {"negative_binomial": NegativeBinomial2, "nbinom1": NegativeBinomial1, "gamma": Gamma, "beta": Beta,
            "betabinomial": BetaBinomial}


def family(name: str | Family, link_name: str | None = None) -> Family:
    """A family by name, with its default or a chosen link.

    Parameters
    ----------
    name : str or Family
        ``"binomial"``, ``"poisson"``, ``"gaussian"``, ``"negative_binomial"``
        (NB2; also ``"nbinom2"``), ``"nbinom1"``, ``"gamma"``, ``"beta"``,
        ``"betabinomial"`` (overdispersed binomial counts) or ``"cumulative"``.
    link_name : str, optional
        Defaults to R's: logit, log, identity, log, log, inverse, logit, logit, logit.

    Returns
    -------
    Family
        A :class:`~multilevel.families.dispersion.DispersionFamily` (its
        dispersion parameter at 1, to be estimated) for the negative binomial,
        Gamma and beta families and the gaussian with a link other than the
        identity.

    Examples
    --------
    >>> family("poisson")
    Family('poisson', link='log')
    >>> family("Gamma", "log")
    Family('gamma', link='log', shape=1)
    >>> family("binomial", "cauchit")
    Traceback (most recent call last):
    ...
    ValueError: link 'cauchit' is not available for the binomial family; choose one of: logit, probit, cloglog, log
    """
    if isinstance(name, Family):
        return name if link_name is None else family(name.name, link_name)
    if not isinstance(name, str):
        raise TypeError(f"family must be a name such as 'poisson', not {short_repr(name)}")
    key = name.lower()
    key = ALIASES.get(key, key)
    if key not in FAMILIES:
        raise ValueError(f"unknown family {short_repr(name)}; choose one of: {', '.join(FAMILIES)}")
    allowed = FAMILIES[key]
    chosen = allowed[0] if link_name is None else str(link_name).lower()
    if chosen not in allowed:
        raise ValueError(
            f"link {short_repr(link_name)} is not available for the {key} family; choose one of: {', '.join(allowed)}"
        )
    if key == "cumulative":  # the link is the latent distribution; eta is the family's own argument
        return Cumulative(key, link("identity"), cdf=chosen)
    if key in _CLASSES:
        return _CLASSES[key](key, link(chosen))
    if key == "gaussian" and chosen != "identity":
        return GaussianLink(key, link(chosen))
    return Family(key, link(chosen))
