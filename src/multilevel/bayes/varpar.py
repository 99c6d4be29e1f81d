"""The variance parameters and their priors: the piece every sampler shares.

Both the full NUTS model (fixed and random effects sampled) and the collapsed
Gaussian model (effects integrated out) sample the same variance parameters
with the same priors and transforms:

- one standard deviation per column of each random-effects term (one per
  term for the ``cs`` and ``ar1`` structures),
- one correlation-matrix Cholesky factor per correlated term (LKJ prior), or
  for a structured term (``cs``, ``hcs``, ``ar1``) its one correlation ``rho``
  (a uniform prior on its interval by default), from which the factor follows,
- ``sigma`` (gaussian, student) and ``nu`` (student);
- the family's own positive parameter: ``shape`` (negative_binomial, gamma)
  or ``phi`` (beta).

:func:`sample_varpar` draws them as NumPyro sample sites inside a model and
returns a :class:`VarPar` holding ``sds`` and ``corr_chols`` per term in the
order of ``design.terms`` (as :mod:`multilevel.bayes.collapsed` takes them).

Examples
--------
>>> import numpyro
>>> from multilevel.bayes import priors
>>> vs = VarParStructure(term_k=(2,), sd_groups=(((priors.half_normal(1).kind), (0, 1)),),
...                      sigma_kind=priors.exponential(1).kind, nu_kind=None)
>>> pv = {"sd": [np.array([[1.0], [2.0]])], "lkj": [np.array(1.0)], "sigma": np.array([1.0])}
>>> with numpyro.handlers.seed(rng_seed=0):
...     vp = sample_varpar(vs, pv)
>>> vp.sds[0].shape, vp.corr_chols[0].shape, vp.factor(0).shape
((2,), (2, 2), (2, 2))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = ["VarParStructure", "VarPar", "prior_dist", "sample_vector", "sample_varpar", "group_priors",
           "vector_sites", "varpar_sites", "structured_chol"]


def prior_dist(kind: tuple, P):
    """A NumPyro distribution of prior ``kind`` with parameters ``P`` (..., nvalues).

    ``P[..., j]`` is the j-th of :attr:`Prior.values` (parameters, then the
    truncation point); the leading dimensions become the batch shape.

    Examples
    --------
    >>> from multilevel.bayes import priors
    >>> d = prior_dist(priors.normal(0, 2).kind, np.array([[0.0, 2.0], [1.0, 3.0]]))
    >>> d.batch_shape
    (2,)
    """
    import numpyro.distributions as dist
    from numpyro.distributions.transforms import PowerTransform

    name, truncated, on = kind
    if not hasattr(P, "at"):  # NumPy values (eager sites): sliced without dispatching to JAX
        P = np.asarray(P, dtype=float)
    c = [P[..., j] for j in range(P.shape[-1])]
    if name == "normal":
        d = dist.Normal(c[0], c[1])
    elif name == "student_t":
        if truncated:  # lower == mu == 0 (checked when the prior is made): a half Student-t
            return dist.FoldedDistribution(dist.StudentT(c[0], 0.0 * c[2], c[2]))
        d = dist.StudentT(c[0], c[1], c[2])
    elif name == "cauchy":
        d = dist.Cauchy(c[0], c[1])
    elif name == "logistic":
        d = dist.Logistic(c[0], c[1])
    elif name == "half_normal":
        return dist.HalfNormal(c[0])
    elif name == "half_cauchy":
        return dist.HalfCauchy(c[0])
    elif name == "half_student_t":
        # |t| rather than a truncated t: sampling it (for initial values) needs no inverse CDF
        return dist.FoldedDistribution(dist.StudentT(c[0], 0.0 * c[1], c[1]))
    elif name == "exponential":
        return dist.Exponential(c[0])
    elif name == "uniform":
        return dist.Uniform(c[0], c[1])
    elif name == "gamma":
        g = dist.Gamma(c[0], c[1])
        # on the precision 1/x^2 of x: x = p^(-1/2); the transform adds the Jacobian
        return dist.TransformedDistribution(g, PowerTransform(-0.5)) if on == "precision" else g
    else:
        raise ValueError(f"no distribution for prior kind {kind!r}")
    if truncated:
        return dist.TruncatedDistribution(d, low=c[-1])
    return d


def group_priors(prior_list) -> tuple[tuple, list[np.ndarray]]:
    """Group priors of one kind so each group is drawn as one vector site.

    Returns
    -------
    groups : tuple of (kind, positions)
    values : list of ndarray (len(positions), nvalues)

    Examples
    --------
    >>> from multilevel.bayes import priors
    >>> g, v = group_priors([priors.normal(0, 1), priors.cauchy(0, 2), priors.normal(1, 3)])
    >>> [pos for _, pos in g], v[0].tolist()
    ([(0, 2), (1,)], [[0.0, 1.0], [1.0, 3.0]])
    """
    order: dict = {}
    for i, p in enumerate(prior_list):
        order.setdefault(p.kind, []).append(i)
    groups = tuple((kind, tuple(pos)) for kind, pos in order.items())
    values = [np.array([prior_list[i].values for i in pos], dtype=float) for _, pos in groups]
    return groups, values


def sample_vector(site: str, groups: tuple, values, size: int):
    """Sample a vector of ``size`` parameters, one NumPyro site per prior kind.

    Sites are named ``f"{site}{g}"`` for group ``g``.

    Examples
    --------
    >>> import numpyro
    >>> from multilevel.bayes import priors
    >>> g, v = group_priors([priors.normal(0, 1), priors.cauchy(0, 2), priors.normal(5, 0.1)])
    >>> with numpyro.handlers.seed(rng_seed=0):
    ...     b = sample_vector("_b", g, v, 3)
    >>> b.shape, bool(abs(b[2] - 5) < 1)
    ((3,), True)
    """
    import jax.numpy as jnp
    import numpyro

    if len(groups) == 1 and groups[0][1] == tuple(range(size)):
        return numpyro.sample(f"{site}0", prior_dist(groups[0][0], values[0]).to_event(1))
    out = jnp.zeros(size)
    for g, (kind, pos) in enumerate(groups):
        v = numpyro.sample(f"{site}{g}", prior_dist(kind, values[g]).to_event(1))
        out = out.at[np.asarray(pos)].set(v)
    return out


def vector_sites(site: str, groups: tuple, values) -> dict:
    """The distributions of the sites :func:`sample_vector` makes (``{name: distribution}``).

    Examples
    --------
    >>> from multilevel.bayes import priors
    >>> g, v = group_priors([priors.normal(0, 1), priors.cauchy(0, 2)])
    >>> sorted(vector_sites("_b", g, v))
    ['_b0', '_b1']
    """
    from numpyro.distributions.distribution import validation_enabled

    with validation_enabled(False):  # the prior values were checked when the priors were made
        return {f"{site}{g}": prior_dist(kind, values[g]).to_event(1) for g, (kind, _) in enumerate(groups)}


@dataclass(frozen=True)
class VarParStructure:
    """What is static about the variance parameters (hashable; the numbers are in ``pv``).

    Attributes
    ----------
    term_k : tuple of int
        Columns per random-effects term, in ``design.terms`` order.
    sd_groups : tuple of (kind, positions)
        The flat vector of all SDs (term by term, column by column) grouped by
        prior kind.
    sigma_kind, nu_kind : tuple or None
        Prior kinds of sigma and nu (None when the family has none).
    aux_name : str or None
        The family's own positive parameter (``"shape"``, ``"phi"``), if any.
    aux_kind : tuple or None
        Its prior kind.
    term_structure : tuple of str or None
        Per term, its covariance structure (``"cs"``, ``"hcs"``, ``"ar1"``) or
        None (unstructured); empty: every term unstructured.
    rho_kinds : tuple
        Per structured term (in term order), the prior kind of its correlation.

    Examples
    --------
    >>> vs = VarParStructure(term_k=(2, 1), sd_groups=(), sigma_kind=None, nu_kind=None)
    >>> vs.nsd, vs.sd_offsets
    (3, (0, 2, 3))
    >>> VarParStructure(term_k=(4, 1), sd_groups=(), sigma_kind=None, nu_kind=None,
    ...                 term_structure=("ar1", None)).sd_offsets
    (0, 1, 2)
    """

    term_k: tuple[int, ...]
    sd_groups: tuple
    sigma_kind: tuple | None
    nu_kind: tuple | None
    aux_name: str | None = None
    aux_kind: tuple | None = None
    term_structure: tuple = ()
    rho_kinds: tuple = ()

    def structure(self, t: int):
        """Term ``t``'s :class:`~multilevel.design.structure.Structure`, or None (unstructured)."""
        kind = self.term_structure[t] if self.term_structure else None
        if kind is None:
            return None
        from ..design.structure import Structure

        return Structure(kind, self.term_k[t])

    @property
    def term_nsd(self) -> tuple[int, ...]:
        """Standard deviations per term: one per column, one for ``cs`` and ``ar1``."""
        return tuple(k if self.structure(t) is None else self.structure(t).nsd
                     for t, k in enumerate(self.term_k))

    @property
    def nsd(self) -> int:
        """Number of standard deviations."""
        return sum(self.term_nsd)

    @property
    def sd_offsets(self) -> tuple[int, ...]:
        """Start of each term's SDs in the flat vector (and the total at the end)."""
        out = [0]
        for k in self.term_nsd:
            out.append(out[-1] + k)
        return tuple(out)


