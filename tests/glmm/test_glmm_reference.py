"""glmer fits against tests/reference/lme4_glmm.json (written by lme4_glmm.R).

The issue's criteria: log-likelihood within 1e-4 absolute or higher than
glmer's, fixed effects within 1e-3 relative, theta within 1e-3. Models whose
fit takes more than a few seconds here are marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml

REF = {m["id"]: m for m in json.loads(
    (Path(__file__).parents[1] / "reference" / "lme4_glmm.json").read_text())["models"]}

CASES = {
    "cbpp_cbind": {},
    "cbpp_probit": {},
    "cbpp_cloglog": {},
    "cbpp_pois_offset_arg": {"formula": "incidence ~ period + (1 | herd)", "offset": "logsize"},
    "verbagg_laplace": {"slow": True},
    "verbagg_nagq0": {"slow": True},
    "grouseticks_pois": {"slow": True},
    "verbagg_slope": {"slow": True},
    "rasch_laplace": {"slow": True},
}


def _params():
    for key, case in CASES.items():
        marks = [pytest.mark.slow] if case.get("slow") else []
        yield pytest.param(key, marks=marks, id=key)


@pytest.mark.parametrize("model_id", list(_params()))
def test_glmer_matches_lme4(model_id):
    ref, case = REF[model_id], CASES[model_id]
    data = ml.datasets.load(ref["dataset"])
    if "offset" in case:
        data = data.assign(logsize=np.log(data["size"]))
    fit = ml.glmer(case.get("formula", ref["formula"]), data, family=ref["family"], link=ref["link"],
                   nagq=ref["nAGQ"], offset=case.get("offset"))
    assert fit.loglik > ref["loglik"] - 1e-4
    theta = np.array(list(ref["theta"].values()), dtype=float)
    ours = fit.theta.reindex(list(ref["theta"])).to_numpy()
    np.testing.assert_allclose(ours, theta, atol=1e-3 * max(1.0, np.abs(theta).max()))
    beta = ref["fixef"]
    np.testing.assert_allclose(fit.fixef[list(beta)].to_numpy(), list(beta.values()), rtol=1e-3,
                               atol=1e-4)
