"""The skip policy .ci/run enforces: only `gpu` tests may skip, and enough tests must pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

TESTS = '''
import pytest

def test_passes():
    pass

@pytest.mark.gpu
def test_on_a_gpu():
    pass
'''
SKIPPING = '''
import pytest

def test_needs_a_file():
    pytest.skip("data file not found")
'''


def run_pytest(folder: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MUSEBOX_")}
    environ |= {"PYTHONPATH": str(HERE), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "skip_policy",
                           str(folder)], cwd=folder, env=environ, capture_output=True, text=True, timeout=120)


def test_only_gpu_tests_may_skip_and_enough_tests_must_pass(tmp_path: Path) -> None:
    (tmp_path / "test_fine.py").write_text(TESTS)
    fine = run_pytest(tmp_path, MUSEBOX_NO_SKIPS="1", MUSEBOX_MIN_PASSED="1")
    assert fine.returncode == 0, fine.stdout
    if "1 skipped" in fine.stdout:  # no CUDA device here: the gpu test says why it skipped
        assert "needs a CUDA GPU" in fine.stdout

    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    strict = run_pytest(tmp_path, MUSEBOX_NO_SKIPS="1", MUSEBOX_MIN_PASSED="3")
    assert strict.returncode == 1, strict.stdout
    assert "skipped test_skipping.py::test_needs_a_file: data file not found" in strict.stdout
    assert "test_on_a_gpu" not in strict.stdout.split("skip policy")[-1]  # a gpu skip is allowed
    assert "MUSEBOX_MIN_PASSED asks for at least 3" in strict.stdout
