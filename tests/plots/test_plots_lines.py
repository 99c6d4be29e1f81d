"""Group lines over the data and the pooling figure: lines and their values (not pixels)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")


import multilevel as ml  # noqa: E402


def test_group_lines_are_each_groups_coefficients_over_its_range(sleep_fit):
    fig = ml.plots.group_lines(sleep_fit, "Days")
    ax = fig.axes[0]
    assert len(ax.lines) == 18 and len(ax.collections) == 1  # lines and the data
    assert ax.get_xlabel() == "Days" and ax.get_ylabel() == "Reaction"
    b = sleep_fit.group_coefficients()
    x0, x1 = ax.lines[0].get_xdata()
    np.testing.assert_allclose(ax.lines[0].get_ydata(),
                               b["(Intercept)"].iloc[0] + b["Days"].iloc[0] * np.array([x0, x1]))


def test_group_lines_with_group_level_predictors_folded_in():
    lee = ml.datasets.load("leebryk")
    m = ml.lmer("math ~ 1 + mses + ses + ses:mses + (1 + ses | schoolid)", lee)
    fig = ml.plots.group_lines(m, "ses", points=False)
    assert len(fig.axes[0].lines) == 160 and not fig.axes[0].collections


def test_pooling_draws_complete_no_and_partial_pooling(sleep_fit):
    d = ml.datasets.load("sleepstudy")
    fig = ml.plots.pooling(sleep_fit, "Days", groups=["308", "309"])
    assert [a.get_title() for a in fig.axes if a.get_visible()] == ["308", "309"]
    ax = fig.axes[0]
    complete, none, partial = ax.lines
    x = complete.get_xdata()
    np.testing.assert_allclose(complete.get_ydata(), np.polyval(np.polyfit(d.Days, d.Reaction, 1), x))
    own = d[d.Subject == "308"]
    np.testing.assert_allclose(none.get_ydata(), np.polyval(np.polyfit(own.Days, own.Reaction, 1), x))
    b = sleep_fit.group_coefficients().loc["308"]
    np.testing.assert_allclose(partial.get_ydata(), b["(Intercept)"] + b["Days"] * x)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["complete pooling", "no pooling",
                                                                  "partial pooling"]
    default = ml.plots.pooling(sleep_fit, "Days")
    assert sum(a.get_visible() for a in default.axes) == 8


def test_no_pooling_keeps_one_slope_when_only_the_intercept_varies():
    # the GCSE notes' no-pooling lines: lm(course ~ 0 + school + female), one slope for all
    # schools; with a random slope each school's own regression (lmList) instead
    g = ml.datasets.load("gcsemv")
    g["femaleF"] = (g["female"] == "F").astype(float).where(g["female"].notna())
    m2 = ml.lmer("course ~ 1 + femaleF + (1 | school)", g, reml=False)
    fig = ml.plots.pooling(m2, "femaleF", groups=["65385", "68137"])
    d = g.dropna(subset=["course", "femaleF"])
    dummies = (d["school"].astype(str).to_numpy()[:, None] == np.array(sorted(set(d["school"].astype(str))))
               ).astype(float)
    names = sorted(set(d["school"].astype(str)))
    coef = np.linalg.lstsq(np.column_stack([dummies, d["femaleF"]]), d["course"], rcond=None)[0]
    for ax, school in zip(fig.axes, ["65385", "68137"]):
        none = ax.lines[1]
        assert none.get_label() == "no pooling"
        a = coef[names.index(school)]
        np.testing.assert_allclose(none.get_ydata(), a + coef[-1] * none.get_xdata(), rtol=1e-10)


def test_pooling_lines_weigh_the_rows_as_the_fit_does():
    d = ml.datasets.load("sleepstudy")
    d["w"] = 1.0 + (d["Days"] % 3)
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", d, weights="w")
    fig = ml.plots.pooling(fit, "Days", groups=["308"])
    complete, none, _ = fig.axes[0].lines
    x = complete.get_xdata()
    sw = np.sqrt(d["w"])
    np.testing.assert_allclose(complete.get_ydata(), np.polyval(np.polyfit(d.Days, d.Reaction, 1, w=sw), x))
    # lm(Reaction ~ 0 + Subject + Days, weights = w): one slope, each subject's intercept
    subjects = sorted(set(d["Subject"].astype(str)))
    X = np.column_stack([(d["Subject"].astype(str).to_numpy()[:, None] == np.array(subjects)).astype(float),
                         d["Days"]])
    coef = np.linalg.lstsq(X * sw.to_numpy()[:, None], d["Reaction"] * sw, rcond=None)[0]
    np.testing.assert_allclose(none.get_ydata(), coef[subjects.index("308")] + coef[-1] * x, rtol=1e-10)


def test_refusals(sleep_fit):
    with pytest.raises(ValueError, match="'Subject' is not a level-1 predictor"):
        ml.plots.group_lines(sleep_fit, "Subject")
    with pytest.raises(ValueError, match="groups: no level '999'"):
        ml.plots.pooling(sleep_fit, "Days", groups=["999"])
    m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    with pytest.raises(TypeError, match="linear \\(lmer\\) fit"):
        ml.plots.pooling(m, "period2")
    with pytest.raises(TypeError, match="lmer or glmer fit"):
        ml.plots.group_lines("fit", "x")
