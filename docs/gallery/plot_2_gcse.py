"""
GCSE coursework: lme4, then rstanarm
====================================

The second document (``001_8005d5ad520a05cf.txt``) fits the coursework scores of
1,725 students in 73 schools (the ``Gcsemv`` data of mlmRev, bundled here as
``gcsemv``) with three models by maximum likelihood, as lme4's ``lmer(REML =
FALSE)``: a random intercept (M1), plus gender (M2), and a random slope of
gender correlated with the intercept (M3). It shows the schools' BLUPs and the
shrinkage factor, and draws complete-, no- and partial-pooling lines for eight
schools; then it fits the same models by full Bayes with rstanarm's defaults.
The Bayesian part imports the models from ``examples/`` and so runs from a
checkout of the repository.
"""

# %%
import os
import sys
import warnings
from pathlib import Path

import numpy as np

import multilevel as ml

DRAWS = int(os.environ.get("MULTILEVEL_DOCS_DRAWS", 1000))
gcse = ml.datasets.load("gcsemv")   # 1,905 students; 180 without a coursework score are dropped
print(gcse.head())
print(gcse.isna().sum())            # the notes' summary: 202 NA's in written, 180 in course

# %%
# M1: a random intercept
# ----------------------
# The notes print AIC 14111.4, the school SD 8.674, the residual SD 13.812 and
# the intercept 73.72 (SE 1.11). ``ddf=None`` prints lme4's own table.
m1 = ml.lmer("course ~ 1 + (1 | school)", gcse, reml=False)
print(m1.summary(ddf=None))

# %%
# M2: plus gender
# ---------------
# The notes: intercept 69.730, femaleF 6.739 (SE 0.678), school SD 8.755,
# residual SD 13.415.
m2 = ml.lmer("course ~ 1 + female + (1 | school)", gcse, reml=False)
print(m2.summary(ddf=None))

# %%
# The schools' BLUPs (empirical Bayes predictions), as ``head(ranef(M2)$school)``
# (the notes: -10.170, -17.058, 7.801, 0.487, -8.194, 4.430), and the shrinkage
# factor ``R_j = sigma_a^2 / (sigma_a^2 + sigma_y^2 / n_j)`` of each school.
print(m2.ranef["school"].head(6))
print(m2.shrinkage().head(6))

# %%
# Complete, no and partial pooling for the notes' eight schools: the pooled
# regression line (``lm(course ~ female)``), each school's own intercept with the
# common slope (``lm(course ~ 0 + school + female)``), and the mixed model's lines
# in between. As the notes do (``x <- as.numeric(female) - 1``),
# gender is drawn as a 0/1 number; the fit with it is M2 again.
schools = ["65385", "68207", "60729", "67051", "50631", "60427", "64321", "68137"]
gcse["femaleF"] = (gcse["female"] == "F").astype(float).where(gcse["female"].notna())
m2_01 = ml.lmer("course ~ 1 + femaleF + (1 | school)", gcse, reml=False)
assert np.allclose(m2_01.fixef.to_numpy(), m2.fixef.to_numpy())
fig = ml.plots.pooling(m2_01, "femaleF", groups=schools)

# %%
# M3: a random slope of gender, correlated with the intercept
# -----------------------------------------------------------
# The notes: AIC 13983.4, intercept 69.425 (SE 1.352), femaleF 7.128 (SE 1.131),
# SDs 10.146 and 6.924 with correlation -0.52, residual SD 13.030.
m3 = ml.lmer("course ~ 1 + female + (1 + female | school)", gcse, reml=False)
print(m3.summary(ddf=None))
fig = ml.plots.pooling(ml.lmer("course ~ 1 + femaleF + (1 + femaleF | school)", gcse, reml=False),
                       "femaleF", groups=schools)
fig = ml.plots.caterpillar(m3)

# %%
# The same models by full Bayes
# -----------------------------
# rstanarm's ``stan_lmer`` with its default priors (autoscaled normal priors on
# the coefficients, an exponential prior on sigma; ``post.prior_summary()``), by
# the exact collapsed sampler; each posterior prints as brms prints a fit, next
# to the ML estimates, and M1's intraclass correlation follows.
# examples/ beside docs/ (sphinx-gallery runs a page from docs/gallery, without __file__)
sys.path.insert(0, str(Path(globals().get("__file__", "page.py")).resolve().parents[2] / "examples"))
from bayes_gcsemv_rstanarm import main as rstanarm_models  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ml.bayes.SamplerWarning)
    posts = rstanarm_models(draws=DRAWS)
fig = ml.plots.caterpillar(posts["M3"])
icc = posts["M1"].icc()["icc_school"]
print(f"ICC of M1: posterior mean {np.mean(icc):.3f}, 95% interval "
      f"{np.quantile(icc, 0.025):.3f} to {np.quantile(icc, 0.975):.3f}")
