"""Linear predictor, pointwise log-likelihood and posterior predictive draws of a Posterior.

Everything here works draw by draw in batches on the stored draws: the
fixed effects on the scale of the design's X and the random effects per
term (float32), so no model has to be re-run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..arguments import short_repr
from ..design.random import new_level_keys

__all__: list[str] = []  # used through Posterior's methods

#: draws per batch when forming (draws x observations) arrays
_BATCH = 250


def _fitted_inputs(post):
    """``(X, [(Z, levels)], offset)`` of the data the model was fitted to."""
    d = post.model.design
    terms = [(np.asarray(t.Z, dtype=float), np.asarray(t.codes)) for t in d.terms]
    off = None if d.offset is None else np.asarray(d.offset, dtype=float)
    return np.asarray(d.X, dtype=float), terms, off


def _newdata_inputs(post, newdata, offset=None):
    """``(X, [(Z, levels or -1)], offset)`` for new rows, built with the fitted encodings.

    The offset is read from ``newdata`` when the model's offset was a column
    name; otherwise ``offset=`` gives it (default 0).
    """
    from ..design.data import as_dataframe, as_vector
    from ..predict import _aligned, _fixed_matrix, _term_rows

    d = post.model.design
    new = _aligned(d, as_dataframe(newdata))  # (the fitted types, as predict reads them)
    X = _fixed_matrix(d, new, aligned=True)
    terms = []
    for t, (Z, pos) in zip(d.terms, _term_rows(d, new, True, aligned=True)):
        unknown = pos < 0
        if unknown.any():
            # number the distinct unseen levels -1, -2, ...: rows of one new group share its effect
            keys = new_level_keys(new.loc[unknown, list(t.group_columns)])
            codes, _ = pd.factorize(keys)
            pos = pos.copy()
            pos[unknown] = -(codes + 1)
        terms.append((Z, pos))
    from ..design.design import formula_offset

    if offset is None and isinstance(post.offset_spec, str):
        offset = post.offset_spec
    off = None if offset is None else np.asarray(as_vector(offset, new, "offset"), dtype=float)
    if off is None and d.offset_argument and d.offset is not None:
        raise ValueError("the model has an offset given as values: give offset= for newdata "
                         "(a column name or one value per row)")
    in_formula = formula_offset(d.formula, new)  # the formula's own offset(...) terms
    if in_formula is not None:
        off = in_formula if off is None else off + in_formula
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(f"newdata has {int(bad.sum())} row(s) with missing predictor values")
    return X, terms, off, new.index


def _zi_matrix(post, newdata=None) -> tuple[np.ndarray, np.ndarray] | None:
    """The zero-inflation model's columns (raw scale) of the fitted or new rows and its offset
    (zeros without one); None without ``zi=``."""
    zd = post.model.zi_design
    if zd is None:
        return None
    if newdata is None:
        Xzi = np.asarray(zd.X, dtype=float)
        return Xzi, (np.zeros(Xzi.shape[0]) if zd.offset is None else np.asarray(zd.offset, dtype=float))
    from ..design.data import as_dataframe
    from ..design.design import formula_offset
    from ..predict import _fixed_matrix

    new = as_dataframe(newdata)
    Xzi = np.asarray(_fixed_matrix(zd, new), dtype=float)
    bad = ~np.isfinite(Xzi).all(axis=1)
    if bad.any():
        raise ValueError(f"newdata has {int(bad.sum())} row(s) with missing zero-inflation predictor values")
    offset = formula_offset(zd.formula, new) if zd.offset is not None else None
    if offset is not None and not np.all(np.isfinite(offset)):
        raise ValueError(f"newdata has {int(np.sum(~np.isfinite(offset)))} row(s) where the zero-inflation "
                         "model's offset is missing or not finite")
    return Xzi, (np.zeros(Xzi.shape[0]) if offset is None else np.asarray(offset, dtype=float))


def _zeta_draws(post, idx: np.ndarray, zi) -> np.ndarray | None:
    """The zero-inflation linear predictor (logit of pi), (len(idx), n), or None; ``zi`` is
    :func:`_zi_matrix`'s ``(columns, offset)``."""
    if zi is None:
        return None
    from .posterior import _zi_names

    Xzi, offset = zi
    g = np.stack([post.draws[f"b_zi_{n}"].reshape(-1)[idx] for n in _zi_names(post.model)], axis=-1)
    return g @ Xzi.T + offset


