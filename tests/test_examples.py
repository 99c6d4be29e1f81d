"""The examples reproducing the source documents' Bayesian models run and give their answers."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_classroom_recovers_the_notes_coefficients(capsys, tmp_path):
    mod = _load("bayes_classroom_brms")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = mod.main(draws=300, out=str(tmp_path))
    out = capsys.readouterr().out
    assert "l-90% CI" in out and "gamma32" in out
    assert (tmp_path / "classroom_teachers.png").stat().st_size > 10_000
    # the figure: two panels (white / Black teachers), a line and a 90% band per student group
    fig = mod.teachers_figure(post)
    assert [a.get_title() for a in fig.axes] == ["White teachers", "Black teachers"]
    assert all(len(a.lines) == 2 and len(a.collections) == 2 for a in fig.axes)
    # with a Black teacher the gap between Black and white students narrows (gamma31 > 0)
    gap = [a.lines[0].get_ydata()[0] - a.lines[1].get_ydata()[0] for a in fig.axes]
    assert gap[1] < gap[0]
    fe = post.fixef(prob=0.99)
    inside = [fe.loc[c].iloc[2] <= v <= fe.loc[c].iloc[3] for _, c, v in mod.GAMMA]
    assert sum(inside) >= len(inside) - 1  # the simulation's true values, 99% intervals


@pytest.mark.slow
def test_anorexia_jags_models(capsys, tmp_path):
    mod = _load("bayes_anorexia_jags")
    posts = mod.main(draws=500, out=str(tmp_path))
    out = capsys.readouterr().out
    assert "MC%ofSD" in out and "psrf" in out
    table_rows = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert {"g0", "g1", "g2", "g3", "tau", "tau0", "tau1", "ptau0"} <= set(table_rows)
    m5 = posts["Model 5"].draws
    # the notes' Model 5: g0 77.7, g1 2.8, g2 2.3, g3 4.2, sigma 5.2, tau1 2.5
    for name, value in [("b_Intercept", 77.7), ("b_time", 2.8), ("b_rx1", 2.3), ("b_rx3", 4.2),
                        ("sigma", 5.2), ("sd_girl__time", 2.5)]:
        assert abs(np.mean(m5[name]) - value) < 0.3 * np.std(m5[name]), name
    assert len(list(tmp_path.glob("model5_trace_*.png"))) == 7


@pytest.mark.slow
def test_gcsemv_rstanarm_models(capsys):
    mod = _load("bayes_gcsemv_rstanarm")
    posts = mod.main(draws=500)
    assert "intraclass correlation" in capsys.readouterr().out
    m3 = posts["M3"].draws
    assert abs(np.mean(m3["b_femaleF"]) - 7.13) < 0.3 * np.std(m3["b_femaleF"])


@pytest.mark.slow
def test_rasch_jags_model(capsys):
    mod = _load("bayes_rasch_jags")
    post = mod.main(persons=1000, draws=300)
    assert "glmer -b" in capsys.readouterr().out
    from multilevel.bayes.diagnostics import rhat

    assert max(float(rhat(post.draws[n])) for n in ("b_itema", "b_itemc", "tau")) < 1.05
