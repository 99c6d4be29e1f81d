"""Item characteristic curves and caterpillar plots: lines, segments and labels (not pixels)."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib.pyplot as plt  # noqa: E402

import multilevel as ml  # noqa: E402
import multilevel.plots as mlplots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def rasch_fit():
    d = ml.datasets.load("rasch5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.glmer("y ~ 0 + item + (1 | person)", d[d["person"] <= 300])


@pytest.fixture(scope="module")
def cbpp_fit():
    return ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))


def test_registered_and_lazy():
    assert {"item_curves", "caterpillar"} <= set(mlplots.__all__) <= set(dir(mlplots))
    code = "import multilevel, sys; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_item_curves_one_line_per_item(rasch_fit):
    ax = ml.plots.item_curves(rasch_fit)
    lines = ax.get_lines()
    assert len(lines) == 5
    assert ax.get_xlabel() == "ability" and ax.get_ylabel() == "P(y = 1 | ability)"
    assert ax.get_title() == "5 item characteristic curves: Rasch"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    b = ml.irt.rasch(rasch_fit).items["difficulty"]
    assert labels == [f"{k} (b = {v:.2f})" for k, v in b.items()]
    curves = ml.irt.item_curves(rasch_fit)
    np.testing.assert_allclose(lines[2].get_ydata(), curves["c"])
    np.testing.assert_allclose(lines[2].get_xdata(), curves.index)


def test_item_curves_on_given_axes_with_a_grid(rasch_fit):
    fig, ax = plt.subplots()
    out = ml.plots.item_curves(rasch_fit, ax=ax, theta_grid=np.linspace(-3, 3, 7))
    assert out is ax and len(ax.get_lines()[0].get_xdata()) == 7


def test_item_curves_refuses_other_models(cbpp_fit):
    with pytest.raises(ValueError, match=r"y ~ 0 \+ item \+ \(1 \| person\)"):
        ml.plots.item_curves(cbpp_fit)


def test_caterpillar_glmm(cbpp_fit):
    fig = ml.plots.caterpillar(cbpp_fit)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and ax.get_ylabel() == "herd" and ax.get_title() == "(Intercept)"
    segs = ax.collections[0].get_segments()
    assert len(segs) == 15
    modes = cbpp_fit.ranef["herd"]["(Intercept)"].sort_values(kind="stable")
    sd = np.sqrt(cbpp_fit.ranef_var["herd"]["(Intercept)"][modes.index])
    lo = np.array([s[0][0] for s in segs])
    hi = np.array([s[1][0] for s in segs])
    np.testing.assert_allclose(lo, modes - 1.959964 * sd, rtol=1e-5)
    np.testing.assert_allclose(hi, modes + 1.959964 * sd, rtol=1e-5)
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(v) for v in modes.index]
    points = [ln for ln in ax.get_lines() if ln.get_marker() == "o"]
    assert len(points) == 1 and len(points[0].get_xdata()) == 15


def test_caterpillar_lmm_one_panel_per_effect(sleepstudy):
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    fig = ml.plots.caterpillar(fit, level=0.5)
    assert [a.get_title() for a in fig.axes] == ["(Intercept)", "Days"]
    assert all(len(a.collections[0].get_segments()) == 18 for a in fig.axes)
    seg = fig.axes[1].collections[0].get_segments()[0]
    assert seg[1][0] - seg[0][0] > 0
    with pytest.raises(ValueError, match="no grouping factor 'school'"):
        ml.plots.caterpillar(fit, group="school")


def test_caterpillar_many_levels_skip_labels(rasch_fit):
    fig = ml.plots.caterpillar(rasch_fit, group="person")
    ax = fig.axes[0]
    assert len(ax.collections[0].get_segments()) == 300
    assert len(ax.get_yticks()) < 50
