"""The collapsed Gaussian sampler's mathematics: fixed and random effects integrated out.

For the linear mixed model

    y - offset = X beta + sum_t Z_t b_t + e,   e_i ~ N(0, sigma^2 / w_i),
    b_t[g] ~ N(0, Sigma_t) per level g,        Sigma_t = diag(sd_t) R_t diag(sd_t),
    beta ~ N(m0, S0),

the effects ``(beta, b)`` can be integrated analytically, leaving the marginal
likelihood ``p(y | sd, R, sigma)`` of the variance parameters only, and the
effects can be drawn afterwards, exactly, from their conditional normal.

Both use the blocked Cholesky factor of the design's penalised system (see the
package's design notes) in the spherical form ``b_t[g] = T_t u_t[g]`` with
``T_t = diag(sd_t) L_t / sigma`` and ``u ~ N(0, sigma^2 I)``:

    A = [ Lambda'Z'WZ Lambda + I    Lambda'Z'WX         ]
        [ X'WZ Lambda               X'WX + sigma^2 S0^-1 ]

The first (largest) random term's block of ``A`` is block diagonal: it is
factorised as a batch of ``k x k`` Cholesky factors, and the other random terms
together with the fixed effects form a dense Schur complement. Terms of the
first term's grouping factor (``(1 + x || g)`` is ``(1 | g) + (0 + x | g)``)
join its blocks, ``k`` then counting their columns together. Cross-products
are computed once, in NumPy; an evaluation costs ``O(levels k^3 + levels k m^2
+ m^3)`` with ``m`` the number of other random effects plus fixed effects, and
never touches the n rows.

The functions returned are pure JAX and compiled with ``jax.jit`` on first use
(one compilation per shape of the design and pytree structure of the arguments,
shared by designs of the same shapes: pass ``None`` or arrays for the ``k = 1``
correlation factors consistently). They can be wrapped in ``jax.jit``,
differentiated with ``jax.grad`` and batched with ``jax.vmap``.

Precision follows JAX's 64-bit mode when a function is built (``dtype=None``):
build and call it with 64-bit mode on (``jax.enable_x64(True)`` as a context,
or ``numpyro.enable_x64()`` for the whole process) for float64. In float32 the
marginal log-likelihood of the Gcsemv model (1,725 rows) is off by about 1e-4
and that of a 100,000-row model by about 3e-3 (the cross-products are formed in
float64 and the response is first centred by weighted least squares, so the
error comes only from the per-evaluation algebra).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
import scipy.sparse as sp

from .xla import LazyJit

__all__ = [
    "CollapsedGaussian",
    "from_theta",
    "make_collapsed",
    "make_conditional_mean",
    "make_effect_sampler",
    "make_marginal_loglik",
]

_LOG2PI = float(np.log(2.0 * np.pi))

#: most random effects outside the first term that are factorised densely
MAX_DENSE = 3000


class CollapsedNotApplicable(ValueError):
    """The model is outside what the collapsed sampler handles (not gaussian, a
    fixed effect without a normal prior, no random effects, too large a dense
    part); ``sampler="auto"`` then runs NUTS and says why."""
#: largest dense block factorised by unrolled arithmetic rather than LAPACK
_UNROLL = 8


class CollapsedGaussian(NamedTuple):
    """The three functions of the collapsed Gaussian model, sharing one set of cross-products.

    Attributes
    ----------
    marginal_loglik : callable
        ``(sds, corr_chols, sigma) -> scalar``: ``log p(y | sds, R, sigma)``.
    sample_effects : callable
        ``(key, sds, corr_chols, sigma) -> (beta, b)``: one exact draw of the effects
        from their conditional normal given the variance parameters and y.
    conditional_mean : callable
        ``(sds, corr_chols, sigma) -> (beta, b)``: the conditional mean of the effects.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> cg = make_collapsed(d, m0=0.0, S0=np.inf)
    >>> sorted(cg._fields)
    ['conditional_mean', 'marginal_loglik', 'sample_effects']
    """

    marginal_loglik: Callable
    sample_effects: Callable
    conditional_mean: Callable


@dataclass(frozen=True)
class _Products:
    """Weighted cross-products of the design with ``y~ = y - offset - X beta0``."""

    n: int                 # observations with positive weight
    log_w: float           # sum of their log weights
    p: int
    k: tuple               # per term
    nlevels: tuple         # per term
    head: tuple            # the terms in the block-diagonal part: the first and those of its factor
    rest: tuple            # the other terms (the dense part), in order
    beta0: np.ndarray      # (p,) weighted least-squares shift
    D0: np.ndarray         # (n0, k0, k0)   Z0'WZ0 by level (Z0: the head terms' columns)
    B0x: np.ndarray        # (n0, k0, p)    Z0'WX by level
    b0y: np.ndarray        # (n0, k0)       Z0'Wy~ by level
    Br0: np.ndarray        # (n0, k0, q_r)  Z0'WZ_r by level
    Crr: np.ndarray        # (q_r, q_r)     Z_r'WZ_r
    Crx: np.ndarray        # (q_r, p)       Z_r'WX
    cry: np.ndarray        # (q_r,)         Z_r'Wy~
    Cxx: np.ndarray        # (p, p)         X'WX
    cxy: np.ndarray        # (p,)           X'Wy~
    syy: float             # y~'Wy~
    Q0: np.ndarray         # (p, p) prior precision of beta (zeros for flat components)
    Q0m: np.ndarray        # (p,)   Q0 (m0 - beta0)
    mQm: float             # (m0 - beta0)' Q0 (m0 - beta0)
    prior_const: float     # 0.5 log|Q0|_proper + 0.5 (p - p_proper) log(2 pi)

    @property
    def q_rest(self) -> int:
        return self.Crr.shape[0]


def _prior(m0, S0, p: int):
    """Prior mean, precision, and the constant of the log prior density."""
    m0 = np.asarray(m0, dtype=float)
    if m0.ndim == 0:
        m0 = np.full(p, float(m0))
    if m0.shape != (p,) or not np.all(np.isfinite(m0)):
        raise ValueError(f"m0 must be a scalar or a finite vector of length p = {p}, got shape {m0.shape}")
    S0 = np.asarray(S0, dtype=float)
    if S0.ndim == 0:
        S0 = np.full(p, float(S0))
    if S0.ndim == 1:
        if S0.shape != (p,):
            raise ValueError(f"S0 as a vector of prior variances must have length p = {p}, got {S0.shape[0]}")
        if np.any(np.isnan(S0)) or np.any(S0 <= 0):
            raise ValueError("prior variances S0 must be positive (np.inf for a flat prior)")
        proper = np.isfinite(S0)
        Q0 = np.diag(np.where(proper, 1.0 / np.where(proper, S0, 1.0), 0.0))
        logdet_q = -float(np.sum(np.log(S0[proper])))
        p_proper = int(proper.sum())
    elif S0.ndim == 2:
        if S0.shape != (p, p):
            raise ValueError(f"S0 as a covariance matrix must be {p} x {p}, got {S0.shape}")
        if not np.all(np.isfinite(S0)) or not np.allclose(S0, S0.T, rtol=1e-10, atol=0.0):
            raise ValueError("S0 as a matrix must be finite and symmetric (use a vector with np.inf "
                             "entries for flat components)")
        try:
            C = np.linalg.cholesky(S0)
        except np.linalg.LinAlgError:
            raise ValueError("S0 must be positive definite") from None
        Ci = np.linalg.solve(C, np.eye(p))
        Q0 = Ci.T @ Ci
        logdet_q = -2.0 * float(np.sum(np.log(np.diag(C))))
        p_proper = p
    else:
        raise ValueError("S0 must be a scalar, a (p,) vector of variances or a (p, p) matrix")
    return m0, Q0, 0.5 * logdet_q + 0.5 * (p - p_proper) * _LOG2PI


def _by_level(codes: np.ndarray, nlev: int, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``out[g, a, b] = sum_{i in level g} A[i, a] B[i, b]``."""
    out = np.empty((nlev, A.shape[1], B.shape[1]))
    for a in range(A.shape[1]):
        for b in range(B.shape[1]):
            out[:, a, b] = np.bincount(codes, weights=A[:, a] * B[:, b], minlength=nlev)
    return out


