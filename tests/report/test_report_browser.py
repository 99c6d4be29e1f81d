"""The report opened in a real browser (headless Chromium driven by Selenium):
every table and figure renders, and the page fetches nothing.

The test needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run``
installs them and sets ``MULTILEVEL_BROWSER_TEST=required``, so CI fails
rather than skips when they are missing).
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from functools import lru_cache

import pytest

import multilevel as ml

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
REQUIRED = os.environ.get("MULTILEVEL_BROWSER_TEST") == "required"

if not (CHROMIUM and CHROMEDRIVER) and not REQUIRED:
    pytest.skip("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)

if REQUIRED:
    from selenium import webdriver
else:
    webdriver = pytest.importorskip("selenium.webdriver")

# what the page shows once laid out: each image decoded with its size, each table's
# rendered height and row count, each section's heading box, and what it fetched
MEASURE = """
const box = e => e.getBoundingClientRect();
return JSON.stringify({
  images: [...document.images].map(i => ({complete: i.complete, w: i.naturalWidth,
            h: i.naturalHeight, shown: box(i).width, alt: i.alt})),
  tables: [...document.querySelectorAll('table')].map(t => ({rows: t.rows.length,
            height: box(t).height, caption: t.caption ? t.caption.textContent : ''})),
  sections: [...document.querySelectorAll('section')].map(s => ({id: s.id,
            height: box(s.querySelector('h2')).height})),
  nav: [...document.querySelectorAll('nav a')].map(a => a.getAttribute('href')),
  resources: performance.getEntriesByType('resource').map(r => r.name),
  styled: getComputedStyle(document.querySelector('header')).backgroundColor,
});
"""


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,2000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def _requests(driver) -> list[str]:
    """URLs of every request the page made (Chrome's DevTools network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _open(driver, path) -> dict:
    driver.get_log("performance")  # drop what came before
    driver.get(path.as_uri())
    return json.loads(driver.execute_script(MEASURE))


@lru_cache(maxsize=None)
def _fits():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lmer = ml.lmer("math ~ 1 + mses + sector + ses + ses*mses + ses*sector + (1 + ses | schoolid)",
                       ml.datasets.load("leebryk"))
        glmer = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
        post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
                        chains=2, draws=150, warmup=150, seed=1, progress=False)
    return {"lmer": (lmer, 3), "glmer": (glmer, 3), "bayes": (post, 5)}


@pytest.mark.parametrize("kind", ["lmer", "glmer", "bayes"])
def test_every_table_and_figure_renders_and_nothing_is_fetched(browser, tmp_path, kind):
    fit, n_figures = _fits()[kind]
    path = tmp_path / f"{kind}.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml.report(fit, path)
    seen = _open(browser, path)
    assert len(seen["images"]) == n_figures
    for img in seen["images"]:
        assert img["complete"] and img["w"] > 100 and img["h"] > 100 and img["shown"] > 100, img
        assert img["alt"]
    assert len(seen["tables"]) >= 6
    for t in seen["tables"]:
        assert t["rows"] >= 1 and t["height"] > 10, t
    ids = [s["id"] for s in seen["sections"]]
    assert seen["nav"] == [f"#{i}" for i in ids]
    assert all(s["height"] > 0 for s in seen["sections"])
    assert seen["styled"] == "rgb(36, 41, 47)"  # the inline stylesheet applied
    # nothing fetched: only the file itself was requested, and no resource was loaded
    assert seen["resources"] == []
    requests = _requests(browser)
    assert requests and all(u == path.as_uri() or u.startswith("data:") for u in requests), requests
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
