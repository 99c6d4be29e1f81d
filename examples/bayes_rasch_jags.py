"""The multilevel logistic (Rasch) model of the JAGS notes (000_52abb39b2c6ad7de.txt), by NUTS.

The notes fit five GSS vocabulary items A-E answered by each person::

    logit Pr(y_ij = 1) = theta_j + b_item(i),   theta_j ~ N(0, 1 / ptau),
    ptau ~ dgamma(0.01, 0.01),  b ~ dnorm(0, 1/1000),  tau = 1 / sqrt(ptau)

and JAGS took 59.7 minutes. The GSS data are not bundled; ``rasch5`` is a
simulated stand-in of the same shape (five items, 20,000 persons; see
``ml.datasets.describe("rasch5")``). By default the first 2,000 persons are used
(``--persons 20000`` fits all 100,000 rows, about four minutes on two cores).
Printed: runjags's columns for the item parameters and ``tau`` (90% HPD
intervals, as ``summary(prob=0.9, interval="hpd")`` gives), then the items'
difficulties ``-b`` next to the ML (Laplace) estimates of ``ml.glmer``.

Run from the repository root::

    python examples/bayes_rasch_jags.py [--persons 2000] [--draws 1000]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import multilevel as ml

P = ml.priors
FORMULA = "y ~ 0 + item + (1 | person)"


def main(persons: int = 2000, draws: int = 1000, seed: int = 1):
    pd.set_option("display.width", 160)
    data = ml.datasets.load("rasch5")
    data = data[data.person.astype(int) <= persons].reset_index(drop=True)
    priors = {"b": P.normal(0, precision=1 / 1000), "sd_person": P.gamma(0.01, 0.01, on="precision")}
    post = ml.bayes(FORMULA, data, family="binomial", priors=priors, center=False, chains=4,
                    draws=draws, warmup=draws, seed=seed, progress=False, keep_ranef=False)
    post = post.derive("tau", lambda d: d["sd_person__Intercept"])  # tau = 1/sqrt(ptau) is the SD
    print(post.summary(style="jags", prob=0.9))
    fit = ml.glmer(FORMULA, data, family="binomial")
    b = {n: post.draws[f"b_{n}"] for n in fit.fixef.index}
    print()
    print(pd.DataFrame({"difficulty (posterior mean of -b)": [float(-np.mean(v)) for v in b.values()],
                        "posterior SD": [float(np.std(v)) for v in b.values()],
                        "glmer -b": (-fit.fixef).to_numpy(), "glmer SE": fit.se.to_numpy()},
                       index=list(b)).round(3).to_string())
    return post


if __name__ == "__main__":
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--persons", type=int, default=2000, help="persons used (up to 20,000)")
    a.add_argument("--draws", type=int, default=1000, help="draws (and warmup) per chain")
    args = a.parse_args()
    main(args.persons, args.draws)