def _same_factor(a, b) -> bool:
    """Whether two random terms group the observations by the same levels."""
    return a.nlevels == b.nlevels and np.array_equal(a.codes, b.codes)


def _check_dense(terms, head: tuple, rest_idx: tuple, max_dense: int) -> None:
    """Refuse a dense part (the terms outside the first factor's) too large to factorise."""
    q_r = sum(terms[i].q for i in rest_idx)
    q_0 = sum(terms[i].q for i in head)
    if q_r > max_dense or q_0 * q_r > max_dense ** 2:
        raise CollapsedNotApplicable(
            f"the random-effects terms after the first ({', '.join(terms[i].label for i in rest_idx)}) have "
            f"{q_r} random effects coupled to {q_0} of the first term; the collapsed sampler "
            f"factorises them densely and supports at most {max_dense} (and {max_dense ** 2} "
            "coupling entries); use sampler=\"nuts\" for this model"
        )


@dataclass(frozen=True)
class SummedProducts:
    """A Gaussian model's cross-products summed over its rows, without the rows (data in parts).

    Attributes
    ----------
    cp : CrossProducts
        Weighted products of ``[X y~]`` (``y~ = y - offset - X beta0``, ``X``
        the kept columns on the user's scale) and of every term's ``Z``
        (:class:`~multilevel.linalg.crossprod.CrossProducts`).
    beta0 : ndarray (p,)
        The weighted least-squares shift.
    n : int
        Rows with a positive weight.
    log_w : float
        Sum of their log weights.
    head : tuple of int
        The first term and the terms grouped by the same factor.
    """

    cp: object
    beta0: np.ndarray
    n: int
    log_w: float
    head: tuple


