"""Forest plots: each row's point and interval are the fit's (not pixels)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import multilevel as ml  # noqa: E402


def _rows(fig):
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    segments = [c.get_segments() for c in ax.collections]  # hlines: outer, then inner
    points = ax.lines[0].get_xdata()
    return labels, segments, points


def test_likelihood_fit_rows_are_the_fixed_effects_and_their_wald_intervals():
    fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    fig = ml.plots.forest(fit, level=0.9)
    labels, segments, points = _rows(fig)
    assert labels == list(fit.fixef.index) and len(segments) == 1
    np.testing.assert_allclose(points, fit.fixef.to_numpy())
    ci = fit.confint(method="wald", level=0.9, parm="beta_")
    np.testing.assert_allclose([[s[0][0], s[1][0]] for s in segments[0]], ci.to_numpy())
    profile = ml.plots.forest(fit, params="period", method="profile")
    labels, segments, _ = _rows(profile)
    assert labels == ["period2", "period3", "period4"]
    np.testing.assert_allclose([[s[0][0], s[1][0]] for s in segments[0]],
                               fit.confint(parm=labels).to_numpy(), rtol=1e-8)


def test_posterior_rows_are_medians_with_inner_and_outer_intervals():
    rng = np.random.default_rng(3)
    draws = {"b_x": rng.normal(1.0, 0.5, size=(2, 400)), "sigma": rng.gamma(4.0, 1.0, size=(2, 400))}
    fig = ml.plots.forest(draws, level=0.9, inner=0.5)
    labels, (outer, inner), points = _rows(fig)
    assert labels == ["b_x", "sigma"]
    for k, name in enumerate(labels):
        x = draws[name].ravel()
        assert points[k] == pytest.approx(np.median(x))
        np.testing.assert_allclose([outer[k][0][0], outer[k][1][0]], np.quantile(x, [0.05, 0.95]))
        np.testing.assert_allclose([inner[k][0][0], inner[k][1][0]], np.quantile(x, [0.25, 0.75]))


def test_bad_arguments():
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    with pytest.raises(ValueError, match="inner \\(0.95\\) must be below level"):
        ml.plots.forest({"b_x": np.zeros((2, 10))}, inner=0.95)
    with pytest.raises(ValueError, match="no fixed effect named or starting with 'day'"):
        ml.plots.forest(fit, params="day")
    with pytest.raises(ValueError, match="method must be 'wald' or 'profile'"):
        ml.plots.forest(fit, method="boot")
    with pytest.raises(TypeError, match="fit must be a Posterior"):
        ml.plots.forest([1, 2])
    assert ml.plots.forest(fit, level=0.5).axes  # inner is for posteriors only
    wine = ml.datasets.load("wine")
    with pytest.raises(ValueError, match="a clmm fit has Wald intervals only"):
        ml.plots.forest(ml.clmm("rating ~ temp + contact + (1 | judge)", wine), method="profile")
    with pytest.raises(ValueError, match="no fixed effects to draw"):
        ml.plots.forest(ml.clmm("rating ~ 1 + (1 | judge)", wine))
