"""The second formulas on a model's rows (zi=, dispformula=): an offset() in them, which they do not
take, is refused, not dropped (a zero-inflation model with an offset had been fitted without it)."""

from __future__ import annotations

import pytest

import multilevel as ml


def test_an_offset_in_zi_is_refused():
    sal = ml.datasets.load("salamanders")
    with pytest.raises(ValueError, match=r"zi='~ mined \+ offset\(DOP\)' has an offset\(\)"):
        ml.glmer("count ~ mined + (1 | site)", sal, family="poisson", zi="~ mined + offset(DOP)")
    with pytest.raises(ValueError, match="has an offset"):
        ml.bayes("count ~ mined + (1 | site)", sal, family="poisson", zi="~ offset(DOP)", draws=10, warmup=10,
                 chains=1)


def test_an_offset_in_dispformula_is_refused():
    ss = ml.datasets.load("sleepstudy")
    with pytest.raises(ValueError, match=r"dispformula='~ Days \+ offset\(Days\)' has an offset\(\)"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ss, dispformula="~ Days + offset(Days)")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_main_formulas_offset_stays():
    sal = ml.datasets.load("salamanders")
    a = ml.glmer("count ~ mined + offset(DOP) + (1 | site)", sal, family="poisson", zi="~ mined")
    b = ml.glmer("count ~ mined + (1 | site)", sal, family="poisson", zi="~ mined")
    assert abs(a.loglik - b.loglik) > 1.0