def _level_index(offset: int, nlevels: int, k: int) -> np.ndarray:
    """``(levels, k)`` positions of a term's effects, level by level, from ``offset``."""
    return offset + np.arange(nlevels)[:, None] * k + np.arange(k)[None, :]


def _sums_products(S: SummedProducts, terms, m0, S0, max_dense: int) -> _Products:
    """The :class:`_Products` of :func:`_products`, from summed cross-products: the head
    terms' blocks are gathered level by level from the products' first-term and dense blocks."""
    cp = S.cp
    T, p = len(terms), cp.p
    head = S.head
    rest_idx = tuple(i for i in range(T) if i not in head)
    _check_dense(terms, head, rest_idx, max_dense)
    # (dense, as the sampler's blocks are; cp keeps it sparse only beyond SPARSE_CRR)
    Crr = cp.Crr.toarray() if sp.issparse(cp.Crr) else cp.Crr
    m0, Q0, prior_const = _prior(m0, S0, p)
    k, nl = cp.k, cp.nlevels
    n0, k00 = nl[0], k[0]
    starts = np.concatenate([[0], np.cumsum([k[i] * nl[i] for i in range(1, T)])]).astype(int)
    index = {i: _level_index(int(starts[i - 1]), nl[i], k[i]) for i in range(1, T)}
    k0 = sum(k[i] for i in head)
    D0 = np.zeros((n0, k0, k0))
    B0x = np.zeros((n0, k0, p))
    b0y = np.zeros((n0, k0))
    D0[:, :k00, :k00] = cp.D0
    B0x[:, :k00, :] = np.transpose(cp.Bx0[:p], (1, 2, 0))
    b0y[:, :k00] = cp.Bx0[p]
    Br0 = None if cp.Br0 is None else sp.csr_matrix(cp.Br0)
    cols = {i: c for i, c in zip(head, np.cumsum([0] + [k[i] for i in head])[:-1])}
    first = np.arange(n0)[:, None, None] * k00 + np.arange(k00)[None, None, :]
    for h in head[1:]:
        ih, ch = index[h], cols[h]
        rows = np.broadcast_to(ih[:, :, None], (n0, k[h], k00))
        vals = np.asarray(Br0[rows.ravel(), np.broadcast_to(first, rows.shape).ravel()]).reshape(n0, k[h], k00)
        D0[:, ch:ch + k[h], :k00] = vals
        D0[:, :k00, ch:ch + k[h]] = np.transpose(vals, (0, 2, 1))
        for h2 in head[1:]:
            D0[:, ch:ch + k[h], cols[h2]:cols[h2] + k[h2]] = Crr[ih[:, :, None], index[h2][:, None, :]]
        B0x[:, ch:ch + k[h], :] = cp.Crx[ih][:, :, :p]
        b0y[:, ch:ch + k[h]] = cp.Crx[ih][:, :, p]
    rows_r = np.concatenate([index[i].ravel() for i in rest_idx]) if rest_idx else np.zeros(0, dtype=int)
    q_r = rows_r.size
    Br = np.zeros((n0, k0, q_r))
    if q_r:
        Br[:, :k00, :] = np.transpose(Br0[rows_r].toarray().reshape(q_r, n0, k00), (1, 2, 0))
        for h in head[1:]:
            Br[:, cols[h]:cols[h] + k[h], :] = np.transpose(Crr[rows_r][:, index[h]], (1, 2, 0))
    dm = m0 - S.beta0
    return _Products(
        n=int(S.n), log_w=float(S.log_w), p=p, k=tuple(k), nlevels=tuple(nl), head=tuple(head), rest=rest_idx,
        beta0=np.asarray(S.beta0, dtype=float), D0=D0, B0x=B0x, b0y=b0y, Br0=np.ascontiguousarray(Br),
        Crr=Crr[np.ix_(rows_r, rows_r)], Crx=cp.Crx[rows_r, :p], cry=cp.Crx[rows_r, p],
        Cxx=cp.Cxx[:p, :p], cxy=cp.Cxx[:p, p], syy=float(cp.Cxx[p, p]), Q0=Q0, Q0m=Q0 @ dm,
        mQm=float(dm @ Q0 @ dm), prior_const=prior_const,
    )


