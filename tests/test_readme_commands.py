"""Every command the README documents still parses: its program, sub-command and options exist
and take the values shown (the public commands stay what the README promises; issue 20)."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from demos.app import parse_args as demo_args
from jukebox.cli import parser as jukebox_parser
from muse.cli import parser as muse_parser

README = Path(__file__).resolve().parents[1] / "README.md"
PROGRAMS = {"muse": muse_parser, "jukebox": jukebox_parser}


def readme_commands() -> list[list[str]]:
    """The ``muse``/``jukebox``/``python demos/app.py`` command lines of the README's bash blocks, as
    argument lists (continued lines joined, comments dropped, ``a && b`` split)."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                command, words = words[:cut], words[cut + 1:]
                if command:
                    command[0] = command[0].removeprefix(".venv/bin/")
                    if command[0] in PROGRAMS or command[:2] == ["python", "demos/app.py"]:
                        commands.append(command)
    return commands


COMMANDS = readme_commands()


def test_the_readme_documents_both_programs_and_the_demo() -> None:
    programs = {c[0] for c in COMMANDS}
    assert {"muse", "jukebox", "python"} <= programs and len(COMMANDS) >= 30


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c)[:60] for c in COMMANDS])
def test_readme_command_parses(command: list[str]) -> None:
    if command[0] == "python":
        demo_args(command[2:])
        return
    args = PROGRAMS[command[0]]().parse_args(command[1:])
    assert isinstance(args, argparse.Namespace) and callable(getattr(args, "func", None)), command