class VarPar(NamedTuple):
    """One value of the variance parameters.

    Attributes
    ----------
    sds : tuple of array (k_t,)
        Standard deviations of each term's random effects.
    corr_chols : tuple of array (k_t, k_t) or None
        Lower Cholesky factors of the terms' correlation matrices (None for k_t = 1).
    sigma, nu : scalar or None
    aux : scalar or None
        The family's shape or precision.
    """

    sds: tuple
    corr_chols: tuple
    sigma: object
    nu: object
    aux: object = None

    def factor(self, t: int):
        """``diag(sd_t) L_t``: the Cholesky factor of term t's covariance matrix.

        Examples
        --------
        >>> vp = VarPar((np.array([2.0, 3.0]),), (np.array([[1.0, 0.0], [0.6, 0.8]]),), None, None)
        >>> np.asarray(vp.factor(0)).round(6).tolist()
        [[2.0, 0.0], [1.8, 2.4]]
        """
        import jax.numpy as jnp

        sd = self.sds[t]
        L = self.corr_chols[t]
        return jnp.diag(sd) if L is None else sd[:, None] * L


def structured_chol(kind: str, k: int, rho, xp=None):
    """The lower Cholesky factor (k x k) of a structured term's correlation matrix at ``rho``.

    ``ar1``: ``L[i, j] = rho^(i - j)`` (times ``sqrt(1 - rho^2)`` for ``j > 0``); ``cs`` and
    ``hcs``: the factor of ``(1 - rho) I + rho 11'`` in closed form, column by column from
    the Schur complements of the leading blocks. Differentiable in ``rho`` (``xp``:
    ``jax.numpy`` by default, ``numpy`` for draws; ``rho`` may be an array of draws).

    Examples
    --------
    >>> L = structured_chol("cs", 3, 0.4, xp=np)
    >>> (L @ L.T).round(12).tolist()
    [[1.0, 0.4, 0.4], [0.4, 1.0, 0.4], [0.4, 0.4, 1.0]]
    >>> L = structured_chol("ar1", 3, 0.5, xp=np)
    >>> (L @ L.T).round(12).tolist()
    [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
    """
    if xp is None:
        import jax.numpy as xp
    rho = xp.asarray(rho)
    i = np.arange(k)
    lag = i[:, None] - i[None, :]
    below = lag >= 0
    if kind == "ar1":
        pw = rho[..., None, None] ** np.maximum(lag, 0)
        scale = np.where(i[None, :] > 0, 1.0, 0.0)
        col = xp.sqrt(xp.clip(1.0 - rho * rho, 1e-300, None))[..., None, None]
        return xp.where(below, pw * (1.0 + scale * (col - 1.0)), 0.0)
    # compound symmetry: after j columns the Schur complement is (1 - rho) I + r_j 11', with
    # 1 / r_(j+1) = 1 / r_j + 1 / (1 - rho), so r_j = rho (1 - rho) / (1 + (j - 1) rho); column j
    # has diagonal sqrt(a_j), a_j = 1 - rho + r_j, and r_j / sqrt(a_j) below it
    j = np.arange(k, dtype=float)
    rr = rho[..., None]
    r = rr * (1.0 - rr) / (1.0 + (j - 1.0) * rr)          # (..., k)
    diag = xp.sqrt(1.0 - rr + r)
    off = r / diag
    return xp.where(lag == 0, diag[..., None, :], xp.where(lag > 0, off[..., None, :], 0.0))