def _products(design, m0, S0, max_dense: int) -> _Products:
    from ..linalg import term_matrix

    terms = design.terms
    if not terms:
        raise CollapsedNotApplicable("the collapsed sampler needs at least one random-effects term")
    # terms of the first term's grouping factor (``(1 + x || g)`` is ``(1 | g) + (0 + x | g)``)
    # join it in the block-diagonal part: one k0 x k0 block per level, k0 their columns together
    head = (0,) + tuple(i for i in range(1, len(terms)) if _same_factor(terms[i], terms[0]))
    rest_idx = tuple(i for i in range(len(terms)) if i not in head)
    t0, rest = terms[0], [terms[i] for i in rest_idx]
    _check_dense(terms, head, rest_idx, max_dense)
    q_r = sum(t.q for t in rest)
    X = design.X
    p = X.shape[1]
    m0, Q0, prior_const = _prior(m0, S0, p)
    y = design.y if design.offset is None else design.y - design.offset
    if design.weights is None:
        sw = np.ones_like(y)
        n, log_w = y.shape[0], 0.0
    else:
        sw = np.sqrt(design.weights)
        pos = design.weights > 0
        n, log_w = int(pos.sum()), float(np.sum(np.log(design.weights[pos])))
    Xw = X * sw[:, None]
    beta0 = np.linalg.lstsq(Xw, y * sw, rcond=None)[0] if p else np.zeros(0)
    yw = (y - X @ beta0) * sw
    Zw0 = np.hstack([terms[i].Z for i in head]) * sw[:, None]
    k0 = Zw0.shape[1]
    D0 = _by_level(t0.codes, t0.nlevels, Zw0, Zw0)
    B0x = _by_level(t0.codes, t0.nlevels, Zw0, Xw)
    b0y = _by_level(t0.codes, t0.nlevels, Zw0, yw[:, None])[:, :, 0]
    if rest:
        Zr = sp.hstack([term_matrix(t, t.Z * sw[:, None]) for t in rest], format="csr")
        ZrT = Zr.T.tocsr()
        Br0 = (ZrT @ term_matrix(t0, Zw0)).toarray().reshape(q_r, t0.nlevels, k0).transpose(1, 2, 0)
        Crr = (ZrT @ Zr).toarray()
        Crx = np.asarray(ZrT @ Xw).reshape(q_r, p)
        cry = np.asarray(ZrT @ yw).ravel()
    else:
        Br0 = np.zeros((t0.nlevels, k0, 0))
        Crr, Crx, cry = np.zeros((0, 0)), np.zeros((0, p)), np.zeros(0)
    dm = m0 - beta0
    return _Products(
        n=n, log_w=log_w, p=p, k=tuple(t.k for t in terms), nlevels=tuple(t.nlevels for t in terms),
        head=head, rest=rest_idx,
        beta0=beta0, D0=D0, B0x=B0x, b0y=b0y, Br0=np.ascontiguousarray(Br0), Crr=Crr, Crx=Crx,
        cry=cry, Cxx=Xw.T @ Xw, cxy=Xw.T @ yw, syy=float(yw @ yw), Q0=Q0, Q0m=Q0 @ dm,
        mQm=float(dm @ Q0 @ dm), prior_const=prior_const,
    )


# ---------------------------------------------------------------- small batched algebra
def _chol_blocks(A):
    """Lower Cholesky factors of a batch ``(..., k, k)``, unrolled over the small k."""
    k = A.shape[-1]
    L = [[None] * k for _ in range(k)]
    for j in range(k):
        s = A[..., j, j]
        for m in range(j):
            s = s - L[j][m] ** 2
        d = jnp.sqrt(s)
        L[j][j] = d
        for i in range(j + 1, k):
            s = A[..., i, j]
            for m in range(j):
                s = s - L[i][m] * L[j][m]
            L[i][j] = s / d
    zero = jnp.zeros_like(A[..., 0, 0])
    return jnp.stack([jnp.stack([L[i][j] if j <= i else zero for j in range(k)], -1)
                      for i in range(k)], -2)


def _expand(v, like):
    """``v`` (n,) shaped to broadcast against ``like`` (n, ...)."""
    return v.reshape(v.shape + (1,) * (like.ndim - 1))


def _fsolve_blocks(L, B):
    """``L[g]^{-1} B[g]`` for lower ``L`` (n, k, k) and ``B`` (n, k, ...)."""
    k = L.shape[-1]
    x = []
    for i in range(k):
        s = B[:, i]
        for j in range(i):
            s = s - _expand(L[:, i, j], s) * x[j]
        x.append(s / _expand(L[:, i, i], s))
    return jnp.stack(x, 1)


def _bsolve_blocks(L, b):
    """``L[g]^{-T} b[g]`` for lower ``L`` (n, k, k) and ``b`` (n, k, ...)."""
    k = L.shape[-1]
    x = [None] * k
    for i in reversed(range(k)):
        s = b[:, i]
        for j in range(i + 1, k):
            s = s - _expand(L[:, j, i], s) * x[j]
        x[i] = s / _expand(L[:, i, i], s)
    return jnp.stack(x, 1)



#: largest broadcast product that :func:`_esum` forms instead of calling ``jnp.einsum``
_ESUM_MAX = 200_000


