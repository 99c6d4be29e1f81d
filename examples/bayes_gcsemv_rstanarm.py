"""Models M1, M2 and M3 of the GCSE coursework notes (001_8005d5ad520a05cf.txt) by full Bayes.

The notes fit the coursework score of 1,725 students in 73 schools first with
lme4 and then with rstanarm's ``stan_lmer`` and its default priors:

* M1: ``course ~ 1 + (1 | school)``;
* M2: ``course ~ 1 + female + (1 | school)``;
* M3: ``course ~ 1 + female + (1 + female | school)`` (random slope, correlated).

``ml.bayes`` uses rstanarm's autoscaled defaults for the coefficients and sigma
(``post.prior_summary()`` lists them). Each model is fitted with the exact
collapsed sampler and printed as brms prints a fit, next to the ML estimates of
``ml.lmer``; for M3 the schools' posterior intercepts and slopes
(``post.ranef()``) and the posterior of the intraclass correlation of M1 follow.

Run from the repository root::

    python examples/bayes_gcsemv_rstanarm.py [--draws 1000]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import multilevel as ml

MODELS = {
    "M1": "course ~ 1 + (1 | school)",
    "M2": "course ~ 1 + female + (1 | school)",
    "M3": "course ~ 1 + female + (1 + female | school)",
}


def main(draws: int = 1000, seed: int = 1) -> dict:
    pd.set_option("display.width", 160)
    gcse = ml.datasets.load("gcsemv")
    posts = {}
    for name, formula in MODELS.items():
        post = ml.bayes(formula, gcse, sampler="collapsed", chains=4, draws=draws, warmup=draws,
                        seed=seed, progress=False)
        fit = ml.lmer(formula, gcse, reml=False)
        print(f"== {name}: {formula}")
        print(post)
        print("ML (lme4) fixed effects:", np.round(np.asarray(fit.fixef), 3).tolist())
        print()
        posts[name] = post
    icc = posts["M1"].icc()["icc_school"]
    print("M1 intraclass correlation: posterior mean "
          f"{float(np.mean(icc)):.3f}, 95% interval {np.round(np.quantile(icc, [0.025, 0.975]), 3).tolist()}")
    print()
    print("M3 school effects (posterior means and SDs of the first five schools):")
    print(posts["M3"].ranef()["school"].head())
    print()
    print(posts["M3"].prior_summary())
    return posts


if __name__ == "__main__":
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--draws", type=int, default=1000, help="draws (and warmup) per chain")
    main(a.parse_args().draws)
