"""Installation facts: import names, console scripts, the HuggingFace `tokenizers` clash, CI command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(args: list[str], cwd: Path | str = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("cwd", [REPO, Path("/")])
def test_hf_tokenizers_and_ours_side_by_side(cwd: Path) -> None:
    """`import tokenizers` stays HuggingFace's, from the repo root and from elsewhere."""
    pytest.importorskip("tokenizers", reason="HuggingFace tokenizers is a dev dependency (via miditok)")
    code = (
        "import tokenizers, musetok\n"
        "from tokenizers import Tokenizer\n"
        "print(tokenizers.__file__)\n"
        "print(musetok.__file__)\n"
    )
    out = run([sys.executable, "-c", code], cwd=cwd)
    assert out.returncode == 0, out.stderr
    hf_file, ours = out.stdout.split()
    assert "site-packages" in hf_file and "musetok" not in hf_file
    assert ours.endswith(os.path.join("tokenizers", "musetok", "__init__.py"))


def test_hf_tokenizers_under_pytest() -> None:
    pytest.importorskip("tokenizers")
    import tokenizers

    assert hasattr(tokenizers, "Tokenizer"), tokenizers.__path__


@pytest.mark.parametrize("prog", ["muse", "jukebox"])
def test_console_scripts_help(prog: str) -> None:
    for cmd in ([str(BIN / prog), "--help"], [sys.executable, "-m", prog, "--help"]):
        out = run(cmd, cwd="/")
        assert out.returncode == 0, out.stderr
        assert "COMMAND" in out.stdout or "usage" in out.stdout


def test_ci_runs_the_linter_before_the_tests() -> None:
    """.ci/run lints with ruff (configured in pyproject.toml, installed by the dev extra) before pytest."""
    ci = (REPO / ".ci" / "run").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert "[tool.ruff]" in pyproject and re.search(r'"ruff[>=<]', pyproject), "ruff: configured and a dev dependency"
    lint, tests = ci.find(".venv/bin/ruff check ."), ci.find(".venv/bin/python -m pytest")
    assert 0 <= lint < tests, "CI must run `ruff check .` before the tests"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    m = re.search(r"<!-- test-command -->\s*```(?:bash)?\n(.*?)\n```", readme, re.S)
    assert m, "README must mark its test command with <!-- test-command -->"
    command = m.group(1).strip()
    assert command in ci, f"CI does not run the README's test command: {command}"


def test_ci_fails_on_skips_and_shows_the_slowest_tests() -> None:
    """.ci/run enforces tests/skip_policy.py (only `gpu` tests may skip; enough tests pass) and prints
    pytest's 15 slowest tests."""
    ci = (REPO / ".ci" / "run").read_text()
    assert "MUSEBOX_NO_SKIPS=1" in ci and re.search(r"MUSEBOX_MIN_PASSED=\d+", ci)
    assert "--durations=15" in ci and "-rs" in ci