def _esum(spec: str, x, y):
    """``jnp.einsum(spec, x, y)`` for two operands, as a broadcast product and a sum.

    The contractions of the collapsed density are tiny (2 x 2 blocks, a few
    fixed effects): as matrix products each is a separate kernel that XLA
    cannot fuse, and a gradient evaluation becomes a long chain of small
    kernel calls. As elementwise products and reductions they fuse with their
    neighbours, forward and backward. Falls back to ``jnp.einsum`` when the
    broadcast product would exceed ``_ESUM_MAX`` elements.
    """
    if "." in spec:
        return jnp.einsum(spec, x, y)
    ins, out = spec.split("->")
    a, b = ins.split(",")
    letters = "".join(dict.fromkeys(a + b))
    sizes = {c: n for c, n in zip(a, x.shape)} | {c: n for c, n in zip(b, y.shape)}
    if int(np.prod([sizes[c] for c in letters])) > _ESUM_MAX:
        return jnp.einsum(spec, x, y)

    def spread(op, sub):
        op = jnp.transpose(op, [sub.index(c) for c in letters if c in sub])
        return op.reshape([sizes[c] if c in sub else 1 for c in letters])

    prod = spread(x, a) * spread(y, b)
    summed = tuple(i for i, c in enumerate(letters) if c not in out)
    res = jnp.sum(prod, axis=summed) if summed else prod
    kept = [c for c in letters if c in out]
    return jnp.transpose(res, [kept.index(c) for c in out])


# ---------------------------------------------------------------- the blocked factor
class _Factor(NamedTuple):
    Ts: tuple      # relative factors T_t = diag(sd_t) L_t / sigma
    L0: object     # (n0, k0, k0)
    V: object      # (n0, k0, m)  L0^{-1} coupling
    Lr: object     # (m, m)       factor of the Schur complement
    z0: object     # (n0, k0)
    zr: object     # (m,)


_FIELDS = ("beta0", "D0", "B0x", "b0y", "Br0", "Crr", "Crx", "cry", "Cxx", "cxy", "Q0", "Q0m",
           "n", "log_w", "syy", "mQm", "prior_const")


def _arrays(P: _Products, dtype) -> dict:
    """The cross-products as JAX arrays of one dtype (the traced data of the functions)."""
    if dtype is None:
        dtype = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32
    return {f: jnp.asarray(getattr(P, f), dtype=dtype) for f in _FIELDS}


def _tmats(struct, dtype, sds, corr_chols, sigma):
    ks = struct[0]
    if len(sds) != len(ks) or len(corr_chols) != len(ks):
        raise ValueError(f"sds and corr_chols must hold one entry per random-effects term ({len(ks)}), "
                         f"got {len(sds)} and {len(corr_chols)}")
    Ts = []
    for k, sd, L in zip(ks, sds, corr_chols):
        sd = jnp.reshape(jnp.asarray(sd, dtype=dtype), (k,))
        T = jnp.diag(sd) if L is None else sd[:, None] * jnp.reshape(jnp.asarray(L, dtype=dtype), (k, k))
        Ts.append(T / sigma)
    return tuple(Ts)


def _head_factor(struct, Ts):
    """The block of the head terms' relative factors (one term: its own factor)."""
    head = struct[2]
    if len(head) == 1:
        return Ts[head[0]]
    return jsl.block_diag(*[Ts[i] for i in head])


def _lam_rows(struct, Ts, M):
    """``Lambda_r' M`` for the terms of the dense part, M (q_r, ...)."""
    out, start = [], 0
    ks, nls, _, rest = struct
    for T, k, nl in ((Ts[i], ks[i], nls[i]) for i in rest):
        seg = M[start: start + nl * k].reshape((nl, k) + M.shape[1:])
        out.append(jnp.einsum("ba,gb...->ga...", T, seg).reshape((nl * k,) + M.shape[1:]))
        start += nl * k
    return jnp.concatenate(out, 0)


def _factor(struct, a, sds, corr_chols, sigma) -> _Factor:
    dtype = a["D0"].dtype
    sigma = jnp.asarray(sigma, dtype=dtype)
    Ts = _tmats(struct, dtype, sds, corr_chols, sigma)
    T0 = _head_factor(struct, Ts)
    A00 = _esum("gac,cd->gad", _esum("ba,gbc->gac", T0, a["D0"]), T0) + jnp.eye(T0.shape[0], dtype=dtype)
    L0 = _chol_blocks(A00)
    s2 = sigma * sigma
    Axx = a["Cxx"] + s2 * a["Q0"]
    cx = a["cxy"] + s2 * a["Q0m"]
    R0x = _esum("ba,gbp->gap", T0, a["B0x"])
    c0 = _esum("ba,gb->ga", T0, a["b0y"])
    q_r = a["Crr"].shape[0]
    if q_r:
        Brt = _esum("ba,gbr->rga", T0, a["Br0"])                 # (q_r, n0, k0)
        R0 = jnp.concatenate([jnp.transpose(_lam_rows(struct, Ts, Brt), (1, 2, 0)), R0x], axis=-1)
        CL = _lam_rows(struct, Ts, a["Crr"])
        Arr = _lam_rows(struct, Ts, CL.T) + jnp.eye(q_r, dtype=dtype)
        Arx = _lam_rows(struct, Ts, a["Crx"])
        A_rest = jnp.block([[Arr, Arx], [Arx.T, Axx]])
        c_rest = jnp.concatenate([_lam_rows(struct, Ts, a["cry"]), cx])
    else:
        R0, A_rest, c_rest = R0x, Axx, cx
    V = _fsolve_blocks(L0, R0)
    z0 = _fsolve_blocks(L0, c0)
    S = A_rest - _esum("gam,gan->mn", V, V)
    c = c_rest - _esum("gam,ga->m", V, z0)
    if 0 < S.shape[0] <= _UNROLL:
        Lr = _chol_blocks(S[None])[0]
        zr = _fsolve_blocks(Lr[None], c[None])[0]
    elif S.shape[0]:
        Lr = jnp.linalg.cholesky(S)
        zr = jsl.solve_triangular(Lr, c, lower=True)
    else:
        Lr, zr = S, c
    return _Factor(Ts=Ts, L0=L0, V=V, Lr=Lr, z0=z0, zr=zr)


