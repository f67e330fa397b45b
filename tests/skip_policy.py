"""Skip policy (a pytest plugin, registered by conftest): a test may skip only for hardware this
machine lacks.

- Tests marked ``gpu`` need a CUDA device; where torch sees none they skip, with that reason.
- With ``MUSEBOX_NO_SKIPS=1`` (set by .ci/run) any other skip (a missing data file, program or
  package) fails the run: a fresh clone must run every test it promises.
- With ``MUSEBOX_MIN_PASSED=N`` (set by .ci/run) fewer than N passed tests fail the run, so tests
  cannot quietly disappear either.
"""

from __future__ import annotations

import os

import pytest

GPU_REASON = "needs a CUDA GPU (torch.cuda.is_available() is False here)"
NO_SKIPS = "MUSEBOX_NO_SKIPS"
MIN_PASSED = "MUSEBOX_MIN_PASSED"


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"gpu: {GPU_REASON.split(' (')[0]}; skipped with that reason elsewhere")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and not cuda_available():
        for item in gpu_items:
            item.add_marker(pytest.mark.skip(reason=GPU_REASON))


def skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (file, line, "Skipped: reason")
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def policy_failures(stats: dict[str, list]) -> list[str]:
    """One line per broken rule, given the terminal reporter's stats (empty when the run is fine)."""
    lines = []
    if os.environ.get(NO_SKIPS) == "1":
        for report in stats.get("skipped", []):
            if "gpu" not in getattr(report, "keywords", {}):
                lines.append(f"skipped {report.nodeid or report.fspath}: {skip_reason(report)}")
    minimum = os.environ.get(MIN_PASSED)
    if minimum:
        passed = sum(1 for r in stats.get("passed", []) if getattr(r, "when", "call") == "call")
        if passed < int(minimum):
            lines.append(f"only {passed} tests passed; {MIN_PASSED} asks for at least {minimum}")
    return lines


def _stats(config: pytest.Config) -> dict[str, list]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return reporter.stats if reporter is not None else {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == pytest.ExitCode.OK and policy_failures(_stats(session.config)):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    lines = policy_failures(terminalreporter.stats)
    if lines:
        terminalreporter.section("skip policy: the run fails", red=True, bold=True)
        for line in lines:
            terminalreporter.line(line, red=True)
        terminalreporter.line(f"only tests marked `gpu` may skip ({NO_SKIPS}=1); see tests/skip_policy.py")
