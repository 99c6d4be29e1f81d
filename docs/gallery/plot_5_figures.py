"""
Every figure, once
==================

Each function of ``ml.plots`` drawn once on the bundled data (the caterpillar
and the forest plot twice: of a likelihood fit and of a posterior): the random
effects (caterpillar, QQ), the fit's checks (residuals, shrinkage), the lines
per group (group lines, pooling), effects and marginal means, the MCMC figures
(trace, rank, density, posterior predictive check) and item characteristic
curves. Each returns a matplotlib Figure (``item_curves`` an Axes) to save or
adjust.
"""

# %%
import os
import warnings

import multilevel as ml

DRAWS = int(os.environ.get("MULTILEVEL_DOCS_DRAWS", 1000))
lee = ml.datasets.load("leebryk")
fit = ml.lmer("math ~ 1 + mses + sector + ses + ses:sector + (1 + ses | schoolid)", lee)

# %%
# Random effects: sorted with 95% intervals (above 60 levels every few are labelled),
# and their normal QQ plot.
fig = ml.plots.caterpillar(fit)
fig = ml.plots.qq(fit)

# %%
# Residuals against fitted values, overall and by school; shrinkage of each
# school's own least-squares line towards the mixed model's.
fig = ml.plots.residuals(fit)
fig = ml.plots.shrinkage(fit)

# %%
# Each school's line over its data, and complete / no / partial pooling for eight schools.
fig = ml.plots.group_lines(fit, "ses")
fig = ml.plots.pooling(fit, "ses")

# %%
# The fixed effects with their 95% Wald intervals (``method="profile"`` for profile ones).
fig = ml.plots.forest(fit, params=["mses", "sector", "ses"])

# %%
# The fitted effect of SES by sector with its 95% band, and marginal means.
fig = ml.plots.effects(fit, "ses", by="sector")
exam = ml.datasets.load("exam")
means = ml.emmeans(ml.lmer("normexam ~ standLRT + sex + schgend + (1 | school)", exam), "schgend")
fig = ml.plots.emm(means)

# %%
# A Bayesian fit: trace and rank plots per chain, medians with 50% and 95%
# intervals (forest), posterior densities, and the posterior predictive check.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ml.bayes.SamplerWarning)
    post = ml.bayes("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"),
                    chains=4, draws=DRAWS, warmup=DRAWS, seed=1, progress=False)
fig = ml.plots.trace(post)
fig = ml.plots.rank(post)
fig = ml.plots.forest(post, params=["b_Days", "sd_", "sigma"])
fig = ml.plots.density(post, "b_")
fig = ml.plots.ppc(post)
fig = ml.plots.caterpillar(post)

# %%
# Item characteristic curves of a Rasch model (five items).
items = ml.datasets.load("rasch5")
rasch = ml.glmer("y ~ 0 + item + (1 | person)", items[items.person.astype(int) <= 500])
ax = ml.plots.item_curves(rasch)
