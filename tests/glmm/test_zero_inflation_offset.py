"""A zero-inflation model with an offset (glmmTMB's ``offset()`` in ``ziformula``) against glmmTMB
(tests/reference/glmmtmb_zi_offset.R): the fit, the zero-inflation coefficients and their standard
errors, and predictions of new rows, whose offset comes from their own columns. (The offset had been
dropped without a word: a different model, 0.88 lower in log-likelihood on simulated data.)"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "glmmtmb_zi_offset.json").read_text())
FAMILY = {"poisson": "poisson", "nbinom2": "negative_binomial"}
NEW = pd.DataFrame(dict(mined=["yes", "no"], DOP=[2.0, -0.5], site=["NEW", "NEW"]))


def _fit(name, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.glmer("count ~ mined + (1 | site)", ml.datasets.load("salamanders"), family=FAMILY[name],
                        zi="~ mined + offset(DOP)", **kw)


@pytest.mark.parametrize("name", ["poisson", "nbinom2"])
def test_against_glmmtmb(name):
    ref, m = REF[name], _fit(name)
    assert m.loglik >= ref["loglik"] - 1e-6
    np.testing.assert_allclose(m.fixef.to_numpy(), list(ref["cond"].values()), rtol=1e-4)
    zi, se = m.zi, np.array(list(ref["zi_se"].values()))
    # (NB2's zero inflation is weakly determined, SE 1.7: within a thousandth of an SE)
    assert np.all(np.abs(zi.iloc[:, 0].to_numpy() - list(ref["zi"].values())) <= 1e-3 * se)
    np.testing.assert_allclose(zi.iloc[:, 1].to_numpy(), list(ref["zi_se"].values()), rtol=2e-3)
    assert float(m.varcorr["std_dev"].iloc[0]) == pytest.approx(ref["sd"], rel=1e-3)
    if name == "nbinom2":
        assert float(m.dispersion.iloc[0]) == pytest.approx(ref["theta"], rel=1e-3)
    np.testing.assert_allclose(m.predict(NEW, type="zprob"), ref["zprob_new"], rtol=1e-3)
    np.testing.assert_allclose(m.predict(NEW, type="response", random=False), ref["response_new"], rtol=1e-3)
    np.testing.assert_allclose(m.predict(type="zprob").to_numpy()[:5], ref["zprob_fitted_head"], rtol=1e-3)
    # the derivative-free route reaches the same fit
    assert _fit(name, optimizer="bobyqa").loglik == pytest.approx(m.loglik, abs=1e-5)


def test_the_offset_moves_the_fit_and_new_rows_need_it():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        without = ml.glmer("count ~ mined + (1 | site)", ml.datasets.load("salamanders"), family="poisson",
                           zi="~ mined")
    m = _fit("poisson")
    assert m.loglik < without.loglik - 10.0
    # the structural-zero probability of a new row moves with its own offset
    a, b = m.predict(NEW.assign(DOP=[0.0, 0.0]), type="zprob"), m.predict(NEW.assign(DOP=[1.0, 1.0]), type="zprob")
    np.testing.assert_allclose(np.log(b / (1 - b)) - np.log(a / (1 - a)), [1.0, 1.0], rtol=1e-10)
    with pytest.raises(ValueError, match="offset is missing"):
        m.predict(NEW.assign(DOP=[np.nan, 1.0]), type="zprob")
