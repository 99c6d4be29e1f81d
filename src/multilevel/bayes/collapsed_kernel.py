"""The collapsed Gaussian density of a one-factor model and its exact gradient, compiled.

For the models whose random effects all group by one factor (the common
two-level model: ``(1 + x + ... | g)``, also as ``||`` terms), the collapsed
log-likelihood of :mod:`multilevel.bayes.collapsed` is a function of the
relative factor ``T`` (``k x k``) and ``s2 = sigma^2`` only:

    log p(y | T, s2) = -(n/2) log(2 pi s2) + (p/2) log s2 + log_w/2 + prior_const
                       - (1/2) log|A| - r2 / (2 s2),

with ``A`` the penalised system (a ``k x k`` block ``A_g = T'D_g T + I`` per
level, coupled to the fixed effects through ``R_g = T'B_g``) and ``r2`` its
penalised residual sum of squares. Its gradient is exact and cheap:

    d log|A| / dT = 2 sum_g [D_g T A_g^-1 + (D_g T P_g - B_g) W P_g'],
    d r2 / dT     = 2 sum_g (D_g T u_g + B_g beta - b_g) u_g',
    d log|A| / ds2 = tr(W Q0),
    d r2 / ds2    = beta'Q0 beta - 2 beta'Q0 (m0 - beta0) + mQm,

with ``P_g = A_g^-1 R_g``, ``W = S^-1`` the inverse Schur complement of the
fixed effects, ``(u, beta)`` the solution of the penalised system and
``r2`` minimised over them (the envelope theorem gives ``d r2``).

NUTS evaluates this value and gradient tens of thousands of times. As JAX
operations they are some hundred small XLA kernels (about 0.8 ms for the brms
notes' classroom model: 150 classes, ``k = 4``, 13 fixed effects); here they
are one compiled loop over the levels (numba), called from inside the
compiled sampler as an XLA foreign function (``jax.ffi``), with no trip
through Python. The handler reads XLA's C call frame (``xla/ffi/api/c_api.h``,
API major version 0), whose layout is fixed by that stable ABI; where the
header shipped with JAX reports another major version, or the platform is not
a CPU, :func:`available` is false and the sampler keeps the JAX expression.
"""

from __future__ import annotations

import math
import os
import re
import threading

import llvmlite.binding as llvm_binding
import llvmlite.ir as llvm_ir
import numpy as np
from numba import carray, cfunc, njit, types
from numba.core.extending import intrinsic

__all__ = ["available", "loglik_one_factor", "value_and_grad"]

#: the name of the foreign function registered with XLA
TARGET = "multilevel_collapsed_one_factor"
_LOG2PI = math.log(2.0 * math.pi)


# ---------------------------------------------------------------- the density and its gradient
#: reassociation lets the sums over levels vectorise; no assumption about NaNs or infinities
_FAST = {"reassoc", "contract", "nsz"}


@njit(cache=True, error_model="numpy")
def _chol_inplace(A, m):
    """Lower Cholesky factor of ``A[:m, :m]`` in place; False when not positive definite."""
    for j in range(m):
        s = A[j, j]
        for c in range(j):
            s -= A[j, c] * A[j, c]
        if not s > 0.0:
            return False
        d = math.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, m):
            s = A[i, j]
            for c in range(j):
                s -= A[i, c] * A[j, c]
            A[i, j] = s / d
        for i in range(j):
            A[i, j] = 0.0
    return True