def _new_level_effects(post, t: int, idx: np.ndarray, nnew: int, rng) -> np.ndarray:
    """Random effects of ``nnew`` unseen levels of term ``t``, drawn from each draw's N(0, Sigma_t)."""
    sd, L = post._term_factor(t)
    sd = sd.reshape(-1, sd.shape[-1])[idx]
    L = L.reshape(-1, *L.shape[-2:])[idx]
    z = rng.standard_normal((len(idx), nnew, sd.shape[-1]))
    return np.einsum("mjk,mlk->mjl", z, sd[:, :, None] * L)


def _eta_draws(post, idx: np.ndarray, X, terms, offset, rng=None, new_levels: str = "sample"):
    """Linear predictor for the flat draw indices ``idx``: an array (len(idx), n).

    Rows of an unseen level get random effects drawn from N(0, Sigma) per draw
    (``new_levels="sample"``) or zero (``"zero"``).
    """
    beta = post._beta_flat()[idx]
    eta = beta @ X.T
    if offset is not None:
        eta = eta + offset
    if not terms:
        return eta
    if post.ranef_draws is None:
        raise ValueError("the random effects' draws were not kept (keep_ranef=False); refit with "
                         "keep_ranef=True to predict with them")
    for t, (Z, pos) in enumerate(terms):
        b = post._term_ranef_flat(t)  # (C*D, J, k)
        unknown = pos < 0
        safe = np.where(unknown, 0, pos)
        bb = np.asarray(b[idx][:, safe, :], dtype=float)  # (m, n, k)
        if unknown.any():
            if new_levels == "sample":
                inv = -pos[unknown] - 1
                rng = rng if rng is not None else np.random.default_rng()
                newb = _new_level_effects(post, t, idx, int(inv.max()) + 1, rng)
                bb[:, unknown, :] = newb[:, inv, :]
            else:
                bb[:, unknown, :] = 0.0
        eta = eta + np.einsum("mnk,nk->mn", bb, Z)
    return eta


def _loglik_draws(post) -> np.ndarray:
    """Pointwise log-likelihood of the fitted data, (chains, draws, n)."""
    import jax.numpy as jnp

    from .fit import _enable_x64
    from .model import pointwise_loglik

    _enable_x64()  # as the model was sampled (a loaded posterior's process may not have it on)
    X, terms, off = _fitted_inputs(post)
    data, _ = post.model.jax_inputs()
    st = post.model.struct
    C, D = post.chains, post.ndraws
    out = np.empty((C * D, X.shape[0]))
    sig = post.draws["sigma"].reshape(-1) if "sigma" in post.draws else None
    nu = post.draws["nu"].reshape(-1) if "nu" in post.draws else None
    aux = post.draws[st.varpar.aux_name].reshape(-1, 1) if st.varpar.aux_name is not None else None
    if st.ncat:  # the thresholds on the raw predictors' scale, as eta here is
        aux = _thresholds_flat(post)
    Xzi = _zi_matrix(post)
    for a in range(0, C * D, _BATCH):
        idx = np.arange(a, min(a + _BATCH, C * D))
        eta = _eta_draws(post, idx, X, terms, off)
        zeta = _zeta_draws(post, idx, Xzi)
        ll = pointwise_loglik(st, data, jnp.asarray(eta),
                              None if sig is None else jnp.asarray(sig[idx, None]),
                              None if nu is None else jnp.asarray(nu[idx, None]),
                              None if aux is None else jnp.asarray(aux[idx]),
                              None if zeta is None else jnp.asarray(zeta))
        out[idx] = np.asarray(ll)
    return out.reshape(C, D, -1)


def _thresholds_flat(post) -> np.ndarray:
    """A cumulative model's threshold draws, (chains * draws, categories - 1)."""
    return np.stack([post.draws[f"b_Intercept[{k}]"].reshape(-1) for k in range(1, post.model.struct.ncat)],
                    axis=-1)


