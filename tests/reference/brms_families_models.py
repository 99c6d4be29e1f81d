"""The models of tests/reference/brms_families.R as ``ml.bayes`` fits them.

One definition for the slow test that checks the posteriors against the brms
runs (tests/bayes/test_bayes_models_slow.py) and the benchmark that times
them (benchmarks/bayes_families.py), which load this file by its path.
"""

from __future__ import annotations

#: model id of brms_families.json -> (formula, bundled data set, ml.bayes family)
MODELS = {
    "sal_nb2": ("count ~ spp + mined + (1 | site)", "salamanders", "negative_binomial"),
    "cake_gamma": ("angle ~ recipe + temp + (1 | replicate)", "cake", "gamma"),
    "seatbelt_beta": ("seatbelt ~ enforce + speed65 + drinkage + (1 | state)", "seatbelts", "beta"),
    "wine_cumulative": ("rating ~ temp + contact + (1 | judge)", "wine", "cumulative"),
}


def priors(family: str) -> dict:
    """The priors of brms_families.R: normal(0, 5) on the Intercept (each threshold),
    normal(0, 2.5) on b, half_normal(2) on the SDs, gamma(0.01, 0.01) on shape or phi."""
    import multilevel as ml

    P = ml.priors
    out = {"Intercept": P.normal(0, 5), "b": P.normal(0, 2.5), "sd": P.half_normal(2)}
    if family in ("negative_binomial", "gamma"):
        out["shape"] = P.gamma(0.01, 0.01)
    elif family == "beta":
        out["phi"] = P.gamma(0.01, 0.01)
    return out

