"""The two-level classroom model of the brms notes (003_3ab92f3bad71b21d.txt), on simulated data.

Test scores of students (age, female, black) in classes (size, teacher's
experience, teacher female, teacher black, proportion of black students), with
all four level-1 coefficients random over classes and a full 4 x 4 covariance
``Phi P Phi`` (scales times a correlation matrix, LKJ prior on P), and
class-level predictors on the intercept and on the slopes. Substituting the
level-2 equations gives the notes' "flat" formula with its cross-level
interactions::

    score ~ 1 + size + exp + t_female + t_black + prop_black
            + age + age:size + female + female:t_female
            + black + black:t_black + black:prop_black
            + (1 + age + female + black | class)

The notes' data are not public, so the data are simulated (seeded) from
coefficients equal to the notes' posterior means; the gammas are then printed
with 90% credible intervals, as the notes print them. The fit uses brms's and
rstanarm's default priors (``post.prior_summary()``) and the exact collapsed
sampler (``sampler="nuts"`` gives the same posterior).

The notes' figure of expected scores, for white and Black students against
the class's proportion of Black students, with white teachers and with Black
teachers (the other predictors at their means), is drawn from the posterior's
expected values with 90% intervals (``ml.plots.effects``) and saved with
``--out DIR``.

Run from the repository root::

    python examples/bayes_classroom_brms.py [--draws 1000] [--out figures]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

import multilevel as ml

FORMULA = ("score ~ 1 + size + exp + t_female + t_black + prop_black + age + age:size + female"
           " + female:t_female + black + black:t_black + black:prop_black"
           " + (1 + age + female + black | class)")

#: the notes' posterior means, used as the true values of the simulation: (gamma, coefficient, value)
GAMMA = [("gamma00", "Intercept", 544.18), ("gamma01", "size", -1.47), ("gamma02", "exp", 0.23),
         ("gamma03", "t_female", -12.73), ("gamma04", "t_black", -7.96),
         ("gamma05", "prop_black", -25.99), ("gamma10", "age", -4.76), ("gamma11", "size:age", 0.10),
         ("gamma20", "female", 10.61), ("gamma21", "t_female:female", -0.61),
         ("gamma30", "black", -23.73), ("gamma31", "t_black:black", 13.97),
         ("gamma32", "prop_black:black", 3.97)]


def simulate(classes: int = 120, per_class: int = 20, seed: int = 3) -> pd.DataFrame:
    """Students in classes, scores from the notes' model with their coefficients."""
    rng = np.random.default_rng(seed)
    k = np.repeat(np.arange(classes), per_class)
    n = k.size
    size = rng.integers(12, 30, classes).astype(float)
    exp = rng.integers(0, 30, classes).astype(float)
    t_female = rng.binomial(1, 0.8, classes).astype(float)
    t_black = rng.binomial(1, 0.3, classes).astype(float)
    prop_black = rng.beta(2, 3, classes)
    age = rng.normal(0, 1, n)                    # age in years, centred
    female = rng.binomial(1, 0.5, n).astype(float)
    black = rng.binomial(1, prop_black[k]).astype(float)
    sds = np.array([20.0, 2.0, 6.0, 8.0])        # Phi
    R = np.array([[1.0, 0.3, -0.2, -0.3], [0.3, 1.0, 0.0, 0.1],
                  [-0.2, 0.0, 1.0, 0.2], [-0.3, 0.1, 0.2, 1.0]])  # P
    eta = rng.multivariate_normal(np.zeros(4), np.diag(sds) @ R @ np.diag(sds), classes)
    g = [v for _, _, v in GAMMA]
    b0 = g[0] + g[1] * size + g[2] * exp + g[3] * t_female + g[4] * t_black + g[5] * prop_black
    b1 = g[6] + g[7] * size
    b2 = g[8] + g[9] * t_female
    b3 = g[10] + g[11] * t_black + g[12] * prop_black
    mu = ((b0 + eta[:, 0])[k] + (b1 + eta[:, 1])[k] * age + (b2 + eta[:, 2])[k] * female
          + (b3 + eta[:, 3])[k] * black)
    return pd.DataFrame({"score": rng.normal(mu, 40.0), "class": k + 1, "age": age, "female": female,
                         "black": black, "size": size[k], "exp": exp[k], "t_female": t_female[k],
                         "t_black": t_black[k], "prop_black": prop_black[k]})


TEACHERS = {("t_black", 0.0): "White teachers", ("t_black", 1.0): "Black teachers",
            ("black", 0.0): "white students", ("black", 1.0): "Black students",
            "prop_black": "proportion of Black students in the class"}


def teachers_figure(post):
    """The notes' "White teachers / Black teachers" figure: expected scores with 90% intervals."""
    fig = ml.plots.effects(post, "prop_black", by="black", panel="t_black", level=0.9, n=25,
                           labels=TEACHERS)
    fig.axes[0].set_ylabel("expected score")
    return fig


def main(draws: int = 1000, seed: int = 1, out: str | None = None):
    pd.set_option("display.width", 160)
    data = simulate()
    post = ml.bayes(FORMULA, data, sampler="collapsed", chains=4, draws=draws, warmup=draws,
                    seed=seed, progress=False)
    print(post.summary(prob=0.9))
    fe = post.fixef(prob=0.9).loc[[c for _, c, _ in GAMMA]]  # formula order differs from the notes'
    table = pd.DataFrame({"coefficient": fe.index, "true": [v for _, _, v in GAMMA],
                          "Mean": fe.iloc[:, 0].to_numpy(), "90% l": fe.iloc[:, 2].to_numpy(),
                          "90% u": fe.iloc[:, 3].to_numpy()}, index=[gm for gm, _, _ in GAMMA])
    print()
    print("The gammas as the notes print them (Mean, 90% credible interval), with the true values:")
    print(table.round(2).to_string())
    fig = teachers_figure(post)
    if out is not None:
        from pathlib import Path

        Path(out).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(out) / "classroom_teachers.png", dpi=110)
        print(f"\nwrote {Path(out) / 'classroom_teachers.png'}")
    return post


if __name__ == "__main__":
    a = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    a.add_argument("--draws", type=int, default=1000, help="draws (and warmup) per chain")
    a.add_argument("--out", default=None, help="folder to save the teachers figure in")
    args = a.parse_args()
    main(args.draws, out=args.out)