def _category_probabilities(post, eta: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``P(Y = k)`` (m, n, categories) of a cumulative model at the draws ``idx``."""
    from ..families.ordinal import CDFS

    thr = _thresholds_flat(post)[idx]  # (m, K - 1)
    F = CDFS[post.link](thr[:, None, :] - eta[:, :, None])[0]  # (m, n, K - 1)
    m, n = eta.shape
    cum = np.concatenate([np.zeros((m, n, 1)), F, np.ones((m, n, 1))], axis=-1)
    return np.maximum(np.diff(cum, axis=-1), 0.0)


def _inverse_link(link: str, eta: np.ndarray) -> np.ndarray:
    from scipy import special

    if link == "logit":
        return special.expit(eta)
    if link == "probit":
        return special.ndtr(eta)
    if link == "cloglog":
        return -np.expm1(-np.exp(eta))
    if link == "log":
        return np.exp(eta)
    if link == "inverse":
        return 1.0 / eta
    return eta


def _simulate(post, eta: np.ndarray, rng, trials=None, weights=None, idx=None, zeta=None) -> np.ndarray:
    """Draws of the response given the linear predictor (one per row of ``eta``).

    gaussian and student: ``eta + sigma / sqrt(w) * noise``; binomial: the
    proportion of successes in ``trials``; poisson and negative_binomial:
    counts (with zero inflation, zero with probability ``expit(zeta)``);
    gamma and beta: draws of the family with the draw's shape or
    precision; cumulative: category codes ``0 .. K - 1`` (the design's ``y``).
    """
    if zeta is not None:
        counts = _simulate(post, eta, rng, trials, weights, idx)
        return np.where(rng.uniform(size=eta.shape) < _inverse_link("logit", zeta), 0.0, counts)
    st = post.model.struct
    if st.ncat:
        p = _category_probabilities(post, eta, idx)
        u = rng.uniform(size=eta.shape)[..., None]
        return np.minimum(np.sum(np.cumsum(p, axis=-1) < u, axis=-1), st.ncat - 1).astype(float)
    if st.family in ("gaussian", "student"):
        sig = post.draws["sigma"].reshape(-1)[idx][:, None]
        if weights is not None:
            w = np.asarray(weights, dtype=float)
            sig = sig / np.sqrt(np.where(w > 0, w, np.inf))
        if st.family == "gaussian":
            noise = rng.standard_normal(eta.shape)
        else:
            nu = post.draws["nu"].reshape(-1)[idx][:, None]
            noise = rng.standard_t(np.broadcast_to(nu, eta.shape))
        return eta + sig * noise
    mu = _inverse_link(st.link, eta)
    if st.family in ("binomial", "betabinomial"):
        m = np.ones(eta.shape[1]) if trials is None else np.asarray(trials, dtype=float)
        mi = np.round(m).astype(np.int64)
        p = np.clip(mu, 0.0, 1.0)
        if st.family == "betabinomial":  # each trial's probability drawn from Beta(mu phi, (1 - mu) phi)
            phi = post.draws["phi"].reshape(-1)[idx][:, None]
            p = rng.beta(np.maximum(p * phi, 1e-300), np.maximum((1.0 - p) * phi, 1e-300))
        k = rng.binomial(np.broadcast_to(mi, eta.shape), p)
        return np.where(mi > 0, k / np.where(mi > 0, mi, 1), 0.0)
    if st.family == "poisson":
        return rng.poisson(mu).astype(float)
    a = np.broadcast_to(post.draws[st.varpar.aux_name].reshape(-1)[idx][:, None], eta.shape)
    if st.family == "negative_binomial":  # a gamma-Poisson mixture with shape a and mean mu
        return rng.poisson(rng.gamma(a, mu / a)).astype(float)
    if st.family == "nbinom1":  # shape mu / phi
        return rng.poisson(rng.gamma(mu / a, a)).astype(float)
    if st.family == "gamma":
        return rng.gamma(a, mu / a)
    # beta: kept strictly inside (0, 1), as the family's support
    tiny = np.finfo(float).tiny
    draws = rng.beta(np.maximum(mu * a, tiny), np.maximum((1.0 - mu) * a, tiny))
    return np.clip(draws, np.nextafter(0.0, 1.0), np.nextafter(1.0, 0.0))


def _draw_indices(post, ndraws, rng) -> np.ndarray:
    """Flat indices of the draws to use: all, or ``ndraws`` of them at random (sorted)."""
    total = post.chains * post.ndraws
    if ndraws is None:
        return np.arange(total)
    if isinstance(ndraws, bool) or not isinstance(ndraws, (int, np.integer)) or not 1 <= ndraws <= total:
        raise ValueError(f"ndraws must be an integer from 1 to {total}, not {short_repr(ndraws)}")
    return np.sort(rng.choice(total, size=int(ndraws), replace=False))


def _predictive(post, newdata=None, ndraws=None, seed=None, trials=None, offset=None) -> np.ndarray:
    """See :meth:`~multilevel.bayes.posterior.Posterior.posterior_predictive`."""
    rng = np.random.default_rng(seed)
    idx = _draw_indices(post, ndraws, rng)
    d = post.model.design
    if newdata is None:
        if trials is not None or offset is not None:
            raise ValueError("trials= and offset= are for newdata; the fitted data's are the model's own")
        X, terms, off = _fitted_inputs(post)
        w = d.weights
        tr = d.weights if post.model.struct.family in ("binomial", "betabinomial") else None
    else:
        from ..design.data import as_dataframe, as_vector

        X, terms, off, _ = _newdata_inputs(post, newdata, offset)
        w = None
        tr = None if trials is None else as_vector(trials, as_dataframe(newdata), "trials")
    Xzi = _zi_matrix(post, newdata)
    out = np.empty((len(idx), X.shape[0]))
    for a in range(0, len(idx), _BATCH):
        sl = idx[a:a + _BATCH]
        eta = _eta_draws(post, sl, X, terms, off, rng=rng)
        gauss = post.model.struct.family in ("gaussian", "student")
        out[a:a + len(sl)] = _simulate(post, eta, rng, trials=tr, weights=w if gauss else None, idx=sl,
                                       zeta=_zeta_draws(post, sl, Xzi))
    return out


_NEW_LEVELS = ("sample", "zero", "error")


_DPARS = (None, "mu", "zi")


def _linear_draws(post, newdata=None, ndraws=None, seed=None, offset=None, random: bool = True,
                  new_levels: str = "sample", response: bool = False, dpar=None) -> np.ndarray:
    """See :meth:`~multilevel.bayes.posterior.Posterior.linpred` and ``epred``."""
    from ..arguments import as_bool

    if dpar not in _DPARS:
        raise ValueError(f"dpar must be None, 'mu' or 'zi', not {short_repr(dpar)}")
    if dpar is not None and post.model.zi_design is None:
        raise ValueError(f"dpar={dpar!r} is for a zero-inflated model (zi=); this model has one part: "
                         "leave dpar out")
    random = as_bool(random, "random")
    if new_levels not in _NEW_LEVELS:
        raise ValueError(f"new_levels must be one of {', '.join(map(repr, _NEW_LEVELS))}, "
                         f"not {short_repr(new_levels)}")
    rng = np.random.default_rng(seed)
    idx = _draw_indices(post, ndraws, rng)
    if newdata is None:
        if offset is not None:
            raise ValueError("offset= is for newdata; the fitted data's is the model's own")
        X, terms, off = _fitted_inputs(post)
    else:
        X, terms, off, _ = _newdata_inputs(post, newdata, offset)
        if random and new_levels == "error":
            for t, (_, pos) in zip(post.model.design.terms, terms):
                if np.any(pos < 0):
                    raise ValueError(f"newdata has {int(np.sum(pos < 0))} row(s) with levels of "
                                     f"{t.group!r} not in the fit; pass new_levels='sample' or 'zero'")
    if not random:
        terms = []
    ncat = post.model.struct.ncat
    Xzi = _zi_matrix(post, newdata)
    out = np.empty((len(idx), X.shape[0]) + ((ncat,) if response and ncat else ()))
    for a in range(0, len(idx), _BATCH):
        sl = idx[a:a + _BATCH]
        if dpar == "zi":  # the structural-zero probability (its logit for linpred)
            zeta = _zeta_draws(post, sl, Xzi)
            out[a:a + len(sl)] = _inverse_link("logit", zeta) if response else zeta
            continue
        eta = _eta_draws(post, sl, X, terms, off, rng=rng, new_levels=new_levels)
        if response and ncat:
            out[a:a + len(sl)] = _category_probabilities(post, eta, sl)
        elif response:
            mu = _inverse_link(post.model.struct.link, eta)
            if Xzi is not None and dpar is None:  # the mean of a zero-inflated count: (1 - pi) mu
                mu = mu * _inverse_link("logit", -_zeta_draws(post, sl, Xzi))
            out[a:a + len(sl)] = mu
        else:
            out[a:a + len(sl)] = eta
    return out