@njit(cache=True, error_model="numpy")
def _chol_solve_inplace(L, B, m, ncol):
    """``B[:m, :ncol] <- (L L')^-1 B`` for lower ``L``."""
    for c in range(ncol):
        for i in range(m):
            s = B[i, c]
            for j in range(i):
                s -= L[i, j] * B[j, c]
            B[i, c] = s / L[i, i]
        for i in range(m - 1, -1, -1):
            s = B[i, c]
            for j in range(i + 1, m):
                s -= L[j, i] * B[j, c]
            B[i, c] = s / L[i, i]


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _solve_levels(L, X, k):
    """``X[:, c, g] <- A_g^-1 X[:, c, g]`` for every column c and level g (``A_g = L_g L_g'``,
    ``L`` of shape (k, k, levels), levels last so each step is one vector operation)."""
    ncol, n0 = X.shape[1], X.shape[2]
    for c in range(ncol):
        for i in range(k):
            for j in range(i):
                for g in range(n0):
                    X[i, c, g] -= L[i, j, g] * X[j, c, g]
            for g in range(n0):
                X[i, c, g] /= L[i, i, g]
        for i in range(k - 1, -1, -1):
            for j in range(i + 1, k):
                for g in range(n0):
                    X[i, c, g] -= L[j, i, g] * X[j, c, g]
            for g in range(n0):
                X[i, c, g] /= L[i, i, g]


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _times(A, M):
    """``A_g M`` for every level g: ``A`` (r, c, levels), ``M`` (c, d) -> (r, d, levels)."""
    r, c, n0 = A.shape
    d = M.shape[1]
    out = np.zeros((r, d, n0))
    for i in range(r):
        for m in range(c):
            for j in range(d):
                t = M[m, j]
                for g in range(n0):
                    out[i, j, g] += A[i, m, g] * t
    return out


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def value_and_grad(T, s2, D0, B0x, b0y, Cxx, cxy, Q0, Q0m, scal, dT):
    """The collapsed log-likelihood at ``(T, s2)``; writes its gradient in T into ``dT``.

    ``scal`` holds ``(n, log_w, syy, mQm, prior_const)``. Returns
    ``(value, d value / d s2)``; NaNs where a factorisation fails, as the JAX
    expression gives. The per-level algebra runs with the levels on the last
    axis, so each step is one vector operation over the levels.
    """
    n0, k = D0.shape[0], D0.shape[1]
    p = Cxx.shape[0]
    n, log_w, syy, mQm, prior_const = scal[0], scal[1], scal[2], scal[3], scal[4]
    if not (s2 > 0.0 and s2 < np.inf):
        dT[:, :] = np.nan
        return np.nan, np.nan
    # the cross-products, levels last
    D = np.empty((k, k, n0))
    B = np.empty((k, p, n0))
    b = np.empty((k, n0))
    for g in range(n0):
        for i in range(k):
            for j in range(k):
                D[i, j, g] = D0[g, i, j]
            for c in range(p):
                B[i, c, g] = B0x[g, i, c]
            b[i, g] = b0y[g, i]
    # DT = D_g T, A_g = T'DT + I and its factor L_g
    DT = _times(D, T)
    L = np.zeros((k, k, n0))
    for i in range(k):
        for j in range(i + 1):
            for m in range(k):
                t = T[m, i]
                for g in range(n0):
                    L[i, j, g] += t * DT[m, j, g]
        for g in range(n0):
            L[i, i, g] += 1.0
    logdet = 0.0
    for j in range(k):
        for c in range(j):
            for g in range(n0):
                L[j, j, g] -= L[j, c, g] * L[j, c, g]
        for g in range(n0):
            if not L[j, j, g] > 0.0:
                for a_ in range(k):
                    for b_ in range(k):
                        dT[a_, b_] = np.nan
                return np.nan, np.nan
            L[j, j, g] = math.sqrt(L[j, j, g])
            logdet += 2.0 * math.log(L[j, j, g])
        for i in range(j + 1, k):
            for c in range(j):
                for g in range(n0):
                    L[i, j, g] -= L[i, c, g] * L[j, c, g]
            for g in range(n0):
                L[i, j, g] /= L[j, j, g]
    # R = T'B_g (kept in P, then P = A_g^-1 R), c_g = T'b_g (kept in a, then a = A_g^-1 c_g)
    R = np.zeros((k, p, n0))
    cg = np.zeros((k, 1, n0))
    for i in range(k):
        for m in range(k):
            t = T[m, i]
            for c in range(p):
                for g in range(n0):
                    R[i, c, g] += t * B[m, c, g]
            for g in range(n0):
                cg[i, 0, g] += t * b[m, g]
    P = R.copy()
    a = cg.copy()
    Ainv = np.zeros((k, k, n0))
    for i in range(k):
        for g in range(n0):
            Ainv[i, i, g] = 1.0
    _solve_levels(L, P, k)
    _solve_levels(L, a, k)
    _solve_levels(L, Ainv, k)
    # the fixed effects' Schur complement S = Cxx + s2 Q0 - sum_g R_g'P_g, and its right-hand side
    r2 = syy + s2 * mQm
    S = np.empty((p, p))
    cv = np.empty(p)
    for i in range(p):
        s = cxy[i] + s2 * Q0m[i]
        for m in range(k):
            for g in range(n0):
                s -= R[m, i, g] * a[m, 0, g]
        cv[i] = s
        for j in range(i, p):
            s = Cxx[i, j] + s2 * Q0[i, j]
            for m in range(k):
                for g in range(n0):
                    s -= R[m, i, g] * P[m, j, g]
            S[i, j] = s
            S[j, i] = s
    for m in range(k):
        for g in range(n0):
            r2 -= cg[m, 0, g] * a[m, 0, g]
    if not _chol_inplace(S, p):
        for i in range(k):
            for j in range(k):
                dT[i, j] = np.nan
        return np.nan, np.nan
    for i in range(p):
        logdet += 2.0 * math.log(S[i, i])
    beta = cv.reshape((p, 1)).copy()
    _chol_solve_inplace(S, beta, p, 1)
    W = np.eye(p)
    _chol_solve_inplace(S, W, p, p)
    for i in range(p):
        r2 -= cv[i] * beta[i, 0]
    value = (-0.5 * n * (_LOG2PI + math.log(s2)) + 0.5 * log_w + 0.5 * p * math.log(s2)
             + prior_const - 0.5 * logdet - 0.5 * r2 / s2)
    # d/ds2
    trWQ = 0.0
    quad = 0.0
    lin = 0.0
    for i in range(p):
        lin += beta[i, 0] * Q0m[i]
        for j in range(p):
            trWQ += W[i, j] * Q0[j, i]
            quad += beta[i, 0] * Q0[i, j] * beta[j, 0]
    ds2 = (-0.5 * (n - p) / s2 - 0.5 * trWQ - 0.5 * (quad - 2.0 * lin + mQm) / s2
           + 0.5 * r2 / (s2 * s2))
    # d/dT = -sum_g [D_g T A_g^-1 + E_g W P_g' + e_g u_g' / s2] with
    # u_g = a_g - P_g beta, E_g = D_g T P_g - B_g, e_g = D_g T u_g + B_g beta - b_g
    u = np.empty((k, n0))
    for i in range(k):
        for g in range(n0):
            u[i, g] = a[i, 0, g]
        for c in range(p):
            bc = beta[c, 0]
            for g in range(n0):
                u[i, g] -= P[i, c, g] * bc
    E = np.empty((k, p, n0))
    e = np.empty((k, n0))
    for i in range(k):
        for g in range(n0):
            e[i, g] = -b[i, g]
        for c in range(p):
            bc = beta[c, 0]
            for g in range(n0):
                E[i, c, g] = -B[i, c, g]
                e[i, g] += B[i, c, g] * bc
        for m in range(k):
            for c in range(p):
                for g in range(n0):
                    E[i, c, g] += DT[i, m, g] * P[m, c, g]
            for g in range(n0):
                e[i, g] += DT[i, m, g] * u[m, g]
    F = _times(E, W)
    inv_s2 = 1.0 / s2
    for i in range(k):
        for j in range(k):
            s = 0.0
            for g in range(n0):
                s += e[i, g] * u[j, g] * inv_s2
            for m in range(k):
                for g in range(n0):
                    s += DT[i, m, g] * Ainv[m, j, g]
            for c in range(p):
                for g in range(n0):
                    s += F[i, c, g] * P[j, c, g]
            dT[i, j] = -s
    return value, ds2


