"""``ml.bayes`` on data in parts (a Dask DataFrame, Parquet files): the collapsed
Gaussian sampler from the summed cross-products.

The collapsed sampler (:mod:`multilevel.bayes.collapsed`) reads a Gaussian
model's data only through its cross-products, the blocks that ``lmer`` on data
in parts sums over the parts (:mod:`multilevel.lmm.out_of_core`): the same two
passes give them, and the sampling then runs on the client, its memory that of
the blocks. The default priors and starting values read the rows' moments,
which come from the same products (:mod:`multilevel.bayes.moments`).

What needs the rows (the pointwise log-likelihood, posterior predictive draws
of the fitted rows, LOO) is refused with a message; predictions for new rows
in memory work as for any posterior.
"""

from __future__ import annotations

import numpy as np

from ..design.rowless import not_in_parts
from .collapsed import SummedProducts
from .posterior import Posterior

__all__ = ["OutOfCorePosterior", "collapsed_sums", "prepare_partitioned"]


def collapsed_sums(pp, keep: np.ndarray, terms) -> SummedProducts:
    """The :class:`~multilevel.bayes.collapsed.SummedProducts` of the collapsed sampler
    from the parts' summed, centred products
    (:class:`~multilevel.linalg.partial.PartialProducts`): the kept columns of
    ``X`` and every term's ``Z`` back on the user's scale, and the response
    less its weighted least-squares fit, as :func:`~multilevel.bayes.collapsed.make_collapsed`
    computes them from the rows.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg.partial import partial_products
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> s = collapsed_sums(partial_products(d, (0,)), np.array([0, 1]), d.terms)
    >>> s.beta0.round(3).tolist(), s.n, s.head
    ([251.405, 10.467], 180, (0,))
    """
    from ..linalg.partial import kept_columns, transform_products

    P = pp.center_xy.size
    A = kept_columns(pp.center_xy, keep)          # X (kept columns) = [1, X - m, y - m] A
    a_y = np.zeros(P)                              # y - offset = [1, X - m, y - m] a_y
    a_y[0], a_y[P - 1] = pp.center_xy[P - 1], 1.0
    M = pp.cp.Cxx
    beta0 = np.linalg.lstsq(A.T @ M @ A, A.T @ M @ a_y, rcond=None)[0] if keep.size else np.zeros(0)
    Kz = []
    for c, one in zip(pp.center_z, pp.one_z):
        K = np.eye(c.size)                         # Z = (Z - c) K: the column of ones carries c
        if one is not None:
            K[one, :] += c
        Kz.append(K)
    cp = transform_products(pp.cp, np.column_stack([A, a_y - A @ beta0]), Kz)
    t0 = terms[0]
    head = (0,) + tuple(i for i in range(1, len(terms))
                        if terms[i].group == t0.group and terms[i].levels.equals(t0.levels))
    return SummedProducts(cp=cp, beta0=beta0, n=int(pp.n_positive), log_w=float(pp.cp.log_weights), head=head)


def prepare_partitioned(formula, data, family="gaussian", link=None, priors=None, weights=None, offset=None,
                        center: bool = True, zi=None):
    """:func:`~multilevel.bayes.fit.prepare` for data in parts: two passes over the
    parts, then the model's priors from the summed products (gaussian family).

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> s = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=3)
    >>> m = prepare_partitioned("Reaction ~ Days + (Days | Subject)", s)
    >>> m.rowless, m.sd_names, round(m.y_scale, 2)
    (True, ('sd_Subject__Intercept', 'sd_Subject__Days'), 56.33)
    """
    from ..formula import parse_formula
    from ..lmm.out_of_core import aliased, product_map, rowless_design, summed_products
    from .fit import _family, check_call
    from .model import BayesModel
    from .moments import products_moments

    fam, lnk = _family(family, link)
    check_call(parse_formula(formula), fam, zi)
    if fam != "gaussian":
        raise ValueError(f"on data in parts (a Dask DataFrame or Parquet files) ml.bayes fits the gaussian family, "
                         f"whose sampler needs only the data's cross-products, not the {fam} family: fit a "
                         "sample in memory")
    got = summed_products(formula, data, weights, offset)
    pm = product_map(got.pp, got.proto.terms)
    dropped = aliased(pm, got.proto.fixed.all_names)
    design = rowless_design(got.proto, pm.keep, dropped, got.pp, got.schema, got.ddf, passes=2, sample=got.sample)
    return BayesModel.build(design, fam, lnk, priors=priors, center=center,
                            moments=products_moments(got.pp, pm.keep, design.terms),
                            sums=collapsed_sums(got.pp, pm.keep, design.terms))


_NEWDATA = "; give newdata (rows in memory) to predict for them"


class OutOfCorePosterior(Posterior):
    """A :class:`~multilevel.bayes.posterior.Posterior` of data in parts: the draws,
    summaries and predictions for new rows, without the fitted rows.

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> s = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=3)
    >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", s, chains=1, draws=100, warmup=100, seed=1,
    ...                 progress=False)
    >>> type(post).__name__, post.nobs, post.sampler
    ('OutOfCorePosterior', 180, 'collapsed')
    """

    def posterior_predictive(self, newdata=None, *args, **kw):
        if newdata is None:
            raise not_in_parts("posterior_predictive() of the fitted rows", _NEWDATA)
        return super().posterior_predictive(newdata, *args, **kw)

    def linpred(self, newdata=None, *args, **kw):
        if newdata is None:
            raise not_in_parts("linpred() of the fitted rows", _NEWDATA)
        return super().linpred(newdata, *args, **kw)

    def epred(self, newdata=None, *args, **kw):
        if newdata is None:
            raise not_in_parts("epred() of the fitted rows", _NEWDATA)
        return super().epred(newdata, *args, **kw)

    def ppc_stats(self, *args, **kw):
        raise not_in_parts("ppc_stats()", "; fit a sample in memory for posterior predictive checks")

    def loo_pit(self, *args, **kw):
        raise not_in_parts("loo_pit()", "; fit a sample in memory for LOO checks")

    def log_likelihood(self):
        raise not_in_parts("the pointwise log-likelihood", "; fit a sample in memory for LOO and WAIC")

    def to_arviz(self, log_likelihood: bool | None = None, ranef: bool = True,
                 posterior_predictive: bool = False, seed=None):
        """ArviZ ``InferenceData`` of the draws and sampler statistics (no observed data,
        log-likelihood or replicated data: they need the rows)."""
        if log_likelihood or posterior_predictive:
            raise not_in_parts("to_arviz() with the log-likelihood or replicated data",
                               "; call to_arviz() without them")
        return super().to_arviz(log_likelihood=False, ranef=ranef, posterior_predictive=False, seed=seed)

    def save(self, path):
        raise not_in_parts("save()", "; keep the draws with to_arviz().to_netcdf(path), or post.draws_df()")
