"""A lean NUTS kernel on one flat parameter vector, with Stan's warmup.

The sampler Stan uses (Hoffman & Gelman's no-U-turn sampler with
multinomial sampling of the trajectory, Betancourt 2017): each iteration
doubles a trajectory of leapfrog steps in a random direction until its ends
make a U-turn (the generalised criterion on the summed momenta, in
Betancourt's form with half the end momenta taken off, checked on every
sub-trajectory of the new half), the maximum depth is reached or the
energy error exceeds 1000 (a divergence); the draw is taken from the
trajectory by uniform progressive sampling within each new half and biased
progressive sampling between halves. Warmup is Stan's: dual averaging of the
step size towards the target acceptance statistic, a mass matrix (diagonal
or dense) estimated in doubling windows (75 / 25 doubling / 50 iterations,
scaled down for short warmups) and regularised as Stan does (towards each
coordinate's initial scale rather than towards 1e-3, so that a coefficient in
large units keeps a usable metric), and Stan's
step-size search at the start. After each new mass matrix dual averaging
restarts from the current step size, as NumPyro's warmup does; Stan searches
again there, which on a posterior with a wall at small SDs (the anorexia
model of the JAGS notes, 96 seeds) gave larger final step sizes, 16% more
divergent transitions and more runs with few effective draws.

Written for speed in JAX: the state is a few flat vectors, the half
trajectories are built iteratively with checkpoints (Phan et al.'s iterative
NUTS), and the whole chain (initial gradient, step-size searches, warmup and
sampling) is one loop whose body holds the log density's gradient once, so
a model compiles the gradient once. The step-size search's probes are
single leapfrog steps from the current position with fresh momenta (the
chain does not move, as in Stan); they are not counted as iterations.

Examples
--------
>>> import jax, jax.numpy as jnp, numpy as np
>>> jax.config.update("jax_enable_x64", True)
>>> vg = jax.value_and_grad(lambda z, a: 0.5 * jnp.sum((z / a) ** 2))
>>> kern = NutsKernel(vg, dim=2, warmup=200, target_accept=0.8, max_tree_depth=8)
>>> st = kern.init(np.zeros(2), np.ones(2), np.array([0, 7], dtype=np.uint32))
>>> bufs = kern.buffers(300)
>>> st, bufs = jax.jit(kern.run)(st, bufs, 500, np.array([1.0, 3.0]))
>>> z = np.asarray(bufs["z"])
>>> bool(abs(z[:, 1].std() - 3.0) < 0.6), int(st.iteration)
(True, 500)
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.linalg import solve_triangular

__all__ = ["NutsKernel", "NutsState", "adaptation_windows"]

#: energy error beyond which a trajectory is divergent (Stan's)
MAX_DELTA_H = 1000.0
#: dual averaging constants (Stan's)
DA_GAMMA, DA_T0, DA_KAPPA = 0.05, 10.0, 0.75
#: most probes (single leapfrog steps) in one step-size search
MAX_PROBES = 100


def adaptation_windows(warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Stan's mass-matrix windows: ``(collect, update)`` booleans per warmup iteration.

    ``collect[i]``: iteration ``i``'s draw enters the running variance;
    ``update[i]``: the mass matrix is updated after iteration ``i`` (the end of
    a window). A 75-iteration initial buffer, windows of 25, 50, 100, ...
    iterations (the last stretched to the terminal buffer) and a 50-iteration
    terminal buffer; for warmups under 150 iterations 15% / 75% / 10%, and
    no windows under 20.

    Examples
    --------
    >>> collect, update = adaptation_windows(1000)
    >>> np.flatnonzero(update).tolist(), int(collect.sum())
    ([99, 149, 249, 449, 949], 875)
    """
    collect = np.zeros(warmup, dtype=bool)
    update = np.zeros(warmup, dtype=bool)
    if warmup < 20:
        return collect, update
    init, term, base = 75, 50, 25
    if init + term + base > warmup:
        init, term = int(0.15 * warmup), int(0.1 * warmup)
        base = warmup - init - term
    start, size, last = init, base, warmup - term
    while start < last:
        end = start + size
        if end + 2 * size > last:  # the next window would not fit before the terminal buffer
            end = last
        collect[start:end] = True
        update[end - 1] = True
        start, size = end, 2 * size
    return collect, update