def sample_varpar(vs: VarParStructure, pv: dict) -> VarPar:
    """Draw the variance parameters as NumPyro sample sites (call inside a model).

    Sites: ``_sd{g}`` (SDs, one per prior kind), ``_L{t}`` (LKJ Cholesky factor
    of correlated term t), ``_rho{t}`` (the correlation of structured term t),
    ``sigma``, ``nu`` and the family's ``shape`` or ``phi``.

    Parameters
    ----------
    vs : VarParStructure
    pv : dict
        ``"sd"``: list of prior-value arrays per SD group; ``"lkj"``: LKJ eta per
        term (used for terms with k > 1); ``"rho"``: per structured term, its
        correlation's prior values; ``"sigma"``, ``"nu"``, ``"aux"``: prior values.

    Returns
    -------
    VarPar

    Examples
    --------
    See the module's example.
    """
    import numpyro
    import numpyro.distributions as dist

    import jax.numpy as jnp

    sd_all = sample_vector("_sd", vs.sd_groups, pv["sd"], vs.nsd) if vs.nsd else None
    off = vs.sd_offsets
    sds, chols = [], []
    r = 0
    for t, k in enumerate(vs.term_k):
        st = vs.structure(t)
        sd = sd_all[off[t]:off[t + 1]]
        if st is not None:
            rho = numpyro.sample(f"_rho{t}", prior_dist(vs.rho_kinds[r], pv["rho"][r]))
            r += 1
            sds.append(sd * jnp.ones(k) if st.nsd == 1 else sd)
            chols.append(structured_chol(st.kind, k, rho))
        elif k > 1:
            sds.append(sd)
            chols.append(numpyro.sample(f"_L{t}", dist.LKJCholesky(k, concentration=pv["lkj"][t])))
        else:
            sds.append(sd)
            chols.append(None)
    sigma = nu = None
    if vs.sigma_kind is not None:
        sigma = numpyro.sample("sigma", prior_dist(vs.sigma_kind, pv["sigma"]))
    if vs.nu_kind is not None:
        nu = numpyro.sample("nu", prior_dist(vs.nu_kind, pv["nu"]))
    aux = None if vs.aux_kind is None else numpyro.sample(vs.aux_name, prior_dist(vs.aux_kind, pv["aux"]))
    return VarPar(tuple(sds), tuple(chols), sigma, nu, aux)


