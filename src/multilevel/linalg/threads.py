"""How many BLAS threads the evaluations of a fit use.

numpy and scipy ship OpenBLAS with a thread pool as wide as the machine. On
small blocks (a few hundred rows) its threads cost more than they save, and
when another process keeps a core busy they wait on each other: InstEval's
1,200 x 1,200 Cholesky took 2-3 s a fit with two threads next to one busy
process on a 2-core machine, 1 s with one thread. So a fit runs its
evaluations on one BLAS thread, unless its dense block is large; then the
first evaluations are timed with one thread and with the default number, and
the rest use the faster (which also answers for the load of the moment).

``threadpoolctl`` (the scikit-learn project's library) finds and sets the
thread pools of the BLAS libraries loaded in the process.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

__all__ = ["blas_threads", "ThreadChoice", "SMALL_BLOCK"]

#: dense blocks up to this size are factorised on one thread
SMALL_BLOCK = 400

_controller = None


def _get_controller():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller


_SCOPE_LOCK = threading.Lock()
_scopes = {"depth": 0, "limiter": None}


@contextlib.contextmanager
def _one_thread():
    """BLAS on one thread while any such scope is open, in any thread: the
    limit is process-wide, so only the outermost scope sets it and only the
    last one to close restores it (overlapping scopes in two threads would
    otherwise restore each other's limit and leave one thread behind)."""
    with _SCOPE_LOCK:
        if _scopes["depth"] == 0:
            _scopes["limiter"] = _get_controller().limit(limits=1, user_api="blas")
        _scopes["depth"] += 1
    try:
        yield
    finally:
        with _SCOPE_LOCK:
            _scopes["depth"] -= 1
            if _scopes["depth"] == 0:
                _scopes["limiter"].restore_original_limits()
                _scopes["limiter"] = None


def blas_threads(n: int | None):
    """A context in which the BLAS libraries use at most ``n`` threads (None: as
    they are).

    Examples
    --------
    >>> import numpy as np
    >>> with blas_threads(1):
    ...     float(np.linalg.det(np.eye(3)))
    1.0
    """
    ctl = _get_controller()
    if n is None or not ctl:
        return contextlib.nullcontext()
    if int(n) == 1:
        return _one_thread()
    return ctl.limit(limits=int(n), user_api="blas")


def idle_cores() -> float:
    """Cores this process may use minus the one-minute load average (a lagging
    estimate of the cores no other process wants); ``inf`` where unknown.

    Examples
    --------
    >>> isinstance(idle_cores(), float)
    True
    """
    try:
        ncpu = len(os.sched_getaffinity(0))
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return float("inf")
    return float(ncpu - load)


class ThreadChoice:
    """Times a function's first calls on one BLAS thread and on the default
    number, then calls it with the faster.

    Parameters
    ----------
    fun : callable
        The evaluation to time, ``x -> value``.
    trials : int, default 3
        Timed calls per setting (after one untimed call).
    margin : float, default 1.25
        How much faster (the best time of each) the default number of threads
        must be to be chosen.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.eye(50) * 2.0
    >>> ch = ThreadChoice(lambda x: float(np.linalg.slogdet(A * x)[1]))
    >>> [round(ch(1.0), 3) for _ in range(8)][-1]
    34.657
    >>> ch.threads in (1, None)
    True
    """

    #: a call on one thread (chosen for the load) that takes this long looks at the load again
    RECHECK_SECONDS = 1.0

    def __init__(self, fun, trials: int = 3, margin: float = 1.25):
        self.fun = fun
        self.trials = trials
        self.margin = margin
        self.calls = 0
        self.times: dict = {None: [], 1: []}
        # this process counts in the load average: a second thread needs another idle core
        self.threads = "undecided" if idle_cores() >= 1.0 else 1
        # (chosen for the load of the moment: the one-minute average lags, so a long fit that
        # began next to a busy process looks again once the others are done)
        self.by_load = self.threads == 1

    def __call__(self, x):
        if self.threads != "undecided":
            t0 = time.perf_counter()
            with blas_threads(self.threads):
                value = self.fun(x)
            if self.by_load and time.perf_counter() - t0 > self.RECHECK_SECONDS and idle_cores() >= 1.0:
                self.by_load, self.threads, self.calls = False, "undecided", 1  # (warm already)
            return value
        self.calls += 1
        if self.calls == 1:  # warm-up: caches, first-touch allocations
            return self.fun(x)
        setting = None if self.calls <= 1 + self.trials else 1
        t0 = time.perf_counter()
        with blas_threads(setting):
            value = self.fun(x)
        self.times[setting].append(time.perf_counter() - t0)
        if self.calls == 1 + 2 * self.trials:
            self.threads = self.decide()
        return value

    def decide(self):
        """The setting the timings so far choose: None (the default threads) only
        where their best time beats one thread's by the margin."""
        return None if min(self.times[1]) > self.margin * min(self.times[None]) else 1
