"""The README's Python blocks run, in order, in one namespace, as a reader pastes them."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run_in_order(tmp_path, monkeypatch):
    pytest.importorskip("jax")
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 20
    monkeypatch.chdir(tmp_path)  # blocks that save files write here
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, block in enumerate(blocks):
            try:
                exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - say which block, then fail
                pytest.fail(f"README python block {i + 1} (starting {block.strip().splitlines()[0]!r}) "
                            f"raised {type(exc).__name__}: {exc}")
    plt.close("all")