# ---------------------------------------------------------------- XLA's C call frame
@intrinsic
def _pointer(typingctx, address):
    """The address (int64) as a ``void*``."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(types.voidptr))
    return types.voidptr(types.int64), codegen


@intrinsic
def _address(typingctx, pointer):
    """The ``void*`` as an address (int64)."""
    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], context.get_value_type(types.int64))
    return types.int64(types.voidptr), codegen


@njit(cache=True, error_model="numpy")
def _i64(address):
    return carray(_pointer(address), (1,), dtype=np.int64)[0]


@njit(cache=True, error_model="numpy")
def _i32(address):
    return carray(_pointer(address), (1,), dtype=np.int32)[0]


@njit(cache=True, error_model="numpy")
def _buffer(frame, which, i):
    """Data address and dims of argument (``which`` 0) or result (1) ``i``.

    ``XLA_FFI_CallFrame``: args (``XLA_FFI_Args``) at byte 40, rets at 80; each
    holds its size at +16 and the ``void**`` of buffers at +32. ``XLA_FFI_Buffer``:
    data at +24, rank at +32, dims at +40.
    """
    table = _i64(frame + (72 if which == 0 else 112))
    buf = _i64(table + 8 * i)
    return _i64(buf + 24), _i64(buf + 40)


@njit(cache=True, error_model="numpy")
def _array(data, dims, rank):
    if rank == 0:
        return carray(_pointer(data), (1,), dtype=np.float64)
    d = carray(_pointer(dims), (rank,), dtype=np.int64)
    size = 1
    for i in range(rank):
        size *= d[i]
    return carray(_pointer(data), (size,), dtype=np.float64)


@njit(cache=True, error_model="numpy")
def _arg(frame, i, rank):
    data, dims = _buffer(frame, 0, i)
    return _array(data, dims, rank)


@njit(cache=True, error_model="numpy")
def _dim(frame, i, axis):
    _, dims = _buffer(frame, 0, i)
    return _i64(dims + 8 * axis)


@njit(cache=True, error_model="numpy")
def _all_f64(frame, which, count):
    """Whether the first ``count`` arguments (``which`` 0) or results (1) are float64 buffers
    (``XLA_FFI_Buffer.dtype`` at +16; ``XLA_FFI_DataType_F64`` is 12)."""
    table = _i64(frame + (72 if which == 0 else 112))
    for i in range(count):
        if _i32(_i64(table + 8 * i) + 16) != 12:
            return False
    return True


@njit(cache=True, error_model="numpy")
def _metadata(frame, major, minor):
    """Answer XLA's metadata query (``XLA_FFI_Metadata_Extension``): the API version the
    handler was built for, no traits."""
    ext = _i64(frame + 8)
    meta = _i64(ext + 24)
    m64 = carray(_pointer(meta + 8), (2,), dtype=np.int64)
    m64[0] = 24                      # XLA_FFI_Api_Version: struct_size
    m64[1] = 0                       # extension_start
    m32 = carray(_pointer(meta + 24), (3,), dtype=np.int32)
    m32[0] = major
    m32[1] = minor
    m32[2] = 0                       # traits


@njit(cache=True, error_model="numpy")
def _execute(frame):
    """The call: arguments T (k, k), s2 (), D0 (n0, k, k), B0x (n0, k, p), b0y (n0, k),
    Cxx (p, p), cxy (p,), Q0 (p, p), Q0m (p,), scal (5,); results value (), dT (k, k), ds2 ().
    The results start as NaN, so a failure inside leaves NaN, never stale memory."""
    if not _all_f64(frame, 1, 3):
        return
    n0, k, p = _dim(frame, 3, 0), _dim(frame, 3, 1), _dim(frame, 3, 2)
    d0, _ = _buffer(frame, 1, 0)
    d1, _ = _buffer(frame, 1, 1)
    d2, _ = _buffer(frame, 1, 2)
    value = carray(_pointer(d0), (1,), dtype=np.float64)
    dT = carray(_pointer(d1), (k * k,), dtype=np.float64).reshape((k, k))
    ds2 = carray(_pointer(d2), (1,), dtype=np.float64)
    value[0] = np.nan
    ds2[0] = np.nan
    dT[:, :] = np.nan
    if not _all_f64(frame, 0, 10):
        return
    T = _arg(frame, 0, 2).reshape((k, k))
    s2 = _arg(frame, 1, 0)[0]
    D0 = _arg(frame, 2, 3).reshape((n0, k, k))
    B0x = _arg(frame, 3, 3).reshape((n0, k, p))
    b0y = _arg(frame, 4, 2).reshape((n0, k))
    Cxx = _arg(frame, 5, 2).reshape((p, p))
    cxy = _arg(frame, 6, 1)
    Q0 = _arg(frame, 7, 2).reshape((p, p))
    Q0m = _arg(frame, 8, 1)
    scal = _arg(frame, 9, 1)
    v, g = value_and_grad(T, s2, D0, B0x, b0y, Cxx, cxy, Q0, Q0m, scal, dT)
    value[0] = v
    ds2[0] = g


#: the XLA FFI API version the handler reports, set from JAX's header when it is registered;
#: compiled code finds it through the symbol below, so the disk-cached handler reads the
#: version of the JAX installed now, not the one it was compiled with
_VERSION = np.zeros(2, dtype=np.int32)
_VERSION_SYMBOL = "multilevel_collapsed_kernel_ffi_version"
llvm_binding.add_symbol(_VERSION_SYMBOL, _VERSION.ctypes.data)


@intrinsic
def _version_address(typingctx):
    """The address of :data:`_VERSION`, as an external symbol resolved when the code is loaded."""
    def codegen(context, builder, signature, args):
        module = builder.module
        try:
            gv = module.get_global(_VERSION_SYMBOL)
        except KeyError:
            gv = llvm_ir.GlobalVariable(module, llvm_ir.ArrayType(llvm_ir.IntType(32), 2),
                                        name=_VERSION_SYMBOL)
            gv.linkage = "external"
        return builder.ptrtoint(gv, llvm_ir.IntType(64))
    return types.int64(), codegen


def _handler(frame_ptr):
    """``XLA_FFI_Handler``: the metadata query (XLA asks which API version the handler was
    built for; the call frame may carry no API table then), or the call itself."""
    frame = _address(frame_ptr)
    ext = _i64(frame + 8)
    if ext != 0 and _i32(ext + 8) == 1:  # XLA_FFI_Extension_Metadata
        version = carray(_pointer(_version_address()), (2,), dtype=np.int32)
        _metadata(frame, version[0], version[1])
    elif _i32(frame + 32) == 3:          # XLA_FFI_ExecutionStage_EXECUTE
        _execute(frame)
    return _pointer(0)


def _make_handler():
    """:func:`_handler` compiled as a C function (cached on disk; made on first use, so that
    importing this module compiles nothing)."""
    return cfunc(types.voidptr(types.voidptr), nopython=True, cache=True)(_handler)


# ---------------------------------------------------------------- registration and the JAX function
_STATE = {"registered": None}
_LOCK = threading.Lock()


def _header_version():
    """(major, minor) of the XLA FFI C API in the header JAX ships, or None."""
    import jax

    with open(os.path.join(jax.ffi.include_dir(), "xla", "ffi", "api", "c_api.h")) as fh:
        text = fh.read()
    major = re.search(r"#define XLA_FFI_API_MAJOR (\d+)", text)
    minor = re.search(r"#define XLA_FFI_API_MINOR (\d+)", text)
    if not (major and minor):
        return None
    return int(major.group(1)), int(minor.group(1))


def _switched_off() -> bool:
    value = os.environ.get("MULTILEVEL_NO_FFI", "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def available() -> bool:
    """Whether the compiled density can run inside JAX here (registering it on first use).

    True on a CPU backend whose JAX ships the XLA FFI header with API major
    version 0 (the call frame layout the handler reads), unless the
    environment variable ``MULTILEVEL_NO_FFI`` is set to a true value (``1``)
    when the process first asks. Anything that goes wrong while registering
    makes it false, and the sampler keeps the JAX expression.

    Examples
    --------
    >>> isinstance(available(), bool)
    True
    """
    with _LOCK:
        if _STATE["registered"] is None:
            try:
                _STATE["registered"] = _register()
            except Exception:  # noqa: BLE001 - an older JAX (no jax.ffi), a failed compilation
                _STATE["registered"] = False
        return _STATE["registered"]


def _register() -> bool:
    import jax

    if _switched_off() or jax.default_backend() != "cpu":
        return False
    if "handler" in _STATE:  # registered earlier in this process (XLA keeps one per name)
        return True
    version = _header_version()
    if version is None or version[0] != 0:
        return False
    _VERSION[:] = version
    handler = _make_handler()
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(handler.address), platform="cpu")
    _STATE["handler"] = handler  # keep the compiled function alive with its pointer
    return True


def _call(T, s2, arrays):
    import jax
    import jax.numpy as jnp

    f64 = jnp.float64
    if not jax.config.read("jax_enable_x64") or any(
            jnp.result_type(x) != f64 for x in (T, s2, *arrays.values())):
        raise TypeError("the compiled collapsed density computes in float64: build the "
                        "cross-products and call it with JAX's 64-bit mode on "
                        "(jax.enable_x64(True))")
    scal = jnp.stack([arrays["n"], arrays["log_w"], arrays["syy"], arrays["mQm"],
                      arrays["prior_const"]])
    out = (jax.ShapeDtypeStruct((), f64), jax.ShapeDtypeStruct(T.shape, f64),
           jax.ShapeDtypeStruct((), f64))
    return jax.ffi.ffi_call(TARGET, out, vmap_method="sequential")(
        T, s2, arrays["D0"], arrays["B0x"], arrays["b0y"],
        arrays["Cxx"], arrays["cxy"], arrays["Q0"], arrays["Q0m"], scal)


def _make_density():
    import jax

    @jax.custom_vjp
    def density(T, s2, arrays):
        return _call(T, s2, arrays)[0]

    def forward(T, s2, arrays):
        v, dT, ds2 = _call(T, s2, arrays)
        return v, (dT, ds2, arrays)

    def backward(res, g):
        dT, ds2, arrays = res
        return g * dT, g * ds2, jax.tree_util.tree_map(lambda x: None, arrays)

    density.defvjp(forward, backward)
    return density


_DENSITY = {}


def loglik_one_factor(struct, arrays, sds, corr_chols, sigma):
    """The collapsed log-likelihood of a one-factor model through the compiled kernel.

    Same arguments and value as :func:`multilevel.bayes.collapsed._loglik` for
    a structure without a dense part (every term grouped by the first term's
    factor), float64 cross-products and JAX's 64-bit mode on. Its gradient in
    ``sds``, ``corr_chols`` and ``sigma`` is exact, by reverse mode only
    (``jax.grad``, ``jax.vjp``); the cross-products are constants (their
    cotangents are zero).

    Raises
    ------
    RuntimeError
        Where :func:`available` is false (use ``_loglik`` there).
    TypeError
        Outside JAX's 64-bit mode, or for cross-products that are not float64.

    Examples
    --------
    >>> import jax
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.bayes.collapsed import collapsed_parts, _loglik
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> with jax.enable_x64(True):
    ...     struct, a = collapsed_parts(d, m0=0.0, S0=1e4)
    ...     sds, L = (np.array([24.7, 5.9]),), (np.array([[1.0, 0.0], [0.07, 0.99755]]),)
    ...     fast = loglik_one_factor(struct, a, sds, L, 25.6) if available() else _loglik(struct, a, sds, L, 25.6)
    ...     bool(abs(fast - _loglik(struct, a, sds, L, 25.6)) < 1e-8)
    True
    """
    import jax.numpy as jnp

    from .collapsed import _head_factor, _tmats

    if not available():
        raise RuntimeError("the compiled collapsed density is not available here (not a CPU, "
                           "MULTILEVEL_NO_FFI set, or an XLA it cannot be registered with)")
    if "f" not in _DENSITY:
        _DENSITY["f"] = _make_density()
    dtype = arrays["D0"].dtype
    sigma = jnp.asarray(sigma, dtype=dtype)
    Ts = _tmats(struct, dtype, sds, corr_chols, sigma)
    return _DENSITY["f"](_head_factor(struct, Ts), sigma * sigma, arrays)