@partial(jax.jit, static_argnums=0)
def _loglik(struct, a, sds, corr_chols, sigma):
    F = _factor(struct, a, sds, corr_chols, sigma)
    s2 = jnp.square(jnp.asarray(sigma, dtype=a["D0"].dtype))
    half_logdet = (jnp.sum(jnp.log(jnp.diagonal(F.L0, axis1=1, axis2=2)))
                   + jnp.sum(jnp.log(jnp.diagonal(F.Lr))))
    r2 = a["syy"] + s2 * a["mQm"] - jnp.sum(F.z0 ** 2) - jnp.sum(F.zr ** 2)
    p = a["Cxx"].shape[0]
    return (-0.5 * a["n"] * (_LOG2PI + jnp.log(s2)) + 0.5 * a["log_w"] + 0.5 * p * jnp.log(s2)
            + a["prior_const"] - half_logdet - 0.5 * r2 / s2)


def _effects(struct, a, F: _Factor, z0, zr):
    """Back-substitution ``L' gamma = z``, then ``b = Lambda u`` and ``beta = beta0 + .``."""
    if 0 < zr.shape[0] <= _UNROLL:
        gr = _bsolve_blocks(F.Lr[None], zr[None])[0]
    else:
        gr = jsl.solve_triangular(F.Lr, zr, lower=True, trans="T") if zr.shape[0] else zr
    g0 = _bsolve_blocks(F.L0, z0 - _esum("gam,m->ga", F.V, gr))
    ks, nls, head, rest = struct
    b = [None] * len(ks)
    b0 = _esum("ab,gb->ga", _head_factor(struct, F.Ts), g0)
    col = 0
    for i in head:
        b[i] = b0[:, col: col + ks[i]]
        col += ks[i]
    start = 0
    for i in rest:
        k, nl = ks[i], nls[i]
        b[i] = _esum("ab,gb->ga", F.Ts[i], gr[start: start + nl * k].reshape(nl, k))
        start += nl * k
    return a["beta0"] + gr[start:], tuple(b)


@partial(jax.jit, static_argnums=0)
def _mean(struct, a, sds, corr_chols, sigma):
    F = _factor(struct, a, sds, corr_chols, sigma)
    return _effects(struct, a, F, F.z0, F.zr)


@partial(jax.jit, static_argnums=0)
def _sample(struct, a, key, sds, corr_chols, sigma):
    F = _factor(struct, a, sds, corr_chols, sigma)
    dtype = a["D0"].dtype
    sigma = jnp.asarray(sigma, dtype=dtype)
    k0, kr = jax.random.split(key)
    e0 = jax.random.normal(k0, F.z0.shape, dtype=dtype)
    er = jax.random.normal(kr, F.zr.shape, dtype=dtype)
    return _effects(struct, a, F, F.z0 + sigma * e0, F.zr + sigma * er)


def _sample_batch_fn(struct, a, keys, sds, corr_chols, sigma):
    """:func:`_sample` over a batch of keys and variance-parameter draws (leading axis).

    Compiled at module level (:data:`_sample_batch`): designs of the same
    shapes share its compilation, so refitting a model does not compile it again.
    """
    def one(key, sd, L, s):
        return _sample(struct, a, key, sd, L, s)

    return jax.vmap(one)(keys, sds, corr_chols, sigma)


#: :func:`_sample_batch_fn` compiled, with the samplers' compiler options
_sample_batch = LazyJit(_sample_batch_fn, static_argnums=0)


def _build(design, m0, S0, dtype, max_dense, sums=None):
    P = _products(design, m0, S0, max_dense) if sums is None else _sums_products(sums, design.terms, m0, S0,
                                                                                   max_dense)
    return (P.k, P.nlevels, P.head, P.rest), _arrays(P, dtype)