class NutsState(NamedTuple):
    """One chain's state between iterations (all JAX arrays).

    ``iteration`` counts the iterations done (warmup first); ``search`` is 0
    outside a step-size search, 2 at its first probe, +-1 while doubling or
    halving; ``fresh`` is true until the gradient at the start is computed.
    """

    z: object
    pe: object
    grad: object
    key: object
    iteration: object
    fresh: object
    search: object
    probes: object
    step_size: object
    inv_mass: object
    mom_factor: object
    da: object  # (mu, s_bar, x_bar, t)
    w_count: object
    w_mean: object
    w_m2: object
    reg: object  # the initial inverse mass (diagonal): the scale the adapted metric is regularised towards


class _Edge(NamedTuple):
    z: object
    r: object
    g: object
    pe: object


class _Tree(NamedTuple):
    left: _Edge
    right: _Edge
    z_prop: object
    pe_prop: object
    g_prop: object
    energy_prop: object
    log_w: object
    r_sum: object
    n_steps: object
    sum_accept: object
    depth: object
    turning: object
    diverging: object
    last: _Edge


class NutsKernel:
    """NUTS transitions and Stan's warmup for ``value_and_grad(potential)(z, args)``.

    Parameters
    ----------
    value_and_grad : callable
        ``(z, args) -> (potential energy, gradient)`` on the flat vector ``z``.
    dim : int
    warmup : int
        Warmup iterations (the adaptation schedule depends on it).
    target_accept : float
    max_tree_depth : int
    dense_mass : bool
        Adapt a dense mass matrix instead of a diagonal one.
    record : callable, optional
        ``(z, args) -> dict of arrays`` stored per draw (default ``{"z": z}``).

    Examples
    --------
    >>> import jax
    >>> vg = jax.value_and_grad(lambda z, a: 0.5 * (z ** 2).sum())
    >>> NutsKernel(vg, dim=3, warmup=10, target_accept=0.8, max_tree_depth=5).dim
    3
    """

    def __init__(self, value_and_grad: Callable, dim: int, warmup: int, target_accept: float,
                 max_tree_depth: int, dense_mass: bool = False, record: Callable | None = None):
        self.vg = value_and_grad
        self.dim = int(dim)
        self.warmup = int(warmup)
        self.target_accept = float(target_accept)
        self.max_tree_depth = int(max_tree_depth)
        self.dense = bool(dense_mass)
        self.record = record or (lambda z, args: {"z": z})
        self.collect, self.update = adaptation_windows(self.warmup)

    # -- the metric ---------------------------------------------------------------------------
    def _velocity(self, inv_mass, r):
        return inv_mass @ r if self.dense else inv_mass * r

    def _kinetic(self, inv_mass, r):
        if self.dense:
            return 0.5 * r @ self._velocity(inv_mass, r)
        return 0.5 * jnp.sum(inv_mass * r * r)  # one fused pass (a dot is a call of its own on CPU)

    def _mom_factor(self, inv_mass):
        """``F`` with ``F @ normal`` (dense) or ``F * normal`` distributed as N(0, M)."""
        if not self.dense:
            return 1.0 / jnp.sqrt(inv_mass)
        L = jnp.linalg.cholesky(inv_mass)  # inv_mass = L L^T, so M = L^-T L^-1
        return solve_triangular(L.T, jnp.eye(self.dim, dtype=inv_mass.dtype), lower=False)

    def _momentum(self, key, factor, dtype):
        e = jax.random.normal(key, (self.dim,), dtype=dtype)
        return factor @ e if self.dense else factor * e

    # -- public -------------------------------------------------------------------------------
    def init(self, z0, inv_mass, key, step_size: float = 1.0) -> NutsState:
        """The state before the first iteration (NumPy in, NumPy out: nothing to compile).

        ``inv_mass`` is the initial diagonal of the inverse mass matrix.
        """
        z0 = np.asarray(z0, dtype=float)
        d = self.dim
        diag = np.broadcast_to(np.asarray(inv_mass, dtype=float), (d,)).copy()
        imm = np.diag(diag) if self.dense else diag
        if self.dense:
            L = np.linalg.cholesky(imm)
            factor = np.linalg.inv(L).T
        else:
            factor = 1.0 / np.sqrt(diag)
        return NutsState(
            z=z0, pe=np.float64(0.0), grad=np.zeros(d), key=np.asarray(key), iteration=np.int32(0),
            fresh=np.bool_(True), search=np.int32(2), probes=np.int32(0), step_size=np.float64(step_size),
            inv_mass=imm, mom_factor=factor,
            da=np.array([np.log(10.0 * step_size), 0.0, 0.0, 0.0]),
            w_count=np.float64(0.0), w_mean=np.zeros(d), w_m2=np.zeros((d, d) if self.dense else d),
            reg=diag)

    def buffers(self, draws: int, lead: tuple = (), args=None) -> dict:
        """Zero buffers ``(*lead, draws, ...)`` for the recorded values and statistics.

        ``args`` (arrays or their shapes) are those ``record`` is called with.
        """
        proto = jax.eval_shape(self._record, np.zeros(self.dim), args, *(np.float64(0.0),) * 4,
                               np.int32(0), np.int32(0), np.bool_(False))
        return {k: np.zeros(lead + (draws,) + v.shape, v.dtype) for k, v in proto.items()}

    def _record(self, z, args, pe, energy, accept, step, n_steps, depth, diverging):
        out = dict(self.record(z, args))
        out.update(potential_energy=pe, energy=energy, accept_prob=accept, step_size=step,
                   num_steps=n_steps, tree_depth=depth, diverging=diverging)
        return out

    # -- one trajectory ---------------------------------------------------------------------
    def _leapfrog(self, e: _Edge, eps, inv_mass, args) -> _Edge:
        r = e.r - 0.5 * eps * e.g
        z = e.z + eps * self._velocity(inv_mass, r)
        pe, g = self.vg(z, args)
        r = r - 0.5 * eps * g
        pe = jnp.where(jnp.isnan(pe), jnp.inf, pe)
        return _Edge(z, r, g, pe)

    def _turning(self, inv_mass, r_left, r_right, rho):
        # Betancourt (2017), A.4.2: the summed momenta less half of the two ends. With the
        # plain sum (Stan's criterion without its extra checks across merged subtrees) a
        # trajectory spanning about one period of a well-conditioned target is not seen to
        # turn, and it runs on to the maximum depth.

        rho = rho - 0.5 * (r_left + r_right)
        if self.dense:
            return ((self._velocity(inv_mass, r_left) @ rho <= 0)
                    | (self._velocity(inv_mass, r_right) @ rho <= 0))
        w = inv_mass * rho  # elementwise products and sums: one fused pass, no dot calls
        return (jnp.sum(r_left * w) <= 0) | (jnp.sum(r_right * w) <= 0)

    def _subtree(self, edge: _Edge, depth, eps, H0, key, inv_mass, args):
        """``2**depth`` leapfrog steps from ``edge``; returns the half-trajectory's summary."""
        D = self.max_tree_depth
        dtype = edge.z.dtype
        # checkpoints of the momenta and their running sums, written at even leaves; odd leaves
        # write row D, never read, so the update reads nothing and is made in place
        ckpt = jnp.zeros((D + 1, self.dim), dtype)
        size = jnp.left_shift(jnp.int32(1), depth)

        def ckpt_idxs(n):
            # idx_max: set bits of n above the lowest; idx_min: minus the trailing ones
            idx_max = lax.population_count(jnp.right_shift(n, 1))
            trailing = lax.population_count(jnp.bitwise_and(jnp.bitwise_not(n), n + 1) - 1)
            return idx_max - trailing + 1, idx_max

        def cond(c):
            return (c[0] < size) & ~c[9] & ~c[10]

        def body(c):
            n, e, z_p, pe_p, g_p, en_p, log_w, r_sum, acc, turning, diverging, rc, rsc, k = c
            k, ku = jax.random.split(k)
            e = self._leapfrog(e, eps, inv_mass, args)
            energy = e.pe + self._kinetic(inv_mass, e.r)
            energy = jnp.where(jnp.isnan(energy), jnp.inf, energy)
            delta = energy - H0
            diverging = delta > MAX_DELTA_H
            acc = acc + jnp.exp(jnp.minimum(0.0, -delta))
            log_w_new = -delta
            log_w_tot = jnp.logaddexp(log_w, log_w_new)
            take = jnp.log(jax.random.uniform(ku, dtype=dtype)) < log_w_new - log_w_tot
            z_p = jnp.where(take, e.z, z_p)
            g_p = jnp.where(take, e.g, g_p)
            pe_p = jnp.where(take, e.pe, pe_p)
            en_p = jnp.where(take, energy, en_p)
            r_sum = r_sum + e.r
            lo, hi = ckpt_idxs(n)
            even = jnp.bitwise_and(n, 1) == 0
            at = jnp.where(even, hi, D)
            rc = lax.dynamic_update_index_in_dim(rc, e.r, at, 0)
            rsc = lax.dynamic_update_index_in_dim(rsc, r_sum, at, 0)

            def check(ic):
                i, _ = ic
                rho = r_sum - rsc[i] + rc[i]
                return i - 1, self._turning(inv_mass, rc[i], e.r, rho)

            _, turn = lax.while_loop(lambda ic: (ic[0] >= lo) & ~ic[1], check, (hi, jnp.bool_(False)))
            turning = ~even & turn
            return (n + 1, e, z_p, pe_p, g_p, en_p, log_w_tot, r_sum, acc, turning, diverging, rc, rsc, k)

        zero = jnp.zeros((), dtype)
        c0 = (jnp.int32(0), edge, edge.z, edge.pe, edge.g, zero, jnp.array(-jnp.inf, dtype),
              jnp.zeros_like(edge.r), zero, jnp.bool_(False), jnp.bool_(False), ckpt, ckpt, key)
        return lax.while_loop(cond, body, c0)

    def _trajectory(self, z, pe, g, eps, max_depth, key, inv_mass, factor, args) -> _Tree:
        key, kr = jax.random.split(key)
        r = self._momentum(kr, factor, z.dtype)
        H0 = pe + self._kinetic(inv_mass, r)
        e0 = _Edge(z, r, g, pe)
        zero = jnp.zeros((), z.dtype)
        t0 = _Tree(e0, e0, z, pe, g, H0, zero, r, jnp.int32(0), zero, jnp.int32(0),
                   jnp.bool_(False), jnp.bool_(False), e0)

        def cond(c):
            t, _ = c
            return (t.depth < max_depth) & ~t.turning & ~t.diverging

        def body(c):
            t, k = c
            k, kd, ks, ka = jax.random.split(k, 4)
            right = jax.random.bernoulli(kd)
            edge = jax.tree_util.tree_map(lambda a, b: jnp.where(right, a, b), t.right, t.left)
            s = self._subtree(edge, t.depth, jnp.where(right, eps, -eps), H0, ks, inv_mass, args)
            n, e_new, z_p, pe_p, g_p, en_p, log_w, r_sum_sub, acc, sub_turn, div = s[:11]
            valid = ~sub_turn & ~div
            take = valid & (jnp.log(jax.random.uniform(ka, dtype=z.dtype)) < log_w - t.log_w)
            left = jax.tree_util.tree_map(lambda a, b: jnp.where(right, a, b), t.left, e_new)
            righte = jax.tree_util.tree_map(lambda a, b: jnp.where(right, a, b), e_new, t.right)
            r_sum = t.r_sum + r_sum_sub
            turning = sub_turn | (valid & self._turning(inv_mass, left.r, righte.r, r_sum))
            return _Tree(left, righte,
                         jnp.where(take, z_p, t.z_prop), jnp.where(take, pe_p, t.pe_prop),
                         jnp.where(take, g_p, t.g_prop), jnp.where(take, en_p, t.energy_prop),
                         jnp.logaddexp(t.log_w, log_w), r_sum, t.n_steps + n, t.sum_accept + acc,
                         t.depth + 1, turning, div, e_new), k

        t, _ = lax.while_loop(cond, body, (t0, key))
        return t

    # -- the chain ------------------------------------------------------------------------------
    def run(self, state: NutsState, bufs: dict, stop, args):
        """Iterate until ``state.iteration == stop``; draws after warmup go into ``bufs``."""
        W = self.warmup
        collect = jnp.asarray(self.collect) if W else jnp.zeros(1, bool)
        update = jnp.asarray(self.update) if W else jnp.zeros(1, bool)
        draws = jax.tree_util.tree_leaves(bufs)[0].shape[0]
        target = jnp.float64(self.target_accept)

        def body(c):
            st, b = c
            key, k_it = jax.random.split(st.key)
            regular = (st.search == 0) & ~st.fresh
            eps = jnp.where(st.fresh, 0.0, st.step_size)
            depth = jnp.where(regular, self.max_tree_depth, 1)
            t = self._trajectory(st.z, st.pe, st.grad, eps, depth, k_it, st.inv_mass, st.mom_factor, args)
            accept = t.sum_accept / jnp.maximum(t.n_steps, 1)
            i = st.iteration
            warm = i < W
            iw = jnp.clip(i, 0, max(W - 1, 0))

            # a new position: from a regular transition (a step-size probe, as in Stan, and
            # computing the first gradient leave the chain where it is)
            z = jnp.where(regular, t.z_prop, st.z)
            pe = jnp.where(st.fresh, t.last.pe, jnp.where(regular, t.pe_prop, st.pe))
            g = jnp.where(st.fresh, t.last.g, jnp.where(regular, t.g_prop, st.grad))

            # step-size search (Stan's init_stepsize): double or halve until the acceptance
            # statistic of a single step crosses 0.8
            probing = (st.search != 0) & ~st.fresh
            up = accept > 0.8
            first = st.search == 2
            direction = jnp.where(first, jnp.where(up, 1, -1), st.search)
            done = ~first & jnp.where(direction == 1, ~up, accept >= 0.8)
            done = done | (st.probes + 1 >= MAX_PROBES)
            eps_probe = jnp.where(first | done, st.step_size,
                                  st.step_size * jnp.where(direction == 1, 2.0, 0.5))
            done = done | (eps_probe > 1e7) | (eps_probe < 1e-10)
            eps_probe = jnp.clip(eps_probe, 1e-10, 1e7)
            search = jnp.where(st.fresh, 2, jnp.where(probing, jnp.where(done, 0, direction), st.search))
            probes = jnp.where(probing & ~done, st.probes + 1, 0)
            mu, s_bar, x_bar, da_t = st.da[0], st.da[1], st.da[2], st.da[3]
            restart = probing & done
            da_new = jnp.where(restart, jnp.stack([jnp.log(10.0 * eps_probe), 0.0, 0.0, 0.0]), st.da)

            # dual averaging (regular warmup iterations)
            tt = da_t + 1.0
            eta = 1.0 / (tt + DA_T0)
            s_new = (1.0 - eta) * s_bar + eta * (target - accept)
            x = mu - s_new * jnp.sqrt(tt) / DA_GAMMA
            xe = tt ** (-DA_KAPPA)
            xb = xe * x + (1.0 - xe) * x_bar
            adapt = regular & warm
            da_new = jnp.where(adapt, jnp.stack([mu, s_new, xb, tt]), da_new)
            eps_new = jnp.where(adapt, jnp.exp(x), jnp.where(probing, eps_probe, st.step_size))
            eps_new = jnp.where(adapt & (i == W - 1), jnp.exp(xb), eps_new)

            # mass matrix: Welford's running moments in the windows, Stan's regularisation
            take = adapt & collect[iw]
            cnt = st.w_count + jnp.where(take, 1.0, 0.0)
            dz = z - st.w_mean
            mean = jnp.where(take, st.w_mean + dz / jnp.maximum(cnt, 1.0), st.w_mean)
            dz2 = z - mean
            m2 = jnp.where(take, st.w_m2 + (jnp.outer(dz, dz2) if self.dense else dz * dz2), st.w_m2)
            upd = adapt & update[iw]
            cov = m2 / jnp.maximum(cnt - 1.0, 1.0)
            shrink = cnt / (cnt + 5.0)
            # Stan adds 1e-3 (5 / (n + 5)) to the variances; relative to the initial
            # guess of each coordinate's scale here, so that a coefficient of a
            # predictor in large units (posterior variance 1e-10) is not swamped
            if self.dense:
                new_imm = shrink * cov + 1e-3 * (5.0 / (cnt + 5.0)) * jnp.diag(st.reg)
            else:
                new_imm = shrink * cov + 1e-3 * (5.0 / (cnt + 5.0)) * st.reg
            inv_mass = jnp.where(upd, new_imm, st.inv_mass)
            factor = lax.cond(upd, self._mom_factor, lambda _: st.mom_factor, inv_mass)
            # dual averaging starts again from the current step size (see the module's notes)
            da_new = jnp.where(upd, jnp.stack([jnp.log(10.0 * eps_new), 0.0, 0.0, 0.0]), da_new)
            cnt = jnp.where(upd, 0.0, cnt)
            mean = jnp.where(upd, 0.0, mean)
            m2 = jnp.where(upd, 0.0, m2)

            # the draw
            j = jnp.clip(i - W, 0, draws - 1)
            write = regular & ~warm
            rec = self._record(z, args, pe, t.energy_prop, accept, st.step_size, t.n_steps, t.depth, t.diverging)
            b = jax.tree_util.tree_map(
                lambda B, v: lax.dynamic_update_index_in_dim(B, jnp.where(write, v, B[j]), j, 0), b, rec)
            st = NutsState(z, pe, g, key, i + jnp.where(regular, 1, 0).astype(i.dtype), jnp.bool_(False),
                           search.astype(st.search.dtype), probes.astype(st.probes.dtype), eps_new,
                           inv_mass, factor, da_new, cnt, mean, m2, st.reg)
            return st, b

        return lax.while_loop(lambda c: c[0].iteration < stop, body, (state, bufs))
