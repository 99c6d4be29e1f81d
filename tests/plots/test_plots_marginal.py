"""Effect plots and plots of marginal-means tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

import multilevel as ml


@pytest.fixture(scope="module")
def anorexia():
    return ml.lmer("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))


def test_effect_lines_follow_the_effect_table(anorexia):
    fig = ml.plots.effects(anorexia, "time", by="treatment", n=10)
    ax = fig.axes[0]
    table = ml.effects(anorexia, "time", by="treatment", n=10)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "treatment = CBT", "treatment = Cont", "treatment = FT"]
    cbt = table[table["treatment"] == "CBT"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), cbt["emmean"])
    np.testing.assert_allclose(ax.lines[0].get_xdata(), cbt["time"])
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "emmean"
    assert fig.get_size_inches()[0] > 4


def test_factor_means_as_points_with_error_bars_in_panels():
    fit = ml.lmer("normexam ~ standLRT + sex + schgend + (1 | school)", ml.datasets.load("exam"))
    table = ml.emmeans(fit, "schgend", by="sex")
    fig = ml.plots.emm(table, panel="sex", labels={("sex", "F"): "girls", ("sex", "M"): "boys"})
    assert [a.get_title() for a in fig.axes] == ["girls", "boys"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["mixed", "boys", "girls"]


def test_response_scale_of_a_glmer():
    g = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                 family="binomial")
    fig = ml.plots.emm(ml.emmeans(g, "period", type="response"))
    assert fig.axes[0].get_ylabel() == "prob"


def test_bad_arguments(anorexia):
    with pytest.raises(ValueError, match="'age' is not a predictor of the fixed part"):
        ml.plots.effects(anorexia, "age")
    with pytest.raises(ValueError, match="'sex' is not a variable of the table"):
        ml.plots.emm(ml.emmeans(anorexia, "treatment"), by="sex")
    with pytest.raises(TypeError, match="emm draws a table"):
        ml.plots.emm([1, 2])
    with pytest.raises(ValueError, match="n must be a whole number of grid points"):
        ml.effects(anorexia, "time", n=1)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="3 panels to draw but 1 axes given"):
        ml.plots.effects(anorexia, "time", panel="treatment", ax=ax)


def test_rank_plot_counts_each_chains_ranks():
    rng = np.random.default_rng(3)
    good = {"b": rng.normal(size=(3, 300))}
    stuck = {"b": rng.normal(size=(3, 300)) + np.array([[0.0], [0.0], [3.0]])}
    fig = ml.plots.rank(good, bins=10)
    lines = fig.axes[0].lines[:3]
    assert all(abs(np.mean(l.get_ydata()[:-1]) - 30) < 1e-9 for l in lines)   # 300 draws / 10 bins
    assert fig.axes[0].get_title() == "b"
    bad = ml.plots.rank(stuck, bins=10).axes[0].lines[2].get_ydata()[:-1]
    assert bad[-1] > 80 and bad[0] == 0   # the third chain holds the top ranks (90 a bin at most)
    with pytest.raises(ValueError, match="bins must be a whole number"):
        ml.plots.rank(good, bins=1)