def collapsed_parts(design, m0, S0, dtype=None, max_dense: int = MAX_DENSE, sums=None) -> tuple[tuple, dict]:
    """The static structure and the cross-products (JAX arrays) of a Gaussian model.

    The pieces the functions of :func:`make_collapsed` are made of, for callers
    that pass the cross-products as traced arguments (so compiled code can be
    reused by another design of the same shapes): ``_loglik(struct, arrays,
    sds, corr_chols, sigma)`` and ``_sample_batch(struct, arrays, keys, sds,
    corr_chols, sigma)``.

    Returns
    -------
    struct : tuple
        ``(k per term, levels per term, terms of the block-diagonal part, terms of the
        dense part)``, hashable (a static argument).
    arrays : dict of jax arrays
        The cross-products.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> struct, arrays = collapsed_parts(d, m0=0.0, S0=np.inf)
    >>> struct, arrays["D0"].shape
    (((1,), (18,), (0,), ()), (18, 1, 1))

    ``sums`` (:class:`SummedProducts`) gives the cross-products of a design
    whose rows stay in their parts (data in parts).
    """
    return _build(design, m0, S0, dtype, max_dense, sums)


# ---------------------------------------------------------------- public factories
def make_collapsed(design, m0, S0, dtype=None, max_dense: int = MAX_DENSE) -> CollapsedGaussian:
    """The marginal likelihood, effect sampler and conditional mean of a Gaussian model.

    Parameters
    ----------
    design : Design
        A linear mixed model's design (:func:`multilevel.design.build_design`);
        its prior weights and offset are used.
    m0 : float or array-like (p,)
        Prior mean of the fixed effects.
    S0 : float, array-like (p,) or (p, p)
        Prior covariance of the fixed effects: a scalar or a vector of variances
        (diagonal; ``np.inf`` entries give flat, improper components), or a full
        positive definite matrix.
    dtype : jax dtype, optional
        Arithmetic precision; by default float64 when JAX's 64-bit mode is on
        at this call, float32 otherwise.
    max_dense : int, default 3000
        Most random effects outside the first (largest) term; beyond it a
        ValueError says to use ``sampler="nuts"``.

    Returns
    -------
    CollapsedGaussian
        ``marginal_loglik(sds, corr_chols, sigma)``,
        ``sample_effects(key, sds, corr_chols, sigma)`` and
        ``conditional_mean(sds, corr_chols, sigma)``; see
        :func:`make_marginal_loglik`, :func:`make_effect_sampler` and
        :func:`make_conditional_mean` for their conventions.

    Raises
    ------
    ValueError
        For a prior of the wrong shape, or a model too large for the dense part.

    Examples
    --------
    >>> import jax
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> with jax.enable_x64(True):
    ...     cg = make_collapsed(d, m0=0.0, S0=np.inf)
    ...     sds, chols = from_theta(d, [0.9292, 0.0182, 0.2226], 25.5918)
    ...     beta, b = cg.conditional_mean(sds, chols, 25.5918)
    >>> np.asarray(beta).round(2).tolist(), b[0].shape
    ([251.41, 10.47], (18, 2))
    """
    struct, a = _build(design, m0, S0, dtype, max_dense)
    return CollapsedGaussian(marginal_loglik=partial(_loglik, struct, a),
                             sample_effects=partial(_sample, struct, a),
                             conditional_mean=partial(_mean, struct, a))


def make_marginal_loglik(design, m0, S0, dtype=None, max_dense: int = MAX_DENSE) -> Callable:
    """``log p(y | sds, R, sigma)`` with the fixed and random effects integrated out.

    The result is exact, constants included: for a proper prior it equals the
    log density of ``y ~ N(offset + X m0, X S0 X' + Z Sigma Z' + sigma^2 W^-1)``.
    Flat components of the prior (``np.inf`` variances) contribute the density
    1 (so the marginal is improper in ``y`` only by a constant); with every
    component flat it is lme4's REML log-likelihood. Observations of weight
    zero carry no information and are left out.

    Parameters
    ----------
    design : Design
    m0 : float or array-like (p,)
        Prior mean of the fixed effects.
    S0 : float, array-like (p,) or (p, p)
        Prior variances (``np.inf`` for flat) or a full covariance matrix.
    dtype : jax dtype, optional
        float64 when JAX's 64-bit mode is on at this call, float32 otherwise.
    max_dense : int, default 3000
        Most random effects outside the first term.

    Returns
    -------
    callable
        ``f(sds, corr_chols, sigma) -> scalar``, jittable and differentiable.
        ``sds`` and ``corr_chols`` are tuples with one entry per term of
        ``design.terms`` (in that order: decreasing number of levels):
        ``sds[t]`` the ``(k_t,)`` standard deviations of the term's random
        effects and ``corr_chols[t]`` the ``(k_t, k_t)`` lower Cholesky factor
        ``L_t`` of their correlation matrix (``None`` for the identity, e.g.
        for ``k_t = 1``), so ``Sigma_t = diag(sd_t) L_t L_t' diag(sd_t)``;
        ``sigma`` is the residual standard deviation.

    Examples
    --------
    >>> import jax
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> with jax.enable_x64(True):
    ...     f = make_marginal_loglik(d, m0=[250.0, 10.0], S0=[100.0**2, 10.0**2])
    ...     sds = (np.array([24.7, 5.9]),)
    ...     chols = (np.array([[1.0, 0.0], [0.07, (1 - 0.07**2) ** 0.5]]),)
    ...     value, grad = jax.value_and_grad(f, argnums=2)(sds, chols, 25.6)
    >>> round(float(value), 2), bool(np.isfinite(grad))
    (-880.58, True)
    """
    return partial(_loglik, *_build(design, m0, S0, dtype, max_dense))


