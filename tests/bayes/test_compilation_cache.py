"""ml.bayes's on-disk compilation cache: where it goes, and how to turn it off."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")

PROBE = ("import jax; from multilevel.bayes.fit import compilation_cache; "
         "print(compilation_cache()); print(jax.config.jax_compilation_cache_dir)")


def _run(env_value, extra=""):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env["MULTILEVEL_JAX_CACHE"] = env_value
    out = subprocess.run([sys.executable, "-c", extra + PROBE], capture_output=True, text=True, env=env,
                         check=True)
    return out.stdout.split()


def test_cache_in_the_named_folder(tmp_path):
    folder = tmp_path / "cache"
    used, configured = _run(str(folder))
    assert used == configured == str(folder) and folder.is_dir()


def test_cache_off_and_user_setting_kept(tmp_path):
    assert _run("0") == ["None", "None"]
    mine = str(tmp_path / "mine")
    setup = f"import jax; jax.config.update('jax_compilation_cache_dir', {mine!r}); "
    assert _run(str(tmp_path / "ours"), setup) == [mine, mine]  # the user's own folder wins
