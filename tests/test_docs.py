"""The documentation: its Python blocks run as written, page by page, and the site
builds offline with Sphinx, warnings as errors.

Each page's blocks run in order in one namespace of their own (a reader starts
a page with a fresh interpreter), from a scratch folder for the files they write.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
               if "_build" not in p.parts and "auto_examples" not in p.parts)


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def run_blocks(blocks: list[str], where: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"{where} python block {i + 1}", "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - say which block, then fail
                pytest.fail(f"{where} python block {i + 1} (starting {block.strip().splitlines()[0]!r}) "
                            f"raised {type(exc).__name__}: {exc}")
    plt.close("all")


def test_readme_quick_start_prints_what_the_readme_shows(capsys):
    """The README's first command, run as the CLI runs it, prints the output block under it."""
    from multilevel.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"```bash\npip install \. && multilevel (fit .*)\n", readme).group(1)
    shown = re.search(r"```text\n(.*?)```", readme, flags=re.S).group(1)
    import shlex

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(shlex.split(command)) == 0
    printed = capsys.readouterr().out
    assert printed.split("\n") == shown.split("\n")


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(DOCS / p)])
def test_page_python_blocks_run_in_order(page, tmp_path, monkeypatch):
    pytest.importorskip("jax")
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)  # blocks that save files write here
    run_blocks(python_blocks(DOCS / page), f"docs/{page}")


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    pytest.importorskip("jax")
    pytest.importorskip("matplotlib")
    blocks = python_blocks(ROOT / "README.md")
    assert blocks
    monkeypatch.chdir(tmp_path)
    run_blocks(blocks, "README.md")


def test_site_builds_offline_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-D", "plot_gallery=0", "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    index = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert "User guide" in index and "API reference" in index
    api = (tmp_path / "html" / "generated" / "multilevel.lmer.html").read_text(encoding="utf-8")
    assert "Examples" in api and "gcsemv" in api
    # nothing on the pages is fetched from the network (the theme's assets are local)
    for page in (tmp_path / "html").rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"<(?:script|link|img)[^>]+(?:src|href)=\"https?://", text), page


@pytest.mark.slow
def test_site_builds_with_the_gallery_run(tmp_path):
    """The whole site as a user builds it: the gallery's pages run (chains of 300 draws)."""
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("jax")
    env = dict(os.environ, MULTILEVEL_DOCS_DRAWS="300", MPLBACKEND="Agg")
    out = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    pages = sorted((tmp_path / "html" / "auto_examples").glob("plot_*.html"))
    assert [p.stem for p in pages] == sorted(p.stem for p in (DOCS / "gallery").glob("plot_*.py"))
    for page in pages:
        assert "sphx-glr-single-img" in page.read_text(encoding="utf-8") or \
            "sphx-glr-multi-img" in page.read_text(encoding="utf-8"), page.name
