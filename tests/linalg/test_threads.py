"""BLAS thread scoping of the fits."""

from __future__ import annotations

import numpy as np
import pytest

from multilevel.linalg import threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads_now() -> list[int]:
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def test_blas_threads_limits_inside_and_restores_after():
    np.linalg.cholesky(np.eye(3))  # make sure numpy's BLAS is loaded
    before = _blas_threads_now()
    with threads.blas_threads(1):
        assert all(n == 1 for n in _blas_threads_now())
    assert _blas_threads_now() == before
    with threads.blas_threads(None):
        assert _blas_threads_now() == before


def test_thread_choice_returns_the_function_values_and_decides(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 8.0)
    calls = []
    ch = threads.ThreadChoice(lambda x: calls.append(x) or x * 2.0, trials=2)
    out = [ch(float(i)) for i in range(10)]
    assert out == [2.0 * i for i in range(10)] and calls == [float(i) for i in range(10)]
    assert ch.threads in (1, None)
    assert len(ch.times[1]) == 2 and len(ch.times[None]) == 2


def test_thread_choice_prefers_one_thread_unless_clearly_faster(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 8.0)
    ch = threads.ThreadChoice(lambda x: x, trials=1, margin=1.25)
    ch.times = {None: [0.9, 1.2], 1: [1.0, 1.1]}  # threads 10% faster: not enough
    assert ch.decide() == 1
    ch.times = {None: [0.5, 0.7], 1: [1.0, 0.9]}
    assert ch.decide() is None


def test_no_trials_without_an_idle_core(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 0.3)
    ch = threads.ThreadChoice(lambda x: x)
    assert ch.threads == 1
    assert ch(3.0) == 3.0 and ch.times == {None: [], 1: []}


def test_a_long_fit_begun_next_to_busy_processes_looks_at_the_load_again(monkeypatch):
    """One thread chosen for the load of the start; once the others are done (a call longer than
    RECHECK_SECONDS with an idle core), the settings are timed as for a quiet start."""
    load = {"idle": 0.2}
    monkeypatch.setattr(threads, "idle_cores", lambda: load["idle"])
    monkeypatch.setattr(threads.ThreadChoice, "RECHECK_SECONDS", 0.0)
    ch = threads.ThreadChoice(lambda x: x, trials=2)
    assert ch.threads == 1 and ch.by_load
    [ch(1.0) for _ in range(3)]
    assert ch.threads == 1 and not ch.times[None]  # still busy
    load["idle"] = 1.5
    ch(1.0)
    assert ch.threads == "undecided" and not ch.by_load
    [ch(1.0) for _ in range(4)]
    assert ch.threads in (1, None) and len(ch.times[None]) == 2 and len(ch.times[1]) == 2


def test_overlapping_scopes_restore_the_pool_once_all_close():
    np.linalg.cholesky(np.eye(3))
    before = _blas_threads_now()
    a, b = threads.blas_threads(1), threads.blas_threads(1)
    a.__enter__()
    b.__enter__()
    a.__exit__(None, None, None)  # closed out of order, as two threads' fits may
    assert all(n == 1 for n in _blas_threads_now())
    b.__exit__(None, None, None)
    assert _blas_threads_now() == before
