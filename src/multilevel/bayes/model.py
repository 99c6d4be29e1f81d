"""The Bayesian multilevel model as one vectorised JAX log density.

The model is built from the same :class:`~multilevel.design.Design` as the
likelihood routes: the fixed-effects matrix ``X`` (non-intercept columns
centred when the intercept's prior is on the centred scale), and per random
term its per-observation columns ``Z`` (n, k), level codes and number of
levels. Random effects are non-centred: ``z[t] ~ N(0, 1)`` of shape
(levels, k) and ``b[t] = z[t] (diag(sd_t) L_t)'``, with ``L_t`` the Cholesky
factor of the term's correlation matrix. The linear predictor is

    eta = offset + X beta + sum_t rowsum(Z_t * b_t[codes_t])

with no loop over groups. Per observation, the log-likelihood is

- gaussian: ``log N(y | eta, sigma / sqrt(w))`` (``w`` precision weights, as lmer);
- student: ``log t_nu(y | eta, sigma / sqrt(w))``;
- binomial: ``log Binomial(k | m, p)`` with ``m`` trials (weights), ``k = m y``
  successes and ``p = g^-1(eta)`` (logit, probit or cloglog);
- poisson: ``w log Poisson(y | exp(eta))`` (``w`` prior weights, as glmer);
- negative_binomial: ``w log NB(y | mu = exp(eta), shape)``, variance
  ``mu + mu^2 / shape`` (brms's ``negbinomial``, glmmTMB's ``nbinom2``);
- nbinom1: ``w log NB(y | size = mu / phi, prob = 1 / (1 + phi))``, variance
  ``mu (1 + phi)`` (glmmTMB's ``nbinom1``);
- betabinomial: ``log BetaBinomial(k | m, mu phi, (1 - mu) phi)`` with ``m``
  trials (weights) and ``k = m y`` successes (glmmTMB's ``betabinomial``,
  brms's ``beta_binomial``);
- gamma: ``w log Gamma(y | shape, rate = shape / mu)``, ``mu = exp(eta)``;
- beta: ``w log Beta(y | mu phi, (1 - mu) phi)``, ``mu = g^-1(eta)`` (brms's
  ``Beta``, glmmTMB's ``beta_family``);
- cumulative: ``w log(F(tau_y - eta) - F(tau_{y-1} - eta))`` for category
  ``y`` with ordered thresholds ``tau`` (``tau_0 = -inf``, ``tau_K = inf``)
  and no intercept in ``eta`` (brms's ``cumulative``, ordinal's ``clmm``).

With zero inflation (``zi=``, poisson and the negative binomials) a row's
likelihood is the mixture ``pi [y = 0] + (1 - pi) f(y)`` with ``logit(pi) =
X_zi gamma``: ``log(pi + (1 - pi) f(0))`` for a zero, ``log(1 - pi) + log
f(y)`` otherwise (brms's ``zero_inflated_poisson`` and
``zero_inflated_negbinomial``, glmmTMB's ``ziformula``).

Examples
--------
>>> import multilevel as ml
>>> from multilevel.design import build_design
>>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
>>> m = BayesModel.build(d, "gaussian", "identity")
>>> m.struct.p, m.struct.terms, m.centered
(2, ((1, 18, True),), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from . import priors as _priors
from .priors import FAMILY_AUX
from .varpar import (VarParStructure, group_priors, prior_dist, sample_varpar, sample_vector, varpar_sites,
                     vector_sites)

__all__ = ["ModelStructure", "BayesModel", "FAMILY_LINKS"]

#: families of the Bayesian route and their links (first = default)
FAMILY_LINKS = {
    "gaussian": ("identity",),
    "student": ("identity",),
    "binomial": ("logit", "probit", "cloglog"),
    "poisson": ("log",),
    "negative_binomial": ("log",),
    "nbinom1": ("log",),
    "gamma": ("log",),
    "beta": ("logit", "probit", "cloglog"),
    "betabinomial": ("logit", "probit", "cloglog"),
    "cumulative": ("logit", "probit", "cloglog"),
}


@dataclass(frozen=True)
class ModelStructure:
    """Everything static about a model (hashable: the key of the compile cache).

    Attributes
    ----------
    family, link : str
    p : int
        Number of fixed effects.
    terms : tuple of (k, nlevels, ones)
        Per random term: columns, levels, and whether its only column is all ones.
    fixed_groups : tuple
        Fixed-effect priors grouped by kind (see :func:`group_priors`).
    varpar : VarParStructure
    has_offset, has_weights : bool
    grid : bool
        Whether the data are laid out as a complete levels x rows grid.
    ncat : int
        A cumulative model's number of categories (0 for the other families).
    thr_kind : tuple or None
        The prior kind of its thresholds.
    pzi : int
        Number of zero-inflation coefficients (0: no zero inflation).
    zi_groups : tuple
        Their priors grouped by kind.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> s = BayesModel.build(d, "gaussian", "identity").struct
    >>> s.family, s.terms, s.varpar.term_k, hash(s) == hash(BayesModel.build(d, "gaussian", "identity").struct)
    ('gaussian', ((2, 18, False),), (2,), True)
    """

    family: str
    link: str
    p: int
    terms: tuple
    fixed_groups: tuple
    varpar: VarParStructure
    has_offset: bool
    has_weights: bool
    grid: bool = False
    ncat: int = 0
    thr_kind: tuple | None = None
    pzi: int = 0
    zi_groups: tuple = ()


#: fewest rows for which a complete grid of groups x positions is laid out as one
_GRID_MIN_N = 1000


def data_rows(design) -> np.ndarray | None:
    """The rows of positive prior weight of ``design`` (:func:`~multilevel.design.data.positive_rows`),
    which the default priors and starting scales read."""
    from ..design.data import positive_rows

    return positive_rows(getattr(design, "weights", None))


def _grid_order(X: np.ndarray, codes: np.ndarray, nlevels: int) -> np.ndarray | None:
    """Row order making the data a complete ``levels x m`` grid with one X row per position.

    Returns the permutation ``perm`` (rows of level 0 first, within a level in
    the order of their X rows) when every level has the same number ``m`` of
    rows and position ``j`` of every level has the same X row (a person x item
    response matrix with no missing answers, a balanced design with the
    occasions as columns), else None. Then ``X[perm]`` is ``X0`` repeated and
    the linear predictor of a random-intercept model is ``(X0 beta)[None, :] +
    b[:, None]``: no gather, no scatter, no n x p product.
    """
    n = X.shape[0]
    if n < _GRID_MIN_N or n % nlevels:
        return None
    m = n // nlevels
    if m < 2 or np.any(np.bincount(codes, minlength=nlevels) != m):
        return None
    perm = np.lexsort(tuple(X.T[::-1]) + (codes,))
    Xg = X[perm].reshape(nlevels, m, X.shape[1])
    if not np.array_equal(Xg, np.broadcast_to(Xg[:1], Xg.shape)):
        return None
    return perm


def _param_names(design, centered_names=None):
    """brms-style names of the SDs and correlations, and per term its name group.

    A term's parameters are named after its grouping factor (``sd_school__Intercept``);
    when two terms of one factor share a coefficient name the later term uses its
    label (``school.1``) instead. A structured term (``cs``, ``hcs``, ``ar1``) has one
    correlation, ``rho_<group>``, in place of a correlation matrix, and ``cs`` and
    ``ar1`` one SD, ``sd_<group>``.

    Returns
    -------
    gnames : list of str
    sd_params : list of (name, group, coef)
    cor_params : list of (name, group)
        The unstructured terms' correlation matrices.
    rho_params : list of (name, group, lower)
        The structured terms' correlations, with the lowest each may take.
    """
    from .priors import coef_name

    seen: dict[str, set] = {}
    gnames = []
    for t in design.terms:
        coefs = [coef_name(c) for c in t.columns]
        if t.structure is not None:  # (its sd_<group> and rho_<group> are names of the group's own)
            coefs.append("")
        used = seen.setdefault(t.group, set())
        g = t.group if not used.intersection(coefs) else t.label
        if g != t.group:
            seen.setdefault(g, set()).update(coefs)
        else:
            used.update(coefs)
        gnames.append(g)
    sd_params, cor_params, rho_params = [], [], []
    for t, g in zip(design.terms, gnames):
        st = t.structure
        if st is not None and st.nsd == 1:
            sd_params.append((f"sd_{g}", g, ""))
        else:
            for c in t.columns:
                sd_params.append((f"sd_{g}__{coef_name(c)}", g, coef_name(c)))
        if st is not None:
            rho_params.append((f"rho_{g}", g, st.rho_lower))
        elif t.k > 1:
            cor_params.append((f"cor_{g}", g))
    return gnames, sd_params, cor_params, rho_params


@dataclass(frozen=True)
class BayesModel:
    """A model ready to sample: static structure, data arrays and prior values.

    Build it with :meth:`BayesModel.build`.

    Attributes
    ----------
    struct : ModelStructure
    data : dict of ndarray
        ``X`` (centred when ``centered``), ``y``, ``w``, ``offset``, ``k`` and
        ``const`` (binomial successes and the log-likelihood constants; for
        beta ``const`` and ``const1`` are ``log y`` and ``log(1 - y)``), ``yi``
        (integer responses: category codes of a cumulative model, counts of a
        negative binomial one, whose ``yi_max`` sets the length of its
        log-gamma table), and per term ``Z{t}`` and ``codes{t}``.
    pv : dict
        Prior values: ``"b"`` (list per group), ``"varpar"`` (``sd``, ``lkj``,
        ``sigma``, ``nu``).
    slots : tuple of PriorSlot
        Every parameter with its prior (for ``prior_summary``).
    design : Design
    x_means : ndarray (p,)
        Column means subtracted from X (zeros where not centred).
    intercept : int or None
        Position of the intercept among the fixed effects.
    centered : bool
        True when the non-intercept columns of X are centred (the intercept's
        prior is then on the intercept at the predictors' means).
    group_names : tuple of str
        Per term, the grouping name used in parameter names.
    sd_names, cor_names : tuple of str
        brms-style names of the SDs and of the correlation matrices.
    rho_names : tuple of str
        The correlations of the structured terms (``rho_<group>``).
    y_scale : float
        sd(y) for gaussian and student models, else 1 (sets initial values).
    aux_start : float
        A moment estimate of the family's shape or precision (its initial value).
    thr_start : tuple of float
        A cumulative model's initial thresholds: ``F^-1`` of the cumulative
        proportions of the categories.
    categories : tuple of str
        A cumulative model's response categories, in order.
    zi_design : Design or None
        The zero-inflation model's design (``zi=``), on the user's scale;
        ``data["Xzi"]`` holds its columns centred as X's are.
    zi_means : ndarray (pzi,)
        Column means subtracted from the zero-inflation columns.
    zi_intercept : int or None
        Position of the intercept among the zero-inflation coefficients.
    zi_formula : str or None
        The ``zi=`` argument as given.
    """

    struct: ModelStructure
    data: dict
    pv: dict
    slots: tuple
    design: object
    x_means: np.ndarray
    intercept: int | None
    centered: bool
    group_names: tuple
    sd_names: tuple
    cor_names: tuple
    y_scale: float = 1.0
    aux_start: float = 1.0
    thr_start: tuple = ()
    categories: tuple = ()
    zi_design: object = None
    zi_means: np.ndarray | None = None
    zi_intercept: int | None = None
    zi_formula: str | None = None
    moments: object = None
    sums: object = None
    rho_names: tuple = ()

    @property
    def rowless(self) -> bool:
        """Whether the rows stay in their parts (data in parts): ``data`` is then
        empty and ``moments`` and ``sums`` stand for them."""
        return self.moments is not None

    def column_sds(self) -> list:
        """Per term, the sample SD of each random-effects column (None: constant).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.bayes.fit import prepare
        >>> m = prepare("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> [[None if s is None else round(s, 3) for s in sds] for sds in m.column_sds()]
        [[None, 2.88]]
        """
        if self.moments is not None:
            return [list(sds) for sds in self.moments.z_sd]
        rows = data_rows(self.design)
        return [_priors.column_sds(term, rows) for term in self.design.terms]

    def start_scales(self) -> dict:
        """Starting values of the positive parameters: ``""`` the data's scale (sigma),
        and per SD site the data's scale over the SD of the effect's column, so
        that a sampler starts in the same place in any units of the predictors.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.bayes.fit import prepare
        >>> m = prepare("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> {k: np.round(v, 2).tolist() for k, v in m.start_scales().items()}
        {'': 56.33, '_sd0': [56.33, 19.56]}
        """
        per = np.asarray([self.y_scale if s is None else self.y_scale / s
                          for sds in _priors.shared_sds(self.column_sds(), self.design.terms) for s in sds],
                         dtype=float)
        out = {"": self.y_scale}
        for g, (_, pos) in enumerate(self.struct.varpar.sd_groups):
            out[f"_sd{g}"] = per[list(pos)]
        if self.struct.varpar.aux_name is not None:
            out[self.struct.varpar.aux_name] = self.aux_start
        if self.struct.ncat:
            out["_thr"] = np.asarray(self.thr_start, dtype=float)
        return out

    @classmethod
    def build(cls, design, family: str, link: str, priors: dict | None = None, center: bool = True,
              trials: np.ndarray | None = None, ncat: int = 0, zi_design=None,
              zi_formula: str | None = None, moments=None, sums=None) -> "BayesModel":
        """Arrays and priors of a model from its design.

        Parameters
        ----------
        design : Design
        family : str
            One of :data:`FAMILY_LINKS`.
        link : str
        priors : dict, optional
            The ``priors=`` argument of ``ml.bayes``.
        center : bool, default True
            Centre the non-intercept columns of X (the ``Intercept`` prior is then
            on the intercept at the predictors' means; draws are reported for the
            raw intercept).
        trials : ndarray, optional
            Binomial trials (default: the design's weights, or 1).
        ncat : int, optional
            For the cumulative family: the number of categories (the
            design's y holds codes 0 .. ncat - 1 and its X no intercept).
        zi_design : Design, optional
            The zero-inflation model's design on the same rows (``zi=``).
        zi_formula : str, optional
            The ``zi=`` argument, kept for saving and refitting.
        moments : RowMoments, optional
            For a design whose rows stay in their parts (data in parts, a
            gaussian model): the rows' moments (:mod:`multilevel.bayes.moments`),
            which the defaults read instead; ``data`` is then empty.
        sums : SummedProducts, optional
            With ``moments``: the cross-products the collapsed sampler needs
            (:mod:`multilevel.bayes.out_of_core`).

        Returns
        -------
        BayesModel

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> m = BayesModel.build(d, "gaussian", "identity", center=False)
        >>> m.centered, m.x_means.tolist(), sorted(m.data)
        (False, [0.0, 0.0], ['X', 'Z0', 'codes0', 'y'])
        """
        rowless = moments is not None
        names = design.fixed.names
        intercept = names.index("(Intercept)") if "(Intercept)" in names else None
        if rowless:
            if family != "gaussian" or ncat or zi_design is not None or trials is not None:
                raise ValueError("a design whose rows stay in their parts takes the gaussian family only")
            X = y = off = None
            n, p = moments.n, len(names)
        else:
            X = np.asarray(design.X, dtype=float)
            n, p = X.shape
            if intercept is not None and not np.allclose(X[:, intercept], 1.0):
                intercept = None
            y = np.asarray(design.y, dtype=float)
            off = None if design.offset is None else np.asarray(design.offset, dtype=float)
        # the defaults read the rows of positive weight (the data): Xs, ys, offs
        rows = None if rowless else data_rows(design)
        Xs, ys, offs = (X, y, off) if rows is None else (X[rows], y[rows], None if off is None else off[rows])
        x_means = np.zeros(p)
        centered = bool(center and (intercept is not None or ncat))
        if centered:  # (a cumulative model's thresholds take the intercept's place)
            x_means = np.array(moments.x_mean, dtype=float) if rowless else Xs.mean(axis=0)
            if intercept is not None:
                x_means[intercept] = 0.0
        Xzi, zi_names, zi_int, zi_means = None, (), None, None
        if zi_design is not None:
            Xzi = np.asarray(zi_design.X, dtype=float)
            zi_names = tuple(_priors.coef_name(nm) for nm in zi_design.fixed.names)
            zi_int = zi_names.index("Intercept") if "Intercept" in zi_names else None
            if zi_int is not None and not np.allclose(Xzi[:, zi_int], 1.0):
                zi_int = None
            zi_means = np.zeros(Xzi.shape[1])
            if center and zi_int is not None:  # (the intercept's prior is at the other columns' means)
                zi_means = (Xzi if rows is None else Xzi[rows]).mean(axis=0)
                zi_means[zi_int] = 0.0
        defaults = _priors.default_priors(family, link, ys, Xs, names, intercept,
                                          offs if family in ("gaussian", "student") else None,
                                          Xzi=Xzi if Xzi is None or rows is None else Xzi[rows], zi_names=zi_names,
                                          zi_intercept=zi_int, moments=moments)
        gnames, sd_params, cor_params, rho_params = _param_names(design)
        defaults["sd_by_name"] = _priors.sd_defaults(
            defaults["sd"], design.terms, gnames, sd_params,
            column_sd=moments.z_sd if rowless else [_priors.column_sds(t, rows) for t in design.terms])
        slots = _priors.resolve(priors, defaults, names, intercept, sd_params, cor_params,
                                thresholds=max(ncat - 1, 0), zi_names=zi_names, zi_intercept=zi_int,
                                rho_params=rho_params)
        by = {s.name: s for s in slots}
        fixed_pr = [by[f"b_{_priors.coef_name(nm)}"].prior for nm in names]
        fixed_groups, fixed_vals = group_priors(fixed_pr)
        sd_pr = [by[nm].prior for nm, _, _ in sd_params]
        sd_groups, sd_vals = group_priors(sd_pr) if sd_pr else ((), [])
        lkj = []
        for t, g in zip(design.terms, gnames):
            lkj.append(np.array(by[f"cor_{g}"].prior.params[0] if t.k > 1 and t.structure is None else 1.0))
        rho_pr = [by[nm].prior for nm, _, _ in rho_params]
        sigma_kind = by["sigma"].prior.kind if "sigma" in by else None
        nu_kind = by["nu"].prior.kind if "nu" in by else None
        aux_name = FAMILY_AUX.get(family)
        aux_kind = by[aux_name].prior.kind if aux_name is not None else None
        structured = tuple(None if t.structure is None else t.structure.kind for t in design.terms)
        vs = VarParStructure(term_k=tuple(t.k for t in design.terms), sd_groups=sd_groups,
                             sigma_kind=sigma_kind, nu_kind=nu_kind, aux_name=aux_name, aux_kind=aux_kind,
                             term_structure=structured if any(structured) else (),
                             rho_kinds=tuple(p.kind for p in rho_pr))
        pv_var = {"sd": sd_vals, "lkj": lkj}
        if rho_pr:
            pv_var["rho"] = [np.array(p.values, dtype=float) for p in rho_pr]
        if sigma_kind is not None:
            pv_var["sigma"] = np.array(by["sigma"].prior.values, dtype=float)
        if nu_kind is not None:
            pv_var["nu"] = np.array(by["nu"].prior.values, dtype=float)
        if aux_kind is not None:
            pv_var["aux"] = np.array(by[aux_name].prior.values, dtype=float)
        thr_kind = by["b_Intercept[1]"].prior.kind if ncat else None
        zi_groups, zi_vals = group_priors([by[f"b_zi_{nm}"].prior for nm in zi_names]) if zi_names else ((), [])
        if rowless:
            data, perm, has_w = {}, None, bool(design.has_weights)
            terms = [(t.k, t.nlevels, t.columns == ("(Intercept)",)) for t in design.terms]
        else:
            data, terms, perm, has_w = _row_arrays(design, family, X - x_means, y, off, Xzi, zi_means, trials,
                                                   None if zi_design is None else zi_design.offset)
        struct = ModelStructure(family=family, link=link, p=p, terms=tuple(terms),
                                fixed_groups=fixed_groups, varpar=vs,
                                has_offset=bool(design.has_offset) if rowless else off is not None,
                                has_weights=has_w, grid=perm is not None, ncat=int(ncat), thr_kind=thr_kind,
                                pzi=len(zi_names), zi_groups=zi_groups)
        if rowless:
            scale = moments.y_sd
        else:
            yy = ys if offs is None or family not in ("gaussian", "student") else ys - offs
            scale = float(np.std(yy, ddof=1)) if family in ("gaussian", "student") else 1.0
        pv = {"b": fixed_vals, "varpar": pv_var}
        if ncat:
            pv["thr"] = np.array(by["b_Intercept[1]"].prior.values, dtype=float)
        if zi_names:
            pv["bzi"] = zi_vals
        obj = cls(struct=struct, data=data, pv=pv, slots=tuple(slots),
                  design=design, x_means=x_means, intercept=intercept,
                  centered=centered, group_names=tuple(gnames),
                  sd_names=tuple(nm for nm, _, _ in sd_params), cor_names=tuple(nm for nm, _ in cor_params),
                  rho_names=tuple(nm for nm, _, _ in rho_params),
                  y_scale=scale if np.isfinite(scale) and scale > 0 else 1.0,
                  aux_start=1.0 if rowless else _aux_start(family, ys), thr_start=_thr_start(link, ys, ncat),
                  zi_design=zi_design, zi_means=zi_means, zi_intercept=zi_int, zi_formula=zi_formula,
                  moments=moments, sums=sums)
        return obj

    # ------------------------------------------------------------------ JAX pieces
    def model_fn(self):
        """The NumPyro model ``model(data, pv)`` (one per structure, so compiled code is reused).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> BayesModel.build(d, "gaussian", "identity").model_fn() is make_model(
        ...     BayesModel.build(d, "gaussian", "identity").struct)
        True
        """
        return make_model(self.struct)

    def sites(self) -> dict:
        """``{site: distribution}`` of the model's latent sites (for transforms and starting values).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> sorted(BayesModel.build(d, "gaussian", "identity").sites())
        ['_L0', '_b0', '_sd0', '_z0', 'sigma']
        """
        import numpyro.distributions as dist

        st = self.struct
        out = vector_sites("_b", st.fixed_groups, self.pv["b"]) if st.p else {}
        out.update(varpar_sites(st.varpar, self.pv["varpar"]))
        for t, (k, nl, _) in enumerate(st.terms):
            out[f"_z{t}"] = dist.Normal(0.0, 1.0).expand((nl, k)).to_event(2)
        if st.ncat:
            out["_thr"] = _threshold_site(st.ncat)
        if st.pzi:
            out.update(vector_sites("_bzi", st.zi_groups, self.pv["bzi"]))
        return out

    def jax_inputs(self):
        """``(data, pv)`` as JAX arrays (64-bit floats when JAX's x64 mode is on).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> data, pv = BayesModel.build(d, "gaussian", "identity").jax_inputs()
        >>> data["X"].shape, str(data["codes0"].dtype)
        ((180, 2), 'int32')
        """
        import jax

        def conv(x):  # device_put of a NumPy array of the final dtype: nothing to compile
            x = np.asarray(x)
            if x.dtype.kind in "iu":
                x = x.astype(np.int32)
            elif x.dtype.kind == "f" and not jax.config.read("jax_enable_x64"):
                x = x.astype(np.float32)
            return jax.device_put(x)

        return jax.tree_util.tree_map(conv, self.data), jax.tree_util.tree_map(conv, self.pv)

    def log_joint(self, params: dict) -> float:
        """The log joint density (log prior + log-likelihood) at constrained values.

        Parameters
        ----------
        params : dict
            ``"b"`` (p,) fixed effects on the model's (centred) scale; ``"sd"``
            (all SDs, term by term); ``"L{t}"`` correlation Cholesky factors of
            correlated terms, ``"rho{t}"`` the correlation of a structured one; ``"z{t}"`` (levels, k) standardised random effects;
            ``"sigma"``, ``"nu"``, ``"shape"``, ``"phi"`` as the family needs;
            ``"thr"`` a cumulative model's thresholds on the model's (centred) scale;
            ``"bzi"`` the zero-inflation coefficients on the model's (centred) scale.

        Returns
        -------
        float
            No Jacobian of any transform: the density of the parameters as given.

        Examples
        --------
        >>> import multilevel as ml, numpy as np
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> m = BayesModel.build(d, "gaussian", "identity")
        >>> v = m.log_joint({"b": np.array([298.5, 10.0]), "sd": np.array([30.0]),
        ...                  "z0": np.zeros((18, 1)), "sigma": 30.0})
        >>> bool(np.isfinite(v))
        True
        """
        import jax
        from numpyro.infer.util import log_density

        jax.config.update("jax_enable_x64", True)  # as ml.bayes samples
        data, pv = self.jax_inputs()
        return float(log_density(self.model_fn(), (data, pv), {}, self.sites_from(params))[0])

    def sites_from(self, params: dict) -> dict:
        """Map named parameter values to the model's internal sample sites."""
        import jax.numpy as jnp

        st = self.struct
        out = {}
        b = jnp.asarray(params["b"])
        for g, (_, pos) in enumerate(st.fixed_groups):
            out[f"_b{g}"] = b[np.asarray(pos)]
        if st.varpar.nsd:
            sd = jnp.asarray(params["sd"])
            for g, (_, pos) in enumerate(st.varpar.sd_groups):
                out[f"_sd{g}"] = sd[np.asarray(pos)]
        for t, (k, _, _) in enumerate(st.terms):
            out[f"_z{t}"] = jnp.asarray(params[f"z{t}"])
            if st.varpar.structure(t) is not None:
                out[f"_rho{t}"] = jnp.asarray(params[f"rho{t}"])
            elif k > 1:
                out[f"_L{t}"] = jnp.asarray(params[f"L{t}"])
        for nm in ("sigma", "nu", st.varpar.aux_name):
            if nm is not None and nm in params and params[nm] is not None:
                out[nm] = jnp.asarray(params[nm])
        if st.ncat:
            out["_thr"] = jnp.asarray(params["thr"])
        if st.pzi:
            bzi = jnp.asarray(params["bzi"])
            for g, (_, pos) in enumerate(st.zi_groups):
                out[f"_bzi{g}"] = bzi[np.asarray(pos)]
        return out


def linear_predictor(struct: ModelStructure, data: dict, beta, bs):
    """``eta`` (n,) from fixed effects ``beta`` (p,) and random effects ``bs[t]`` (levels, k).

    ``beta`` is on the scale of ``data["X"]`` (centred when the model is).

    Examples
    --------
    >>> import multilevel as ml, jax.numpy as jnp
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> m = BayesModel.build(d, "gaussian", "identity", center=False)
    >>> data, _ = m.jax_inputs()
    >>> eta = linear_predictor(m.struct, data, jnp.array([250.0, 10.0]), [jnp.ones((18, 1))])
    >>> [float(v) for v in eta[:2]]
    [251.0, 261.0]
    """
    import jax.numpy as jnp

    eta = data["X"] @ beta if struct.p else jnp.zeros(data["y"].shape[0])
    if struct.has_offset:
        eta = eta + data["offset"]
    for t, (k, _, ones) in enumerate(struct.terms):
        rows = bs[t][data[f"codes{t}"]]
        eta = eta + (rows[:, 0] if ones else jnp.sum(data[f"Z{t}"] * rows, axis=1))
    return eta


def pointwise_loglik(struct: ModelStructure, data: dict, eta, sigma=None, nu=None, aux=None, zeta=None):
    """Log-likelihood of each observation (n,) given the linear predictor.

    ``eta`` may carry leading draw dimensions (``(m, n)``, with ``sigma``,
    ``nu`` and ``aux`` (the family's shape or precision) of shape ``(m, 1)``);
    ``zeta`` is the zero-inflation model's linear predictor (the logit of
    the structural-zero probability, shaped as ``eta``) where there is one.

    Examples
    --------
    >>> import multilevel as ml, jax.numpy as jnp
    >>> from scipy import stats
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> m = BayesModel.build(d, "gaussian", "identity")
    >>> data, _ = m.jax_inputs()
    >>> ll = pointwise_loglik(m.struct, data, jnp.full(180, 300.0), sigma=50.0)
    >>> bool(np.allclose(ll, stats.norm.logpdf(d.y, 300.0, 50.0)))
    True
    """
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    y = data["y"]
    fam, link = struct.family, struct.link
    if struct.has_weights and fam not in ("gaussian", "student"):
        # a row of weight 0 is not data: its linear predictor is set to one where the family's
        # density is finite (0, or 1 for an identity or inverse link: a mean of 1), so that an
        # extreme one (exp(1500)) gives no nan to the sum or its gradient; its term is
        # multiplied by 0 below
        eta = jnp.where(data["w"] > 0, eta, 1.0 if link in ("identity", "inverse", "1/mu^2") else 0.0)
    if fam in ("gaussian", "student"):
        if struct.has_weights:
            w = data["w"]
            pos = w > 0
            scale = sigma / jnp.sqrt(jnp.where(pos, w, 1.0))
        else:
            scale = sigma
        r = (y - eta) / scale
        if fam == "gaussian":
            ll = -0.5 * r * r - jnp.log(scale) - 0.5 * np.log(2 * np.pi)
        else:
            ll = (jsp.gammaln(0.5 * (nu + 1)) - jsp.gammaln(0.5 * nu) - 0.5 * jnp.log(nu * np.pi)
                  - jnp.log(scale) - 0.5 * (nu + 1) * jnp.log1p(r * r / nu))
        return jnp.where(pos, ll, 0.0) if struct.has_weights else ll
    if fam == "binomial":
        k = data["k"]
        m = data["w"] if struct.has_weights else jnp.ones_like(y)
        if link == "logit":
            # k log p + (m - k) log(1 - p) = k eta - m log(1 + e^eta), no 0 log 0 to guard
            return k * eta - m * _softplus()(eta) + data["const"]
        if link == "probit":
            lp, lq = jsp.log_ndtr(eta), jsp.log_ndtr(-eta)
        else:  # cloglog: p = 1 - exp(-exp(eta))
            mu = jnp.exp(eta)
            lp, lq = jnp.log(-jnp.expm1(-mu)), -mu
        # 0 * log(0) terms are 0 (k = 0 or k = m)
        return (jnp.where(k > 0, k * lp, 0.0) + jnp.where(m - k > 0, (m - k) * lq, 0.0)
                + data["const"])
    if fam == "betabinomial":  # trials m (the weights), successes k: not weighted
        k = data["k"]
        m = data["w"] if struct.has_weights else jnp.ones_like(y)
        mu = _inverse_link_jax(link, eta)
        a = jnp.maximum(mu * aux, 1e-300)
        b = jnp.maximum((1.0 - mu) * aux, 1e-300)
        return (jsp.gammaln(k + a) + jsp.gammaln(m - k + b) - jsp.gammaln(m + aux) - jsp.gammaln(a)
                - jsp.gammaln(b) + jsp.gammaln(aux) + data["const"])
    if fam == "poisson":  # log link
        ll = y * eta - jnp.exp(eta) + data["const"]
    elif fam == "nbinom1":  # log link: size mu / phi, probability 1 / (1 + phi)
        size = jnp.exp(eta) / aux
        ll = (jsp.gammaln(y + size) - jsp.gammaln(size) + data["const"] - (size + y) * jnp.log1p(aux)
              + y * jnp.log(aux))
    elif fam == "negative_binomial":  # log link; shape s: y log(mu / (s + mu)) + s log(s / (s + mu))
        # (log(1 + mu / s) as a softplus of its own: log s - log(s + mu) lost its digits at a large
        # shape, some 1e-5 a row at 1e10, where the counts are nearly Poisson)
        log_s = jnp.log(aux)
        sp = jnp.logaddexp(0.0, eta - log_s)
        ll = _lgamma_ratio(data, aux) + data["const"] - aux * sp + y * (eta - log_s - sp)
    elif fam == "gamma":  # log link: shape a, rate a / mu (const = -log y)
        ll = aux * (jnp.log(aux) - eta - data["const"]) - jsp.gammaln(aux) - aux * y * jnp.exp(-eta) + data["const"]
    elif fam == "cumulative":
        ll = _cumulative_loglik(link, data["yi"], eta, aux)
    else:  # beta: Beta(mu phi, (1 - mu) phi)
        sp = _softplus()
        if link == "logit":
            lmu, l1mu = -sp(-eta), -sp(eta)
        elif link == "probit":
            lmu, l1mu = jsp.log_ndtr(eta), jsp.log_ndtr(-eta)
        else:  # cloglog
            lmu, l1mu = jnp.log(-jnp.expm1(-jnp.exp(eta))), -jnp.exp(eta)
        # a mean of exactly 0 or 1 (a linear predictor far out) has no density: floor it
        tiny = 1e-300
        a = jnp.maximum(jnp.exp(lmu) * aux, tiny)
        b = jnp.maximum(jnp.exp(l1mu) * aux, tiny)
        ly, l1y = data["const"], data["const1"]
        ll = (jsp.gammaln(aux) - jsp.gammaln(a) - jsp.gammaln(b) + (a - 1.0) * ly + (b - 1.0) * l1y)
    if zeta is not None:  # pi [y = 0] + (1 - pi) f(y), log pi = -softplus(-zeta), log(1 - pi) = -softplus(zeta)
        sp = _softplus()
        log1m_pi = -sp(zeta)
        ll = jnp.where(y == 0, jnp.logaddexp(-sp(-zeta), log1m_pi + ll), log1m_pi + ll)
    return data["w"] * ll if struct.has_weights else ll


#: largest count for which log Gamma(y + s) - log Gamma(s) is summed from a table
_LGAMMA_TABLE_MAX = 5000


def _lgamma_ratio(data: dict, s):
    """``log Gamma(y + s) - log Gamma(s)`` of the counts ``y`` at shape ``s``.

    For counts up to :data:`_LGAMMA_TABLE_MAX` (``data["yi"]``, integers) it is
    ``sum_{j < y} log(s + j)``: a cumulative sum of ``max(y)`` logarithms
    looked up per row, which with its gradient costs a tenth of two log-gamma
    functions and their digammas per row. ``s`` may carry leading draw
    dimensions (``(m, 1)``).
    """
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    if "yi" not in data:
        return jsp.gammaln(data["y"] + s) - jsp.gammaln(s)
    top = data["yi_max"].shape[-1]
    table = jnp.cumsum(jnp.log(s + jnp.arange(top)), axis=-1)  # (..., top): the sum up to j
    table = jnp.concatenate([jnp.zeros(table.shape[:-1] + (1,)), table], axis=-1)
    return jnp.take(table, data["yi"], axis=-1) if table.ndim == 1 else jnp.take_along_axis(
        table, jnp.broadcast_to(data["yi"], table.shape[:-1] + data["yi"].shape[-1:]), axis=-1)


def _inverse_link_jax(link: str, eta):
    """``g^-1(eta)`` of the logit, probit and cloglog links, in JAX."""
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    if link == "logit":
        return jsp.expit(eta)
    if link == "probit":
        return jsp.ndtr(eta)
    return -jnp.expm1(-jnp.exp(eta))


def _cumulative_loglik(link: str, yi, eta, thr):
    """``log P(Y = yi)`` with ``P(Y <= k) = F(thr_k - eta)``; ``thr`` (..., K - 1) ordered.

    The first and last categories use ``log F`` and ``log(1 - F)`` directly
    (no infinite thresholds enter a gradient).
    """
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    K1 = thr.shape[-1]
    upper = jnp.take(thr, jnp.minimum(yi, K1 - 1), axis=-1) - eta
    lower = jnp.take(thr, jnp.maximum(yi - 1, 0), axis=-1) - eta
    sp = _softplus()
    if link == "logit":
        log_F, log_S = (lambda x: -sp(-x)), (lambda x: -sp(x))
    elif link == "probit":
        log_F, log_S = jsp.log_ndtr, (lambda x: jsp.log_ndtr(-x))
    else:  # cloglog: F(x) = 1 - exp(-exp(x))
        log_F, log_S = (lambda x: jnp.log(-jnp.expm1(-jnp.exp(x)))), (lambda x: -jnp.exp(x))
    # a middle category: log(F(u) - F(l)) = log F(u) + log(1 - F(l) / F(u)) in the
    # lower tail, log S(l) + log(1 - S(u) / S(l)) in the upper one (where F(l)
    # rounds to 1 and the first form would lose every digit)
    lfu, lsl = log_F(upper), log_S(lower)
    low_tail = lower <= 0
    gap = jnp.where(low_tail, log_F(lower) - lfu, log_S(upper) - lsl)
    middle = jnp.where(low_tail, lfu, lsl) + jnp.log(jnp.maximum(-jnp.expm1(gap), 1e-300))
    return jnp.where(yi == 0, lfu, jnp.where(yi == K1, lsl, middle))


def _threshold_site(ncat: int):
    """The site of ``ncat - 1`` ordered thresholds (their prior enters as a factor)."""
    import numpyro.distributions as dist
    from numpyro.distributions import constraints

    return dist.ImproperUniform(constraints.ordered_vector, (), (ncat - 1,))


def _row_arrays(design, family: str, Xc, y, off, Xzi, zi_means, trials, zi_offset=None):
    """The data arrays of the NUTS model (``BayesModel.data``), the terms' ``(k, levels,
    ones)`` and the grid layout's row order (or None)."""
    n, p = Xc.shape
    data = {"X": Xc, "y": y}
    if Xzi is not None:
        data["Xzi"] = Xzi - zi_means
        if zi_offset is not None:
            data["zi_offset"] = np.asarray(zi_offset, dtype=float)
    w = design.weights if trials is None else trials
    has_w = w is not None
    if has_w:
        data["w"] = np.asarray(w, dtype=float)
    if off is not None:
        data["offset"] = off
    if family in ("binomial", "betabinomial"):
        m = data["w"] if has_w else np.ones(n)
        k = np.round(m * y)
        data["k"] = k
        data["const"] = special.gammaln(m + 1) - special.gammaln(k + 1) - special.gammaln(m - k + 1)
    elif family in ("poisson", "negative_binomial", "nbinom1"):
        data["const"] = -special.gammaln(y + 1)
        if family == "negative_binomial" and n and np.max(y) <= _LGAMMA_TABLE_MAX:
            data["yi"] = y.astype(np.int32)
            data["yi_max"] = np.zeros(int(np.max(y)))  # (its length is the table's: static)
    elif family == "gamma":
        data["const"] = -np.log(y)
    elif family == "beta":
        data["const"], data["const1"] = np.log(y), np.log1p(-y)
    elif family == "cumulative":
        data["yi"] = y.astype(np.int32)
    terms = []
    for t, term in enumerate(design.terms):
        Z = np.asarray(term.Z, dtype=float)
        ones = bool(term.k == 1 and np.all(Z == 1.0))
        data[f"Z{t}"] = Z
        data[f"codes{t}"] = np.asarray(term.codes, dtype=np.int32)
        terms.append((term.k, term.nlevels, ones))
    perm = None
    if len(terms) == 1 and terms[0][2] and p and Xzi is None:  # one random intercept: try the grid layout
        perm = _grid_order(Xc, data["codes0"], terms[0][1])
    if perm is not None:
        G = terms[0][1]
        data["grid_X0"] = Xc[perm[: n // G]]
        for key in ("y", "yi", "k", "const", "const1", "w", "offset"):
            if key in data:
                data[f"grid_{key}"] = np.asarray(data[key])[perm].reshape(G, n // G)
        if "yi_max" in data:
            data["grid_yi_max"] = data["yi_max"]
    return data, terms, perm, has_w


def _thr_start(link: str, y: np.ndarray, ncat: int) -> tuple:
    """``F^-1`` of the cumulative proportions (counts + 1/2) of categories ``0 .. ncat - 2``, kept ordered.

    Examples
    --------
    >>> _thr_start("logit", np.array([0, 0, 1, 1, 1, 2, 2, 2]), 3)  # logit(2.5 / 9.5), logit(6 / 9.5)
    (-1.0296, 0.54)
    """
    if not ncat:
        return ()
    from ..families.links import LINKS

    counts = np.bincount(np.asarray(y, dtype=int), minlength=ncat)[:ncat] + 0.5
    cum = np.cumsum(counts)[:-1] / counts.sum()
    q = LINKS[link].fun(cum)
    return tuple(round(float(v), 4) for v in np.maximum.accumulate(q + 1e-3 * np.arange(q.size)))


def _aux_start(family: str, y: np.ndarray) -> float:
    """A moment estimate of the family's shape or precision, kept in [0.1, 1000].

    Examples
    --------
    >>> _aux_start("gamma", np.array([1.0, 2.0, 3.0])), _aux_start("gaussian", np.ones(3))  # 2^2 / 1
    (4.0, 1.0)
    """
    if family not in FAMILY_AUX or y.size < 2:
        return 1.0
    m, v = float(np.mean(y)), float(np.var(y, ddof=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        est = {"negative_binomial": m * m / (v - m), "nbinom1": v / m - 1.0, "gamma": m * m / v,
               "beta": m * (1.0 - m) / v - 1.0, "betabinomial": 10.0}[family]
    return float(np.clip(est, 0.1, 1000.0)) if np.isfinite(est) and est > 0 else 1.0


_SOFTPLUS: list = []


def _softplus():
    """``log(1 + e^x)`` computed stably, with derivative ``sigmoid(x)``.

    ``jax.nn.softplus`` (``logaddexp(x, 0)``, which guards infinities and
    NaNs) costs about five times as much on a CPU; in a logistic model with
    100,000 rows it was most of the gradient's time. The derivative is
    ``(1 + tanh(x / 2)) / 2``: with the log density's value, that gradient
    takes about half the time of one through ``jax.nn.sigmoid`` on a CPU
    (its absolute error, about 1e-16, is all a gradient needs).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> [round(float(v), 6) for v in _softplus()(jnp.array([-800.0, 0.0, 3.0, 800.0]))]
    [0.0, 0.693147, 3.048587, 800.0]
    """
    if not _SOFTPLUS:
        import jax
        import jax.numpy as jnp

        @jax.custom_jvp
        def softplus(x):
            return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))

        @softplus.defjvp
        def _jvp(primals, tangents):
            (x,), (dx,) = primals, tangents
            return softplus(x), dx * (0.5 + 0.5 * jnp.tanh(0.5 * x))

        _SOFTPLUS.append(softplus)
    return _SOFTPLUS[0]


_MODELS: dict = {}


def make_model(struct: ModelStructure):
    """The NumPyro model of a structure (memoised so compiled samplers can be reused).

    Sites: ``_b{g}`` fixed effects by prior kind, the variance parameters of
    :func:`~multilevel.bayes.varpar.sample_varpar`, ``_z{t}`` standardised
    random effects, and the factor ``_loglik``.

    Examples
    --------
    >>> import multilevel as ml, numpyro
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> m = BayesModel.build(d, "gaussian", "identity")
    >>> tr = numpyro.handlers.trace(numpyro.handlers.seed(make_model(m.struct), 0)).get_trace(
    ...     *m.jax_inputs())
    >>> [k for k, v in tr.items() if v["type"] == "sample"]
    ['_sd0', 'sigma', '_b0', '_z0', '_loglik']
    """
    if struct in _MODELS:
        return _MODELS[struct]

    def model(data, pv):
        import jax.numpy as jnp
        import numpyro
        import numpyro.distributions as dist

        vp = sample_varpar(struct.varpar, pv["varpar"])
        beta = sample_vector("_b", struct.fixed_groups, pv["b"], struct.p) if struct.p else None
        aux = vp.aux
        zeta = data["Xzi"] @ sample_vector("_bzi", struct.zi_groups, pv["bzi"], struct.pzi) if struct.pzi else None
        if zeta is not None and "zi_offset" in data:
            zeta = zeta + data["zi_offset"]
        if struct.ncat:
            aux = numpyro.sample("_thr", _threshold_site(struct.ncat))
            numpyro.factor("_thr_prior", jnp.sum(prior_dist(struct.thr_kind, pv["thr"]).log_prob(aux)))
        bs = []
        for t, (k, nl, _) in enumerate(struct.terms):
            z = numpyro.sample(f"_z{t}", dist.Normal(0.0, 1.0).expand((nl, k)).to_event(2))
            # one column: a product, not an (n x 1) (1 x 1) matrix product (a call of its own on CPU)
            bs.append(z * vp.sds[t] if k == 1 else z @ vp.factor(t).T)
        if struct.grid:  # a complete levels x m grid (see _grid_order): the same sum, no gathers
            grid = {k[5:]: v for k, v in data.items() if k.startswith("grid_")}
            eta = (grid["X0"] @ beta)[None, :] + bs[0]
            if struct.has_offset:
                eta = eta + grid["offset"]
            numpyro.factor("_loglik", jnp.sum(pointwise_loglik(struct, grid, eta, vp.sigma, vp.nu, aux)))
            return
        eta = linear_predictor(struct, data, beta if beta is not None else jnp.zeros(0), bs)
        numpyro.factor("_loglik", jnp.sum(pointwise_loglik(struct, data, eta, vp.sigma, vp.nu, aux, zeta)))

    if len(_MODELS) > 32:
        _MODELS.clear()
    _MODELS[struct] = model
    return model
