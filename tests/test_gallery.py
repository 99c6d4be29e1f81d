"""The gallery's pages (docs/gallery/plot_*.py) reproduce the source documents:
each runs as written and prints the documents' figures where the data are the
same (GCSE, Lee & Bryk, the anorexia model 5). Short chains in the default run,
the pages' own length under the slow marker."""

from __future__ import annotations

import os
import re
import runpy
from pathlib import Path

import numpy as np
import pytest

GALLERY = Path(__file__).resolve().parents[1] / "docs" / "gallery"


def run_page(name: str, draws: int, monkeypatch, capsys) -> tuple[dict, str]:
    pytest.importorskip("jax")
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.setenv("MULTILEVEL_DOCS_DRAWS", str(draws))
    monkeypatch.setattr("sys.path", list(__import__("sys").path))  # the page adds examples/
    plt.close("all")
    namespace = runpy.run_path(str(GALLERY / name), run_name="__main__")
    # each figure the page shows (sphinx-gallery shows every open figure)
    assert len(plt.get_fignums()) == FIGURES[name], (name, len(plt.get_fignums()))
    plt.close("all")
    return namespace, capsys.readouterr().out


#: the figures each page draws: anorexia Model 5's trace and density, NELS Model 1's
#: trace and density of tau, the Rasch model's trace and density and item curves; GCSE's
#: two pooling figures and two caterpillars; Lee & Bryk's intercepts, histograms and
#: school lines; the classroom model's teachers figure; and every ml.plots function
FIGURES = {"plot_1_jags_notes.py": 7, "plot_2_gcse.py": 4, "plot_3_lee_bryk.py": 3,
           "plot_4_brms_classroom.py": 1, "plot_5_figures.py": 16}


def lines(out: str) -> list[str]:
    return [re.sub(r"\s+", " ", line).strip() for line in out.splitlines()]


def test_every_page_is_a_gallery_page():
    pages = sorted(p.name for p in GALLERY.glob("*.py"))
    assert pages == ["plot_1_jags_notes.py", "plot_2_gcse.py", "plot_3_lee_bryk.py",
                     "plot_4_brms_classroom.py", "plot_5_figures.py"]
    for page in pages:  # sphinx-gallery's layout: a docstring with an underlined title
        text = (GALLERY / page).read_text(encoding="utf-8")
        title, rule = text.split('"""')[1].strip().splitlines()[:2]
        assert set(rule) == {"="} and len(rule) >= len(title), page


def test_gcse_page_prints_the_notes_lme4_fits(monkeypatch, capsys):
    ns, out = run_page("plot_2_gcse.py", 150, monkeypatch, capsys)
    have = lines(out)
    for expected in ["14111.4 14127.7 -7052.7 14105.4 1722",      # M1
                     "school (Intercept) 75.24 8.674", "Residual 190.77 13.812",
                     "(Intercept) 73.72 1.11 66.4",
                     "14017.4 14039.2 -7004.7 14009.4 1721",      # M2
                     "(Intercept) 69.730 1.185 58.87", "femaleF 6.739 0.678 9.94",
                     "20920 -10.170211", "22520 -17.057815", "23208 4.430445",  # head(ranef(M2))
                     "13983.4 14016.2 -6985.7 13971.4 1719",      # M3
                     "femaleF 47.94 6.924 -0.52", "femaleF 7.128 1.131 6.302"]:
        assert expected in have, expected
    icc = ns["icc"]
    assert 0.2 < float(np.mean(icc)) < 0.37  # M1's between-school share, as the ML fit's 75.24 / 266.0


