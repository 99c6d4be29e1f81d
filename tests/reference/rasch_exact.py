"""Exact posterior moments of the rasch5_1000 reference model, by quadrature and importance sampling.

The model of ``bayes_jags.json`` entry ``rasch5_1000`` (persons 1..1000 of the
bundled ``rasch5`` data, ``y ~ 0 + item + (1 | person)``, logit link;
``b ~ normal(0, sd = 10)``, ``sd_person ~ uniform(0, 10)``) has only six
parameters once the person effects are integrated out, and only 32 response
patterns: the marginal likelihood is computed exactly (Gauss-Hermite
quadrature with 80 nodes per pattern, far beyond what the integrand needs),
and the posterior moments by importance sampling from a multivariate t
(8 degrees of freedom) centred at the posterior mode with 1.3 times the
inverse Hessian as its scale. With 400,000 proposals the importance-sampling
effective size is about 300,000, so the Monte Carlo error of every mean is
below 0.2% of its posterior SD: an independent check of both the JAGS run and
``ml.bayes``.

Run from the repository root (about a minute)::

    python tests/reference/rasch_exact.py

writes ``tests/reference/rasch_exact.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import optimize, stats

ROOT = Path(__file__).resolve().parents[2]
N_PERSONS, NODES, DRAWS, CHUNK, DF, INFLATE, SEED = 1000, 80, 400_000, 20_000, 8, 1.3, 1


def main() -> dict:
    import pandas as pd

    d = pd.read_csv(ROOT / "src" / "multilevel" / "datasets" / "data" / "rasch5.csv")
    d = d[d.person <= N_PERSONS]
    items = sorted(d["item"].astype(str).unique())
    W = d.pivot(index="person", columns="item", values="y")[items].to_numpy()
    pats, counts = np.unique(W, axis=0, return_counts=True)
    x, w = np.polynomial.hermite_e.hermegauss(NODES)
    w = w / w.sum()  # expectations over N(0, 1)

    def loglik(th):  # th (m, 6): b_a..b_e, sd
        b, sd = th[:, :5], th[:, 5]
        eta = b[:, None, None, :] + sd[:, None, None, None] * x[None, None, :, None]
        ll = (pats[None, :, None, :] * -np.logaddexp(0, -eta)
              + (1 - pats[None, :, None, :]) * -np.logaddexp(0, eta)).sum(-1)
        mx = ll.max(-1, keepdims=True)
        return ((np.log((np.exp(ll - mx) * w).sum(-1)) + mx[..., 0]) * counts).sum(-1)

    def logpost(th):
        inside = (th[:, 5] > 0) & (th[:, 5] < 10)
        lp = loglik(np.where(inside[:, None], th, 1.0)) + stats.norm.logpdf(th[:, :5], 0, 10).sum(-1)
        return np.where(inside, lp, -np.inf)

    def f(t):
        return -logpost(t[None])[0]

    mode = optimize.minimize(f, np.r_[np.full(5, 0.5), 1.0], method="Nelder-Mead",
                             options=dict(xatol=1e-8, fatol=1e-10, maxiter=40_000)).x
    eps, H = 1e-4, np.zeros((6, 6))
    for i in range(6):
        for j in range(6):
            ei, ej = np.eye(6)[i] * eps, np.eye(6)[j] * eps
            H[i, j] = (f(mode + ei + ej) - f(mode + ei - ej) - f(mode - ei + ej)
                       + f(mode - ei - ej)) / (4 * eps * eps)
    scale = INFLATE * np.linalg.inv((H + H.T) / 2)
    rng = np.random.default_rng(SEED)
    lws, zs = [], []
    for _ in range(DRAWS // CHUNK):
        z = stats.multivariate_t.rvs(loc=mode, shape=scale, df=DF, size=CHUNK, random_state=rng)
        lws.append(logpost(z) - stats.multivariate_t.logpdf(z, loc=mode, shape=scale, df=DF))
        zs.append(z)
    lw, z = np.concatenate(lws), np.concatenate(zs)
    wt = np.exp(lw - lw.max())
    wt /= wt.sum()
    ess = float(1 / np.sum(wt ** 2))
    mean = wt @ z
    sd = np.sqrt(wt @ (z - mean) ** 2)
    names = [f"b_item{i}" for i in items] + ["sd_person__Intercept"]
    out = {
        "model": "rasch5_1000 of bayes_jags.json: y ~ 0 + item + (1 | person), logit; "
                 "b ~ normal(0, 10), sd_person ~ uniform(0, 10); persons 1..1000 of rasch5",
        "method": f"Gauss-Hermite quadrature ({NODES} nodes) over the person effect per response "
                  f"pattern; importance sampling, multivariate t (df {DF}, scale {INFLATE} x inverse "
                  f"Hessian at the mode), {DRAWS:,} proposals, seed {SEED}",
        "importance_ess": ess,
        "parameters": {nm: {"mean": float(mean[k]), "sd": float(sd[k]),
                            "mcse_mean": float(sd[k] / np.sqrt(ess))} for k, nm in enumerate(names)},
    }
    (ROOT / "tests" / "reference" / "rasch_exact.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    res = main()
    print(f"importance ESS {res['importance_ess']:,.0f}")
    for nm, r in res["parameters"].items():
        print(f"{nm}: mean {r['mean']:.4f}, sd {r['sd']:.4f}")
