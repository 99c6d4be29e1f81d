"""QQ, residual and shrinkage figures: the values drawn (not pixels)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from scipy import stats  # noqa: E402

import multilevel as ml  # noqa: E402


def test_qq_plots_sorted_modes_against_rs_ppoints(sleep_fit):
    fig = ml.plots.qq(sleep_fit)
    pts, line = fig.axes[1].lines
    modes = np.sort(sleep_fit.ranef["Subject"]["Days"].to_numpy())
    np.testing.assert_allclose(pts.get_ydata(), modes)
    np.testing.assert_allclose(pts.get_xdata(), stats.norm.ppf((np.arange(1, 19) - 0.5) / 18))
    # qqline: through the quartiles
    q1, q3 = np.quantile(modes, [0.25, 0.75])
    z1, z3 = stats.norm.ppf([0.25, 0.75])
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(y, q1 + (q3 - q1) / (z3 - z1) * (x - z1))
    assert fig.axes[0].get_ylabel() == "Subject: conditional mode"


def test_qq_of_a_posterior():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
                        chains=2, draws=200, warmup=200, seed=2, progress=False)
    fig = ml.plots.qq(post)
    assert fig.axes[0].get_ylabel() == "Subject: posterior mean"
    means = np.sort(np.asarray(post.ranef_draws["Subject"], dtype=float).mean(axis=(0, 1))[:, 0])
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), means, rtol=1e-5)


def test_residual_panels(sleep_fit):
    fig = ml.plots.residuals(sleep_fit)
    a1, a2 = fig.axes
    assert len(a1.collections[0].get_offsets()) == 180
    np.testing.assert_allclose(a1.collections[0].get_offsets()[:, 1], sleep_fit.residuals().to_numpy())
    assert len(a2.get_xticks()) == 18 and a2.get_xlabel() == "Subject"
    m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    assert ml.plots.residuals(m).axes[0].get_ylabel() == "pearson residuals"


def test_residuals_with_many_groups_draw_quartiles():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(80), 5)
    d = pd.DataFrame({"y": rng.normal(size=400) + rng.normal(size=80)[g], "g": g.astype(str)})
    fig = ml.plots.residuals(ml.lmer("y ~ 1 + (1 | g)", d))
    assert len(fig.axes[1].collections[0].get_segments()) == 80


def test_shrinkage_against_each_groups_own_least_squares(sleep_fit):
    d = ml.datasets.load("sleepstudy")
    fig = ml.plots.shrinkage(sleep_fit)
    assert [a.get_title() for a in fig.axes] == ["(Intercept)", "Days"]
    xy = fig.axes[1].collections[0].get_offsets()
    levels = sleep_fit.coef["Subject"].index
    own = np.array([np.polyfit(d.Days[d.Subject == s], d.Reaction[d.Subject == s], 1)[0] for s in levels])
    np.testing.assert_allclose(xy[:, 0], own, rtol=1e-8)
    np.testing.assert_allclose(xy[:, 1], sleep_fit.coef["Subject"]["Days"], rtol=1e-12)
    # partial pooling: the mixed slopes spread less than the groups' own
    assert np.std(xy[:, 1]) < np.std(xy[:, 0])


def test_refusals(sleep_fit):
    m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    with pytest.raises(TypeError, match="linear \\(lmer\\) fit"):
        ml.plots.shrinkage(m)
    with pytest.raises(ValueError, match="no grouping factor 'school'"):
        ml.plots.residuals(sleep_fit, group="school")
    with pytest.raises(TypeError, match="lmer or glmer fit"):
        ml.plots.qq([1, 2])


def test_posterior_predictive_check_overlays_replications_on_the_data():
    from multilevel.plots.mcmc import _kde

    d = ml.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ml.bayes("Reaction ~ Days + (1 | Subject)", d, chains=2, draws=200, warmup=200,
                        seed=2, progress=False)
    fig = ml.plots.ppc(post, ndraws=15, seed=4)
    ax = fig.axes[0]
    assert len(ax.lines) == 16 and ax.get_xlabel() == "Reaction"
    gx, gy = _kde(d["Reaction"].to_numpy(dtype=float))
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), gy)
    reps = post.posterior_predictive(ndraws=15, seed=4)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), _kde(reps[0])[1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["y", "y_rep"]
    with pytest.raises(TypeError, match="ppc takes a Posterior"):
        ml.plots.ppc(ml.lmer("Reaction ~ Days + (1 | Subject)", d))
    with pytest.raises(ValueError, match="ndraws must be a positive whole number"):
        ml.plots.ppc(post, ndraws=0)
