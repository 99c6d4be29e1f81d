"""
Bayesian multilevel models in JAGS: anorexia, NELS, and a Rasch model
=====================================================================

The first document (``000_52abb39b2c6ad7de.txt``) fits, in JAGS through runjags,
the anorexia data (72 girls weighed twice) with a random intercept (Models 1 and
2) and then a random slope of time (Model 5); NELS math scores on homework with
school predictors and a cross-level interaction; and a multilevel logistic
regression of five GSS vocabulary items, which is a Rasch model. Its tables are
runjags summaries (Lower95, Median, Upper95, Mean, SD, Mode, MCerr, MC%ofSD,
SSeff, AC.10, psrf) under the notes' parameter names, with trace and density
plots and item characteristic curves.

The anorexia data are bundled. The NELS-88 subset and the GSS items are not
public: the NELS data below are simulated in the notes' shape (20 schools, math
on homework and SES, a public-school indicator), and ``rasch5`` is a simulated
stand-in for the GSS items; their numbers are therefore not the notes'.

The page imports the notes' priors from ``examples/`` and so runs from a
checkout of the repository.
"""

# %%
# Setup: the notes' priors live in ``examples/bayes_anorexia_jags.py`` and
# ``examples/bayes_rasch_jags.py``
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml

# examples/ beside docs/ (sphinx-gallery runs a page from docs/gallery, without __file__)
sys.path.insert(0, str(Path(globals().get("__file__", "page.py")).resolve().parents[2] / "examples"))
from bayes_anorexia_jags import MODELS, NOTES_NAMES, notes_priors  # noqa: E402
from bayes_rasch_jags import main as rasch_main  # noqa: E402

DRAWS = int(os.environ.get("MULTILEVEL_DOCS_DRAWS", 1000))  # per chain, after as many warmup
warnings.simplefilter("ignore", ml.bayes.SamplerWarning)  # the summaries report them

# %%
# Anorexia: Models 1, 2 and 5
# ---------------------------
# ``g ~ dnorm(0, 1/(100 sdY^2))`` on every coefficient (on the raw intercept, so
# ``center=False``), ``tau ~ dunif(0.0001, 200)``, ``sigma ~ dunif(0.0001, 2000)``;
# Model 5 puts ``ptau0 ~ dgamma(0.001, 0.001)`` on the intercept's precision and
# lets time vary by girl, uncorrelated with the intercept (``||``).
anorexia = ml.datasets.load("anorexia")
posts = {}
for name, (formula, slope) in MODELS.items():
    post = ml.bayes(formula, anorexia, center=False, priors=notes_priors(anorexia, slope),
                    chains=4, draws=DRAWS, warmup=DRAWS, seed=1, progress=False)
    derived = "ptau0" if slope else "ptau"
    post = post.derive(derived, lambda d: 1 / d["sd_girl__Intercept"] ** 2)
    names = {k: v for k, v in NOTES_NAMES.items() if k in post.draws}
    if not slope:
        names["sd_girl__Intercept"] = "tau"
    print(f"== {name}: {formula}")
    print(post.summary(style="jags", names=names))
    posts[name] = post

# %%
# The notes' Model 5: ``g0`` 77.7, ``g1`` (time) 2.8, ``g2`` (rx1) 2.3, ``g3``
# (rx3) 4.3, ``sigma`` 5.2, ``ptau0`` 126.7 (a long right tail), ``tau1`` 2.5.
# Trace and density plots, as ``plot(model5.runjags)``:
m5 = posts["Model 5"]
shown = ["b_Intercept", "b_time", "b_rx1", "b_rx3", "sigma", "ptau0", "sd_girl__time"]
fig = ml.plots.trace(m5, params=shown)
fig = ml.plots.density(m5, params=shown)

# %%
# NELS: math on homework, then school predictors
# ----------------------------------------------
# Simulated in the notes' shape: 20 schools of 20 to 35 students, homework hours
# 0-7, SES, and whether the school is public; the notes' Model 1 is a random
# intercept, Model 2 adds an uncorrelated random slope of homework, Model 4
# adds SES and public with the cross-level interaction homework:public.
rng = np.random.default_rng(88)
sizes = rng.integers(20, 36, size=20)
school = np.repeat(np.arange(1, 21), sizes)
public = np.repeat(rng.integers(0, 2, size=20), sizes)
u0 = np.repeat(rng.normal(0, 4.0, 20), sizes)
u1 = np.repeat(rng.normal(0, 1.5, 20), sizes)
homework = rng.integers(0, 8, size=school.size)
ses = rng.normal(0, 1, size=school.size)
math = (46 + 2.0 * homework - 3.0 * public + 1.0 * homework * public + 4.0 * ses
        + u0 + u1 * homework + rng.normal(0, 8.0, school.size))
nels = pd.DataFrame({"math": math, "homework": homework, "ses": ses, "public": public,
                     "school": pd.Categorical(school)})
nels_models = {"NELS Model 1": "math ~ homework + (1 | school)",
               "NELS Model 2": "math ~ homework + (1 + homework || school)",
               "NELS Model 4": "math ~ homework + ses + public + homework:public + (1 + homework | school)"}
sd_y = nels.math.std()
nels_posts = {}
for name, formula in nels_models.items():
    priors = {"Intercept": ml.priors.normal(0, precision=1 / (100 * sd_y ** 2)),
              "b": ml.priors.normal(0, precision=1 / (100 * sd_y ** 2)),
              "sd": ml.priors.uniform(0.0001, 200), "sigma": ml.priors.uniform(0.0001, 2000)}
    post = ml.bayes(formula, nels, center=False, priors=priors, chains=4, draws=DRAWS,
                    warmup=DRAWS, seed=2, progress=False)
    print(f"== {name}: {formula}")
    print(post.summary(style="jags", names={"b_Intercept": "g0", "b_homework": "g1",
                                            "sd_school__Intercept": "tau"}))
    nels_posts[name] = post

# %%
# The notes' trace and density of Model 1's ``tau``:
fig = ml.plots.trace(nels_posts["NELS Model 1"], params="sd_school__Intercept")
fig = ml.plots.density(nels_posts["NELS Model 1"], params="sd_school__Intercept")

# %%
# A multilevel logistic regression that is a Rasch model
# ------------------------------------------------------
# Five items answered by each person: ``y ~ 0 + item + (1 | person)`` on the
# logit scale, with the notes' ``b ~ dnorm(0, 1/1000)`` and a gamma prior on the
# persons' precision. The maximum-likelihood fit (``ml.irt.rasch``) gives the
# item difficulties to compare; the item characteristic curves follow.
rasch_post = rasch_main(persons=400, draws=DRAWS)
items = ml.datasets.load("rasch5")
rasch_fit = ml.glmer("y ~ 0 + item + (1 | person)", items[items.person.astype(int) <= 400])
print(ml.irt.rasch(rasch_fit).items.round(3))

# %%
# The notes' trace and density of ``bd`` (item d) and ``tau``, and the five
# items' characteristic curves at the posterior mean difficulties (a person of
# average ability at 0).
fig = ml.plots.trace(rasch_post, params=["b_itemd", "tau"])
fig = ml.plots.density(rasch_post, params=["b_itemd", "tau"])
ax = ml.plots.item_curves(rasch_post)