def varpar_sites(vs: VarParStructure, pv: dict) -> dict:
    """``{site: distribution}`` of the sites :func:`sample_varpar` makes, with the values ``pv``.

    Examples
    --------
    >>> from multilevel.bayes import priors
    >>> vs = VarParStructure(term_k=(2,), sd_groups=(((priors.half_normal(1).kind), (0, 1)),),
    ...                      sigma_kind=priors.exponential(1).kind, nu_kind=None)
    >>> pv = {"sd": [np.array([[1.0], [2.0]])], "lkj": [np.array(1.0)], "sigma": np.array([1.0])}
    >>> sorted(varpar_sites(vs, pv))
    ['_L0', '_sd0', 'sigma']
    """
    import numpyro.distributions as dist
    from numpyro.distributions.distribution import validation_enabled

    out = vector_sites("_sd", vs.sd_groups, pv["sd"]) if vs.nsd else {}
    with validation_enabled(False):  # the prior values were checked when the priors were made
        r = 0
        for t, k in enumerate(vs.term_k):
            if vs.structure(t) is not None:
                out[f"_rho{t}"] = prior_dist(vs.rho_kinds[r], pv["rho"][r])
                r += 1
            elif k > 1:
                out[f"_L{t}"] = dist.LKJCholesky(k, concentration=pv["lkj"][t])
        if vs.sigma_kind is not None:
            out["sigma"] = prior_dist(vs.sigma_kind, pv["sigma"])
        if vs.nu_kind is not None:
            out["nu"] = prior_dist(vs.nu_kind, pv["nu"])
        if vs.aux_kind is not None:
            out[vs.aux_name] = prior_dist(vs.aux_kind, pv["aux"])
    return out
