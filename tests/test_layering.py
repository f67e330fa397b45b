"""Import rules from DESIGN.md, checked on the source text (static) and at run time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Absolute module names imported by a source file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(folder: str, allowed: "callable") -> list[str]:
    return [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / folder).rglob("*.py"))
        for name in sorted(imported_modules(path))
        if not allowed(name)
    ]


def root(name: str) -> str:
    return name.split(".")[0]


def test_tokenizers_import_no_torch_muse_or_jukebox() -> None:
    assert violations("tokenizers", lambda n: root(n) not in {"torch", "muse", "jukebox"}) == []


def test_core_imports_nothing_symbolic_or_jukebox() -> None:
    def allowed(n: str) -> bool:
        return root(n) != "jukebox" and (root(n) != "muse" or n.startswith("muse.core"))

    assert violations("muse/core", allowed) == []


def test_jukebox_uses_only_muse_core() -> None:
    assert violations("jukebox", lambda n: root(n) != "muse" or n.startswith("muse.core")) == []


def test_the_library_never_imports_the_demo() -> None:
    """demos/ is built on muse's facades, never the other way round (the `muse demo` and `muse feedback`
    commands launch it: only muse/commands may name it, and only inside the command)."""
    library = [v for v in violations("muse", lambda n: root(n) != "demos") if not v.startswith("muse/commands/")]
    assert library == []
    assert violations("jukebox", lambda n: root(n) != "demos") == []


def test_musetok_import_loads_no_torch() -> None:
    code = "import sys, musetok, pkgutil, importlib\n" \
        "for m in pkgutil.walk_packages(musetok.__path__, 'musetok.'):\n" \
        "    importlib.import_module(m.name)\n" \
        "bad = [m for m in ('torch', 'muse', 'jukebox') if m in sys.modules]\n" \
        "assert not bad, bad\n"
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")
