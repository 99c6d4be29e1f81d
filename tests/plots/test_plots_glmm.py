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


def test_caterpillar_many_levels_label_every_few_levels_with_their_own_ids(rasch_fit):
    fig = ml.plots.caterpillar(rasch_fit, group="person")
    ax = fig.axes[0]
    assert len(ax.collections[0].get_segments()) == 300
    ticks = ax.get_yticks()
    assert 20 <= len(ticks) <= 40 and ax.get_ylabel() == "person (1 level in 8 labelled)"
    modes = rasch_fit.ranef["person"].iloc[:, 0].sort_values(kind="stable")
    # each label is the id of the level drawn at that position, not its rank
    assert [t.get_text() for t in ax.get_yticklabels()] == [str(v) for v in modes.index[ticks.astype(int)]]
    points = [ln for ln in ax.get_lines() if ln.get_marker() == "o"][0]
    np.testing.assert_allclose(points.get_xdata()[ticks.astype(int)], modes.iloc[ticks.astype(int)])


@pytest.fixture(scope="module")
def sleep_posterior():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.bayes("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), chains=2, draws=300,
                        warmup=300, seed=3, progress=False)


def test_caterpillar_of_a_posterior_draws_credible_intervals(sleep_posterior):
    fig = ml.plots.caterpillar(sleep_posterior, level=0.8)
    assert [a.get_title() for a in fig.axes] == ["Intercept", "Days"]
    assert fig.axes[0].get_xlabel() == "posterior mean" and fig.axes[0].get_ylabel() == "Subject"
    draws = np.asarray(sleep_posterior.ranef_draws["Subject"], dtype=float)  # (chains, draws, 18, 2)
    flat = draws.reshape(-1, 18, 2)
    mean = flat[:, :, 0].mean(axis=0)
    order = np.argsort(mean, kind="stable")
    segs = fig.axes[1].collections[0].get_segments()
    lo = np.array([s[0][0] for s in segs])
    hi = np.array([s[1][0] for s in segs])
    np.testing.assert_allclose(lo, np.quantile(flat[:, order, 1], 0.1, axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hi, np.quantile(flat[:, order, 1], 0.9, axis=0), rtol=1e-5, atol=1e-6)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == [str(v) for v in sleep_posterior.ranef()["Subject"].index[order]]


def test_caterpillar_refuses_what_is_not_a_fit():
    with pytest.raises(TypeError, match="lmer or glmer fit or a Posterior"):
        ml.plots.caterpillar({"a": 1})


def test_item_curves_of_a_posterior_at_its_posterior_mean_difficulties(rasch_fit):
    d = ml.datasets.load("rasch5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ml.bayes("y ~ 0 + item + (1 | person)", d[d["person"] <= 300], family="binomial",
                        chains=2, draws=300, warmup=300, seed=5, progress=False)
    r = ml.irt.rasch(post)
    gamma = np.stack([np.asarray(post.draws[f"b_item{c}"]).ravel() for c in "abcde"], axis=1)
    np.testing.assert_allclose(r.items["difficulty"], -gamma.mean(axis=0))
    np.testing.assert_allclose(r.items["se"], gamma.std(axis=0, ddof=1))
    assert r.persons.shape == (300, 2) and r.link == "logit"
    # the same model by Laplace: difficulties agree within a posterior SD
    ref = ml.irt.rasch(rasch_fit)
    assert np.all(np.abs(r.items["difficulty"] - ref.items["difficulty"]) < r.items["se"])
    ax = ml.plots.item_curves(post)
    assert len(ax.get_lines()) == 5 and ax.get_xlabel() == "ability"
    b = r.items["difficulty"]["c"]
    line = ax.get_lines()[2]
    x, yv = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(yv, 1 / (1 + np.exp(-(x - b))))
