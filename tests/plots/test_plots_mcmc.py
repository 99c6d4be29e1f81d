"""Trace and density plots: panels, lines, colours and labels (not pixels)."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import multilevel.plots as mlplots  # noqa: E402
from multilevel.plots import mcmc  # noqa: E402


@pytest.fixture
def draws() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(8)
    return {
        "b_Intercept": 2 + rng.normal(size=(3, 150)),
        "b_x": rng.normal(size=(3, 150)),
        "sd_g__Intercept": rng.gamma(4.0, size=(3, 150)),
        "sigma": rng.gamma(9.0, size=(3, 150)),
    }


def _visible(fig):
    return [a for a in fig.axes if a.get_visible()]


def test_trace_one_panel_per_parameter_one_line_per_chain(draws):
    fig = mcmc.trace(draws)
    axes = _visible(fig)
    assert [a.get_title() for a in axes] == list(draws)
    for a, (name, x) in zip(axes, draws.items()):
        assert len(a.lines) == 3
        assert a.get_xlabel() == "Iteration"
        assert a.get_ylabel() == name
        for c, line in enumerate(a.lines):
            np.testing.assert_array_equal(line.get_ydata(), x[c])
            np.testing.assert_array_equal(line.get_xdata(), np.arange(1, 151))
            assert mcolors.same_color(line.get_color(), f"C{c}")
    legend = axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["chain 1", "chain 2", "chain 3"]


def test_density_per_chain_and_pooled(draws):
    fig = mcmc.density(draws, params=["sigma", "b_x"])
    axes = _visible(fig)
    assert [a.get_title() for a in axes] == ["sigma", "b_x"]
    for a in axes:
        assert a.get_ylabel() == "Density"
        assert len(a.lines) == 3
        assert [mcolors.to_hex(line.get_color()) for line in a.lines] == [
            mcolors.to_hex(f"C{c}") for c in range(3)]
        for line in a.lines:
            x, y = line.get_xdata(), line.get_ydata()
            assert np.all(y >= 0)
            assert np.trapezoid(y, x) == pytest.approx(1.0, abs=0.01)
    pooled = _visible(mcmc.density(draws, params="sigma", pooled=True))
    assert len(pooled) == 1 and len(pooled[0].lines) == 1
    x, y = pooled[0].lines[0].get_xdata(), pooled[0].lines[0].get_ydata()
    assert x.min() < draws["sigma"].min() and x.max() > draws["sigma"].max()


def test_density_is_centred_on_the_draws():
    x = np.random.default_rng(1).normal(5.0, 0.5, size=(2, 4000))
    line = _visible(mcmc.density({"mu": x}))[0].lines[0]
    peak = line.get_xdata()[np.argmax(line.get_ydata())]
    assert peak == pytest.approx(5.0, abs=0.1)
    assert line.get_ydata().max() == pytest.approx(1 / (0.5 * np.sqrt(2 * np.pi)), rel=0.1)


def test_params_by_prefix_element_and_posterior_object(draws):
    titles = [a.get_title() for a in _visible(mcmc.trace(draws, params="b_"))]
    assert titles == ["b_Intercept", "b_x"]
    assert [a.get_title() for a in _visible(mcmc.trace(draws, params=["sd_", "sigma"]))] == [
        "sd_g__Intercept", "sigma"]
    post = SimpleNamespace(draws=draws)
    assert len(_visible(mcmc.density(post, params="sigma"))) == 1
    arrays = {"b": np.zeros((2, 20, 3)) + np.arange(3), "tau": np.ones((2, 20))}
    assert [a.get_title() for a in _visible(mcmc.trace(arrays))] == ["b[1]", "b[2]", "b[3]", "tau"]
    assert [a.get_title() for a in _visible(mcmc.trace(arrays, params="b[2]"))] == ["b[2]"]


def test_unknown_parameter_lists_the_available_ones(draws):
    listed = r"'beta'.*available: b_Intercept, b_x, sd_g__Intercept, sigma"
    with pytest.raises(ValueError, match=listed):
        mcmc.trace(draws, params=["sigma", "beta"])
    with pytest.raises(ValueError, match="available"):
        mcmc.density(draws, params="nu")
    with pytest.raises(TypeError, match="draws"):
        mcmc.trace(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="shape"):
        mcmc.trace({"a": np.zeros(10)})


def test_draws_on_given_axes(draws):
    fig, axes = plt.subplots(1, 2)
    out = mcmc.trace(draws, params=["b_x", "sigma"], ax=axes)
    assert out is fig
    assert [a.get_title() for a in axes] == ["b_x", "sigma"]
    fig1, ax1 = plt.subplots()
    assert mcmc.density(draws, params="sigma", ax=ax1) is fig1
    assert len(ax1.lines) == 3
    with pytest.raises(ValueError, match="axes"):
        mcmc.trace(draws, ax=ax1)


def test_grid_hides_spare_panels():
    rng = np.random.default_rng(2)
    fig = mcmc.trace({f"p{i}": rng.normal(size=(2, 30)) for i in range(5)})
    assert len(fig.axes) == 6 and len(_visible(fig)) == 5


def test_registered_in_the_plots_package():
    assert mlplots.trace is mcmc.trace
    assert mlplots.density is mcmc.density
    assert {"trace", "density"} <= set(mlplots.__all__)


def test_module_import_does_not_import_matplotlib():
    code = ("import sys, multilevel.plots, multilevel.plots.mcmc; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