def make_effect_sampler(design, m0, S0, dtype=None, max_dense: int = MAX_DENSE) -> Callable:
    """An exact sampler of the fixed and random effects given the variance parameters.

    Draws ``(beta, b)`` from their joint conditional normal given ``y`` and
    ``(sds, R, sigma)``: mean :func:`make_conditional_mean`, covariance
    ``sigma^2 A^-1`` for the penalised system ``A`` (through its blocked
    Cholesky factor).

    Parameters
    ----------
    design : Design
    m0 : float or array-like (p,)
        Prior mean of the fixed effects.
    S0 : float, array-like (p,) or (p, p)
        Prior variances (``np.inf`` for flat) or a full covariance matrix.
    dtype : jax dtype, optional
        float64 when JAX's 64-bit mode is on at this call, float32 otherwise.
    max_dense : int, default 3000
        Most random effects outside the first term.

    Returns
    -------
    callable
        ``g(key, sds, corr_chols, sigma) -> (beta, b)`` with ``beta`` of shape
        ``(p,)`` and ``b`` a tuple of ``(nlevels_t, k_t)`` arrays in the order of
        ``design.terms`` (columns as ``term.columns``); ``sds``, ``corr_chols``
        and ``sigma`` as in :func:`make_marginal_loglik`. One draw per key:
        ``jax.vmap`` it over keys and posterior draws.

    Examples
    --------
    >>> import jax
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> g = make_effect_sampler(d, m0=0.0, S0=1e6)
    >>> keys = jax.random.split(jax.random.PRNGKey(0), 4)
    >>> sigma = np.full(4, 31.0)  # e.g. four posterior draws of sigma, and of the sds
    >>> beta, b = jax.vmap(g)(keys, (np.full((4, 1), 37.0),), (None,), sigma)
    >>> beta.shape, b[0].shape
    ((4, 2), (4, 18, 1))
    """
    return partial(_sample, *_build(design, m0, S0, dtype, max_dense))


def make_conditional_mean(design, m0, S0, dtype=None, max_dense: int = MAX_DENSE) -> Callable:
    """The conditional mean of the fixed and random effects given the variance parameters.

    With a flat prior (``S0=np.inf``) and lme4's estimates of the variance
    parameters this is lme4's fixed-effects estimate and its conditional modes
    (BLUPs) of the random effects; averaged over posterior draws it gives
    Rao-Blackwellised posterior means.

    Parameters
    ----------
    design : Design
    m0 : float or array-like (p,)
        Prior mean of the fixed effects.
    S0 : float, array-like (p,) or (p, p)
        Prior variances (``np.inf`` for flat) or a full covariance matrix.
    dtype : jax dtype, optional
        float64 when JAX's 64-bit mode is on at this call, float32 otherwise.
    max_dense : int, default 3000
        Most random effects outside the first term.

    Returns
    -------
    callable
        ``h(sds, corr_chols, sigma) -> (beta, b)``, shapes as for
        :func:`make_effect_sampler`.

    Examples
    --------
    >>> import jax
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    >>> with jax.enable_x64(True):
    ...     h = make_conditional_mean(d, m0=0.0, S0=np.inf)
    ...     beta, b = h((np.array([0.8467]), np.array([1.9316])), (None, None), 0.5499)
    >>> np.asarray(beta).round(3).tolist(), [x.shape for x in b]
    ([22.972], [(24, 1), (6, 1)])
    """
    return partial(_mean, *_build(design, m0, S0, dtype, max_dense))


def from_theta(design, theta, sigma) -> tuple[tuple, tuple]:
    """Standard deviations and correlation factors from lme4's ``theta`` and ``sigma``.

    Parameters
    ----------
    design : Design
    theta : array-like
        Relative covariance parameters in lme4's layout (as ``LmerResult.theta``).
    sigma : float
        Residual standard deviation.

    Returns
    -------
    sds : tuple of ndarray (k_t,)
    corr_chols : tuple of ndarray (k_t, k_t)
        Lower Cholesky factors of the correlation matrices (a row of a zero
        standard deviation is set to the unit vector).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> sds, chols = from_theta(d, [0.9667, 0.0152, 0.2309], 25.5918)
    >>> sds[0].round(2).tolist(), chols[0].round(3).tolist()
    ([24.74, 5.92], [[1.0, 0.0], [0.066, 0.998]])
    """
    from ..linalg import ThetaLayout

    lay = ThetaLayout.from_terms(design.terms)
    sds, chols = [], []
    for T in lay.factors(np.asarray(theta, dtype=float)):
        norms = np.sqrt(np.sum(T ** 2, axis=1))
        L = np.where(norms[:, None] > 0, T / np.where(norms > 0, norms, 1.0)[:, None], np.eye(T.shape[0]))
        sds.append(float(sigma) * norms)
        chols.append(L)
    return tuple(sds), tuple(chols)
