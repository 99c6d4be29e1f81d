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
    "sal_zip": ("count ~ spp + mined + (1 | site)", "salamanders", "poisson"),
    "sal_zinb": ("count ~ mined + (1 | site)", "salamanders", "negative_binomial"),
}

#: the zero-inflation models (``zi=``) of the zero-inflated ones
ZI = {"sal_zip": "~ spp + mined", "sal_zinb": "~ mined"}


def priors(family: str, zi: bool = False) -> dict:
    """The priors of brms_families.R: normal(0, 5) on the Intercept (each threshold),
    normal(0, 2.5) on b, half_normal(2) on the SDs, gamma(0.01, 0.01) on shape or phi;
    with zero inflation, logistic(0, 1) on its intercept and normal(0, 2.5) on its b."""
    import multilevel as ml

    P = ml.priors
    out = {"Intercept": P.normal(0, 5), "b": P.normal(0, 2.5), "sd": P.half_normal(2)}
    if family in ("negative_binomial", "gamma"):
        out["shape"] = P.gamma(0.01, 0.01)
    elif family == "beta":
        out["phi"] = P.gamma(0.01, 0.01)
    if zi:
        out.update({"Intercept_zi": P.logistic(0, 1), "b_zi": P.normal(0, 2.5)})
    return out


def arguments(model_id: str) -> dict:
    """``ml.bayes``'s family, priors and zi for a model id."""
    family = MODELS[model_id][2]
    zi = ZI.get(model_id)
    out = {"family": family, "priors": priors(family, zi is not None)}
    if zi is not None:
        out["zi"] = zi
    return out
