"""Full Bayesian multilevel models: priors, a JAX log density, NUTS and the collapsed sampler."""
