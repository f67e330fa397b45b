"""Import rules of docs/DESIGN.md (the layering), read from the source of every module.

Our packages, lowest first: ``musetok`` (tokenizers/musetok) < ``muse.core`` < ``muse`` and
``jukebox`` (side by side) < ``demos`` (the UI). A package imports only the ones below it, and
``demos`` only the facades (and the few things they hand out) listed in ``DEMOS_MAY_IMPORT``.
Inside jukebox: ``vqvae`` < ``prior`` < ``sampling`` < the ``pipeline`` facade and the commands
(``audio`` and ``official`` serve them all).
Every import counts: module level or inside a function, ``from . import``, and
``importlib.import_module("name")`` with a literal name. ``muse demo`` is not an import of the
demo: ``muse.cli`` names the demos package's command module and loads it only when it is installed.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = {"musetok", "muse", "jukebox", "demos"}

# What the UI may use of the library: the facades, their errors, limits and results (as of issue 20).
DEMOS_MAY_IMPORT = {
    "muse.generate",  # MuseGenerator, Piece: the symbolic facade
    "muse.feedback",  # the feedback store
    "muse.composers",  # the style map (composer embeddings and their plot)
    "muse.manifest",  # what a generated file records of its request
    "muse.note_limits",  # the note-limit controls
    "muse.requests",  # the request controls' defaults and ranges (rests, shares, key candidates)
    "muse.pianoroll",  # the piano-roll picture of a piece
    "muse.saved_model",  # model_hash: which model made a sample
    "muse.sampling_defaults",  # the facades' default temperature and top-p, for the controls
    "muse.core.errors",
    "muse.core.ranges",  # the checks the facades use on numbers
    "muse.core.render",  # MIDI -> audio, the soundfont check
    "musetok.instruments",
    "musetok.labels",  # LabelIds: the artist/genre names the audio facade hands out
    "musetok.reader",  # reading an uploaded MIDI file
    "jukebox.pipeline",  # the audio facade
}


def module_name(path: Path, root: Path) -> str:
    """The module a source file defines (``tokenizers/`` is a source root: musetok lives in it)."""
    rel = path.relative_to(root / "tokenizers" if path.is_relative_to(root / "tokenizers") else root)
    parts = list(rel.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Absolute names of every module imported anywhere in ``path`` (relative imports resolved)."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if not node.module)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None)
                   in ("import_module", "__import__"))):
            names.add(node.args[0].value)
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@dataclass(frozen=True)
class Rule:
    """Modules under ``folder`` may import a name of our packages only if ``allowed(name)``."""

    name: str
    folder: str
    allowed: Callable[[str], bool]
    outside: tuple[str, ...] = ()  # sub-folders ruled separately


def ours(name: str) -> bool:
    return name.split(".")[0] in OURS


def jukebox_using(*parts: str) -> Callable[[str], bool]:
    """Inside jukebox: the shared core, musetok, and only the given parts of jukebox."""
    return lambda n: not ours(n) or any(within(n, p) for p in ("musetok", "muse.core", *parts))


JUKEBOX_BASE = ("jukebox.audio", "jukebox.official")  # audio files, the official release's conventions


RULES = [
    Rule("musetok imports nothing of ours but itself (and no torch)", "tokenizers/musetok",
         lambda n: not within(n, "torch") and (not ours(n) or within(n, "musetok"))),
    Rule("muse.core imports only musetok", "muse/core",
         lambda n: not ours(n) or within(n, "musetok") or within(n, "muse.core")),
    Rule("jukebox imports only muse.core and musetok", "jukebox",
         lambda n: not ours(n) or any(within(n, p) for p in ("musetok", "muse.core", "jukebox"))),
    Rule("jukebox.vqvae imports no prior, sampling or facade", "jukebox/vqvae",
         jukebox_using("jukebox.vqvae", *JUKEBOX_BASE)),
    Rule("jukebox.prior imports the VQ-VAE at most (no sampling or facade)", "jukebox/prior",
         jukebox_using("jukebox.prior", "jukebox.vqvae", *JUKEBOX_BASE)),
    Rule("jukebox.sampling imports the models it loads, not the facade", "jukebox/sampling",
         jukebox_using("jukebox.sampling", "jukebox.prior", "jukebox.vqvae", *JUKEBOX_BASE)),
    Rule("muse imports neither jukebox nor demos", "muse",
         lambda n: not (within(n, "jukebox") or within(n, "demos")), outside=("muse/core",)),
    Rule("demos imports only the facades", "demos",
         lambda n: not ours(n) or within(n, "demos") or any(within(n, m) for m in DEMOS_MAY_IMPORT)),
]


def violations(rule: Rule, root: Path = REPO) -> list[str]:
    """``"path imports name"`` for each import of a module under ``rule.folder`` that breaks it."""
    found = []
    for path in sorted((root / rule.folder).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(rel.startswith(o + "/") for o in rule.outside):
            continue
        found += [f"{rel} imports {name}" for name in sorted(imported_modules(path, root)) if not rule.allowed(name)]
    return found


@pytest.mark.parametrize("rule", RULES, ids=[r.folder for r in RULES])
def test_layering(rule: Rule) -> None:
    assert (REPO / rule.folder).is_dir()
    assert violations(rule) == [], rule.name


def test_the_design_document_states_the_layering() -> None:
    design = (REPO / "docs" / "DESIGN.md").read_text()
    for package in ("tokenizers/", "muse/core/", "muse/", "jukebox/", "demos/"):
        assert f"\n{package} " in design, package
    assert "tests/test_layering.py" in design


def core_modules_used_by(folder: str, root: Path = REPO) -> set[str]:
    """The ``muse.core`` modules that code under ``folder`` (outside the core) uses, directly or
    through other core modules."""
    core = {module_name(p, root): p for p in (root / "muse" / "core").glob("*.py")}
    todo = {name for path in (root / folder).rglob("*.py") if not path.is_relative_to(root / "muse" / "core")
            for name in imported_modules(path, root) if name in core}
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= {n for n in imported_modules(core[name], root) if n in core} - seen
    return seen


def test_the_core_holds_only_the_shared_core() -> None:
    """Every module of muse.core serves the symbolic half (jukebox-only code lives in jukebox/)."""
    core = {module_name(p, REPO) for p in (REPO / "muse" / "core").glob("*.py")} - {"muse.core"}
    assert sorted(core - core_modules_used_by("muse")) == []


PLANTED = {  # one forbidden import per rule, in a copy of the layout
    "tokenizers/musetok/planted.py": "import torch\n",
    "muse/core/planted.py": "def f():\n    from ..generate import MuseGenerator\n",
    "jukebox/planted.py": "from muse.decoding import PieceDecoder\n",
    "jukebox/vqvae/planted.py": "from jukebox.prior.prior import JukeboxPrior\n",
    "jukebox/prior/planted.py": "def f():\n    from ..sampling.model_files import load_models\n",
    "jukebox/sampling/planted.py": "from jukebox.pipeline import JukeboxPipeline\n",
    "muse/planted.py": "import importlib\n\ndef f():\n    return importlib.import_module('demos.app')\n",
    "demos/planted.py": "from muse.training import train\n",
}
EXPECTED = {
    "tokenizers/musetok": "tokenizers/musetok/planted.py imports torch",
    "muse/core": "muse/core/planted.py imports muse.generate",
    "jukebox": "jukebox/planted.py imports muse.decoding",
    "jukebox/vqvae": "jukebox/vqvae/planted.py imports jukebox.prior.prior",
    "jukebox/prior": "jukebox/prior/planted.py imports jukebox.sampling.model_files",
    "jukebox/sampling": "jukebox/sampling/planted.py imports jukebox.pipeline",
    "muse": "muse/planted.py imports demos.app",
    "demos": "demos/planted.py imports muse.training",
}


def test_a_planted_import_breaks_its_rule(tmp_path: Path) -> None:
    """Each rule finds a forbidden import added to its package (and only that one), however written."""
    for rel, source in PLANTED.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("import numpy\nfrom . import sibling\n" + source)
    for rule in RULES:
        assert violations(rule, tmp_path) == [EXPECTED[rule.folder]], rule.name


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    path = tmp_path / "muse" / "core" / "sub" / "x.py"
    path.parent.mkdir(parents=True)
    path.write_text("from . import a\nfrom .. import b\nfrom ...generate import c\nfrom .d import e\n")
    assert imported_modules(path, tmp_path) == {"muse.core.sub", "muse.core.sub.a", "muse.core", "muse.core.b",
                                                "muse.generate", "muse.core.sub.d"}


def test_musetok_import_loads_no_torch() -> None:
    code = "import sys, musetok, pkgutil, importlib\n" \
        "for m in pkgutil.walk_packages(musetok.__path__, 'musetok.'):\n" \
        "    importlib.import_module(m.name)\n" \
        "bad = [m for m in ('torch', 'muse', 'jukebox', 'demos') if m in sys.modules]\n" \
        "assert not bad, bad\n"
    subprocess.run([sys.executable, "-c", code], check=True, cwd="/")


def test_muse_cli_works_without_the_demos_package() -> None:
    """``muse`` runs where the demos package is absent (its ``demo`` command is then not offered)
    and offers ``muse demo`` where it is, without importing the demo app for ``--help``."""
    code = "import sys\n" \
        "if sys.argv[1] == 'absent': sys.modules['demos'] = None  # an import of it now fails\n" \
        "from muse.cli import main\n" \
        "main(['--help'])\n"
    for case in ("absent", "present"):
        out = subprocess.run([sys.executable, "-c", code, case], capture_output=True, text=True, cwd=REPO)
        assert out.returncode == 0, out.stderr
        assert ("    demo " in out.stdout) == (case == "present"), out.stdout
    code = "import sys\nfrom muse.cli import main\ntry:\n    main(['demo', '--help'])\nexcept SystemExit:\n    pass\n" \
        "assert 'demos.app' not in sys.modules and 'gradio' not in sys.modules\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "--soundfont" in out.stdout