def test_lee_bryk_page_prints_the_notes_figures(monkeypatch, capsys):
    ns, out = run_page("plot_3_lee_bryk.py", 150, monkeypatch, capsys)
    have = lines(out)
    assert "variance of math: 47.31" in have
    for expected in ["REML criterion at convergence: 47116.7",
                     "schoolid (Intercept) 8.614 2.935", "Residual 39.148 6.257",
                     "(Intercept) 12.6374 0.2444 51.71"]:
        assert expected in have, expected
    assert any(line.startswith("mses 5.3336 0.3685 151.0049") for line in have)
    assert any(line.startswith("sector 1.2196 0.3058 149.5960") for line in have)
    m4 = ns["m4"]
    np.testing.assert_allclose(m4.fixef.to_numpy(), [12.1026, 3.3225, 1.1882, 2.9057, 0.8476, -1.5793],
                               atol=6e-5)
    # the notes' loop: beta0_j = 12.1026 + 3.3225 mses_j + 1.1882 sector_j + u0_j
    school = ns["lee"].groupby("schoolid")[["mses", "sector"]].first()
    beta0 = (m4.fixef["(Intercept)"] + m4.fixef["mses"] * school["mses"] + m4.fixef["sector"] * school["sector"]
             + m4.ranef["schoolid"]["(Intercept)"].to_numpy())
    np.testing.assert_allclose(ns["coefs"]["(Intercept)"].to_numpy(), beta0.to_numpy(), rtol=1e-10)


def test_jags_page_recovers_the_notes_model_5(monkeypatch, capsys):
    ns, out = run_page("plot_1_jags_notes.py", 150, monkeypatch, capsys)
    assert "MC%ofSD" in out and "psrf" in out and "NELS Model 4" in out
    rows = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"g0", "g1", "g2", "g3", "tau0", "tau1", "ptau0", "sigma", "tau"} <= rows  # the notes' names
    # NELS (simulated with homework slope 2, public -3, their interaction 1, SES 4)
    nels = ns["nels_posts"]["NELS Model 4"].fixef()
    for name, true in [("homework", 2.0), ("public", -3.0), ("homework:public", 1.0), ("ses", 4.0)]:
        assert nels.loc[name].iloc[2] - 0.5 < true < nels.loc[name].iloc[3] + 0.5, name
    # the Rasch posterior's difficulties agree with glmer's to a fraction of their SE
    post_b = np.array([np.mean(ns["rasch_post"].draws[f"b_{n}"]) for n in ns["rasch_fit"].fixef.index])
    assert np.all(np.abs(post_b - ns["rasch_fit"].fixef.to_numpy()) < 0.5 * ns["rasch_fit"].se.to_numpy())
    m5 = ns["posts"]["Model 5"].draws
    # the notes' Model 5 (JAGS): g0 77.7, g1 2.8, g2 2.3, g3 4.3, sigma 5.2, tau1 2.5
    for name, value in [("b_Intercept", 77.7), ("b_time", 2.8), ("b_rx1", 2.3), ("b_rx3", 4.27),
                        ("sigma", 5.2), ("sd_girl__time", 2.5)]:
        assert abs(np.mean(m5[name]) - value) < 0.35 * np.std(m5[name]), name


def test_brms_page_recovers_the_simulated_gammas(monkeypatch, capsys):
    ns, out = run_page("plot_4_brms_classroom.py", 150, monkeypatch, capsys)
    assert "The gammas as the notes print them" in out and "l-90% CI" in out
    fe = ns["post"].fixef(prob=0.99)
    from bayes_classroom_brms import GAMMA

    inside = [fe.loc[c].iloc[2] <= v <= fe.loc[c].iloc[3] for _, c, v in GAMMA]
    assert sum(inside) >= len(inside) - 1


def test_figures_page_draws_every_figure_once(monkeypatch, capsys):
    import multilevel.plots as plots

    code = "\n".join(line.split("#")[0] for line in (GALLERY / "plot_5_figures.py").read_text(
        encoding="utf-8").split('"""')[2].splitlines())
    calls = {name: code.count(f"ml.plots.{name}(") for name in plots.__all__}
    assert calls == {**{name: 1 for name in plots.__all__}, "caterpillar": 2, "forest": 2}, calls
    ns, _ = run_page("plot_5_figures.py", 150, monkeypatch, capsys)  # 16 figures, one a call
    assert ns["fig"].axes and ns["ax"].get_xlabel()


@pytest.mark.slow
@pytest.mark.parametrize("page", ["plot_1_jags_notes.py", "plot_2_gcse.py", "plot_4_brms_classroom.py",
                                  "plot_5_figures.py"])
def test_pages_at_their_full_length(page, monkeypatch, capsys):
    run_page(page, int(os.environ.get("MULTILEVEL_DOCS_DRAWS", 1000)), monkeypatch, capsys)
