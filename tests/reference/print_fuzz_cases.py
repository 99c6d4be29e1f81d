"""Random p-value vectors, coefficient tables and ANOVA tables for the printing tests.

Writes tests/reference/print_fuzz_cases.json (seeded); tests/reference/print_fuzz.R
prints each case with R (format.pval, printCoefmat with 4 digits, print.anova)
into tests/reference/print_fuzz.json, and tests/results/test_rtable.py compares
multilevel's text with R's line by line. Run from the repository root:

    python tests/reference/print_fuzz_cases.py
    Rscript tests/reference/print_fuzz.R
"""
from pathlib import Path
import json, numpy as np
rng = np.random.default_rng(1)
cases = []
def rnd_p(n):
    kind = rng.integers(0, 4, n)
    p = np.where(kind == 0, 10.0 ** rng.uniform(-30, -15, n),
        np.where(kind == 1, 10.0 ** rng.uniform(-6, -3, n), rng.uniform(0, 1, n)))
    p[rng.uniform(size=n) < 0.05] = 0.0
    return p
for i in range(150):
    n = int(rng.integers(1, 5))
    p = rnd_p(n)
    d = int(rng.integers(1, 6))
    cases.append(dict(name=f"fp{i}", kind="pval", colnames=["p"], rownames=[str(j) for j in range(n)],
                      values=[repr(float(x)) for x in p], digits=d))
for i in range(150):
    n = int(rng.integers(1, 6))
    mag = rng.uniform(-5, 5, n) if rng.uniform() < 0.5 else np.full(n, rng.uniform(-2, 3))
    est = rng.normal(size=n) * 10.0 ** mag
    se = np.abs(est) * 10.0 ** rng.uniform(-2, 1, n)
    if rng.uniform() < 0.1: est[0] = 0.0
    t = est / se
    kind = rng.integers(0, 3)
    if kind == 0:
        cols = ["Estimate", "Std. Error", "t value"]; vals = np.c_[est, se, t]
    elif kind == 1:
        from scipy import stats
        cols = ["Estimate", "Std. Error", "z value", "Pr(>|z|)"]; vals = np.c_[est, se, t, 2 * stats.norm.sf(abs(t))]
    else:
        from scipy import stats
        df = 10.0 ** rng.uniform(0.5, 6, n)
        cols = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]; vals = np.c_[est, se, df, t, 2 * stats.t.sf(abs(t), df)]
    cases.append(dict(name=f"fc{i}", kind="coef", colnames=cols, rownames=[f"r{j}" for j in range(n)],
                      values=[repr(float(x)) for x in vals.ravel()]))
for i in range(100):
    n = int(rng.integers(1, 5))
    from scipy import stats
    numdf = rng.integers(1, 5, n).astype(float)
    dendf = 10.0 ** rng.uniform(0.3, 4, n)
    F = 10.0 ** rng.uniform(-3, 3, n)
    ms = 10.0 ** rng.uniform(-4, 5) * F * 10.0 ** rng.uniform(-0.5, 0.5, n)
    p = stats.f.sf(F, numdf, dendf)
    vals = np.c_[ms * numdf, ms, numdf, dendf, F, p]
    cases.append(dict(name=f"fa{i}", kind="anova", colnames=["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"],
                      rownames=[f"t{j}" for j in range(n)], values=[repr(float(x)) for x in vals.ravel()]))
json.dump({"cases": cases}, open(Path(__file__).with_name("print_fuzz_cases.json"), "w"))
