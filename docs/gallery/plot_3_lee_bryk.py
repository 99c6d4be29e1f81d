"""
Lee & Bryk school data: variance partition, school predictors, random slopes
============================================================================

The third document (``002_370adbab328cec3b.txt``) analyses the mathematics scores
of 7,185 students in 160 schools (Lee & Bryk 1989; bundled as ``leebryk``):
the variance of math split into between- and within-school parts and the
intraclass correlation; each school's intercept; school-level predictors
(mean SES, sector); a random slope of SES with cross-level interactions, tested
with lmerTest's Satterthwaite t tests and type III ANOVA; and histograms and
lines of the per-school intercepts and slopes.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

import multilevel as ml

lee = ml.datasets.load("leebryk")
print(lee.head(6))
print(f"variance of math: {lee.math.var():.2f}")   # the notes: 47.31

# %%
# The random-intercept model and the variance partition
# -----------------------------------------------------
# The notes (REML): criterion 47116.7, school variance 8.614, residual 39.148,
# intercept 12.6374 (SE 0.2444); 8.614 / (8.614 + 39.148) = 0.18 of the
# variance lies between schools.
m2 = ml.lmer("math ~ 1 + (1 | schoolid)", lee)
print(m2.summary(ddf=None))
print(m2.variance_partition())
print(m2.icc())

# %%
# Each school's intercept (the fixed intercept plus its conditional mode), as the
# notes' ``plot(school.intercept, type = 'h')`` and ``hist(school.intercept)``.
intercepts = m2.coef["schoolid"]["(Intercept)"]
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
a.vlines(np.arange(1, len(intercepts) + 1), m2.fixef["(Intercept)"], intercepts)
a.axhline(m2.fixef["(Intercept)"], color="k")
a.set(xlabel="School ID", ylabel="Intercept")
b.hist(intercepts, bins=15)
b.set(xlabel="school intercept")

# %%
# School predictors
# -----------------
# Mean SES and sector (Catholic = 1) on the intercept; lmerTest's t tests with
# Satterthwaite's degrees of freedom (the notes: mses 5.3336 on 151.0 df, sector
# 1.2196 on 149.6 df) and the type III ANOVA table.
m3 = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", lee)
print(m3)
print(m3.anova())

# %%
# A random slope of SES with cross-level interactions
# ---------------------------------------------------
# The notes' model 4: ``math ~ 1 + mses + sector + ses + ses*mses + ses*sector +
# (1 + ses | schoolid)``: intercept 12.1026, mses 3.3225, sector 1.1882, ses
# 2.9057, mses:ses 0.8476, sector:ses -1.5793 (on 4346.7 df). lme4 reports this
# fit as singular (the intercept-slope correlation at 1); so does this fit.
m4 = ml.lmer("math ~ 1 + mses + sector + ses + ses*mses + ses*sector + (1 + ses | schoolid)", lee)
print(m4)
print(m4.anova())

# %%
# Each school's intercept ``beta_0j = 12.1026 + 3.3225 mses_j + 1.1882 sector_j + u_0j``
# and slope ``beta_1j = 2.9057 + 0.8476 mses_j - 1.5793 sector_j + u_1j``, as the
# notes compute them in a loop, their histograms, and the 160 lines over the data.
# (The notes' loop writes ``2.3225*mses``, a slip for the fitted 3.3225; the
# histogram of ``beta0`` here uses the fitted value.)
coefs = m4.group_coefficients()
print(coefs.head())
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
a.hist(coefs["(Intercept)"], bins=15)
a.set(xlabel="beta0")
b.hist(coefs["ses"], bins=15)
b.set(xlabel="beta1")
fig = ml.plots.group_lines(m4, "ses")
