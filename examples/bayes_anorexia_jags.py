"""Models 1, 2 and 5 of the JAGS anorexia notes (000_52abb39b2c6ad7de.txt), with their priors.

The notes fit, in JAGS, the weight of 72 girls measured twice (``time`` 1 and 2):

* Model 1: ``weight = beta0j + g1 time``, ``beta0j ~ N(g0, tau^2)``;
* Model 2: Model 1 plus the treatment dummies ``rx1`` (cognitive) and ``rx3`` (family);
* Model 5: Model 2 with a random slope of time, uncorrelated with the intercept,
  and a gamma prior on the intercept's precision ``ptau0``.

The priors are the notes': ``g ~ dnorm(0, 1/(100 sdY^2))`` on every coefficient
(on the raw intercept: ``center=False``), ``tau ~ dunif(0.0001, 200)`` on a
standard deviation, ``ptau0 ~ dgamma(0.001, 0.001)`` on a precision,
``sigma ~ dunif(0.0001, 2000)``. Each model is printed with runjags's columns
(``summary(style="jags")``) under the notes' names (``g0``, ``tau1``, ...), with the
notes' derived quantities, and Model 5's
trace and density plots are written as PNG files, as ``plot(model5.runjags)``.

Run from the repository root::

    python examples/bayes_anorexia_jags.py [--draws 1000] [--out anorexia_plots]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import multilevel as ml

P = ml.priors


def notes_priors(data, slope: bool = False) -> dict:
    """The JAGS notes' priors, keyed as ``ml.bayes`` keys them."""
    prec = 1 / (100 * data.weight.std() ** 2)  # dnorm(0, 1/(100*sdY^2)): a precision
    pri = {"Intercept": P.normal(0, precision=prec), "b": P.normal(0, precision=prec),
           "sigma": P.uniform(0.0001, 2000)}
    if slope:  # Model 5
        pri["sd_girl__Intercept"] = P.gamma(0.001, 0.001, on="precision")  # ptau0 ~ dgamma
        pri["sd_girl__time"] = P.uniform(0.0001, 200)                      # tau1 ~ dunif
    else:
        pri["sd_girl"] = P.uniform(0.0001, 200)                            # tau ~ dunif
    return pri


#: the notes' names of the parameters, for the printed tables
NOTES_NAMES = {"b_Intercept": "g0", "b_time": "g1", "b_rx1": "g2", "b_rx3": "g3",
               "sd_girl__Intercept": "tau0", "sd_girl__time": "tau1"}

MODELS = {
    "Model 1": ("weight ~ 1 + time + (1 | girl)", False),
    "Model 2": ("weight ~ 1 + time + rx1 + rx3 + (1 | girl)", False),
    "Model 5": ("weight ~ 1 + time + rx1 + rx3 + (1 + time || girl)", True),
}


def main(draws: int = 1000, out: str | None = None, seed: int = 1) -> dict:
    data = ml.datasets.load("anorexia")
    posts = {}
    for name, (formula, slope) in MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ml.bayes.SamplerWarning)  # reported in the summary
            post = ml.bayes(formula, data, center=False, priors=notes_priors(data, slope),
                            sampler="collapsed", chains=4, draws=draws, warmup=draws, seed=seed,
                            progress=False)
        if slope:
            post = post.derive("ptau0", lambda d: 1 / d["sd_girl__Intercept"] ** 2)
        else:
            post = post.derive("ptau", lambda d: 1 / d["sd_girl__Intercept"] ** 2)
        print(f"== {name}: {formula}")
        names = {k: v for k, v in NOTES_NAMES.items() if k in post.draws}
        if not slope:
            names["sd_girl__Intercept"] = "tau"
        print(post.summary(style="jags", names=names))
        print()
        posts[name] = post
    if out:
        import matplotlib

        matplotlib.use("Agg")
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        m5 = posts["Model 5"]
        for par in ("b_Intercept", "b_time", "b_rx1", "b_rx3", "sigma", "sd_girl__time", "ptau0"):
            for kind, plot in (("trace", ml.plots.trace), ("density", ml.plots.density)):
                ax = plot(m5, par)
                ax.figure.savefig(folder / f"model5_{kind}_{par}.png", dpi=80)
                matplotlib.pyplot.close(ax.figure)
        print(f"trace and density plots of Model 5 in {folder}/")
    return posts


if __name__ == "__main__":
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--draws", type=int, default=1000, help="draws (and warmup) per chain")
    a.add_argument("--out", help="folder for Model 5's trace and density plots")
    args = a.parse_args()
    main(args.draws, args.out)
