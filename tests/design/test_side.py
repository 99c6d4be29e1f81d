"""The second formulas on a model's rows (zi=, dispformula=): an offset() where it is not taken
(dispformula=) is refused, not dropped; zi= takes one (tests/glmm/test_zero_inflation_offset.py)."""

from __future__ import annotations

import pytest

import multilevel as ml


def test_an_offset_in_dispformula_is_refused():
    ss = ml.datasets.load("sleepstudy")
    with pytest.raises(ValueError, match=r"dispformula='~ Days \+ offset\(Days\)' has an offset\(\)"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ss, dispformula="~ Days + offset(Days)")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_main_formulas_offset_stays_beside_zis():
    sal = ml.datasets.load("salamanders")
    a = ml.glmer("count ~ mined + offset(DOP) + (1 | site)", sal, family="poisson", zi="~ mined")
    b = ml.glmer("count ~ mined + (1 | site)", sal, family="poisson", zi="~ mined")
    c = ml.glmer("count ~ mined + offset(DOP) + (1 | site)", sal, family="poisson", zi="~ mined + offset(DOP)")
    assert abs(a.loglik - b.loglik) > 1.0 and abs(c.loglik - a.loglik) > 1.0
