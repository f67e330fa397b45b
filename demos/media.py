"""The files a generated piece becomes on the page: MIDI (download), WAV (player), piano roll (PNG)
and its generation manifest (JSON, ``muse.manifest``).

The WAV is rendered with the app's soundfont (``soundfont``; default: pretty_midi's General MIDI
one) by FluidSynth when installed, else by the built-in SoundFont sampler (``muse.core.render``);
``PieceFiles.audio`` says which, for the page.

Files live in one working folder of the app (a fresh temporary folder unless given); files older
than ``max_age`` seconds are removed as new ones are written, so a long-running demo does not fill
the disk (and so are folders in it untouched for as long: the Audio tab's sampling runs). Gradio
copies what a handler returns into its own cache before serving it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from muse.core.render import check_soundfont
from muse.generate import MuseGenerator, Piece
from muse.manifest import Manifest, write_manifest
from muse.pianoroll import RollPicture, draw_piano_roll, draw_roll_picture

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PieceFiles:
    """Where one piece was written: ``midi``, ``wav``, the piano roll ``roll`` (``view``: where its time
    axis lies in the picture) and (``with_manifest``) its ``manifest``; ``audio``: how the WAV was made
    (``RenderResult.describe``), ``render_seconds``: the wall time writing these files took."""

    midi: Path
    wav: Path
    roll: Path
    audio: str = ""
    render_seconds: float = 0.0
    manifest: Path | None = None
    view: RollPicture | None = None


class MediaFolder:
    """Writes pieces' files into ``folder`` (a new temporary folder when None)."""

    def __init__(self, generator: MuseGenerator, folder: str | Path | None = None, max_age: float = 2 * 3600.0,
                 soundfont: str | Path | None = None) -> None:
        self.generator = generator
        self.soundfont = check_soundfont(soundfont) if soundfont is not None else None  # a bad file fails at startup
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="musebox-demo-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_age = max_age
        self._prune_lock = threading.Lock()

    def new_stem(self, label: str) -> str:
        """A unique file stem such as ``compose-3f2a...-1``."""
        return f"{label}-{uuid.uuid4().hex[:12]}"

    def write(self, piece: Piece, stem: str, *, boundary: float | None = None, span: tuple[float, float] | None = None,
              title: str | None = None) -> PieceFiles:
        """Write ``stem.mid``, ``stem.wav`` (FluidSynth, else our SoundFont sampler) and ``stem.png`` (``boundary``,
        ``span``: marks on the piano roll, as ``draw_piano_roll``)."""
        self.prune()
        started = time.monotonic()
        midi = self.generator.write_midi(piece, self.folder / f"{stem}.mid")
        wav = self.folder / f"{stem}.wav"
        rendered = self.generator.write_wav(piece, wav, self.soundfont)
        view = draw_roll_picture(piece.score, self.folder / f"{stem}.png", boundary=boundary, span=span, title=title)
        return PieceFiles(midi=midi, wav=wav, roll=view.path, audio=rendered.describe(),
                          render_seconds=time.monotonic() - started, view=view)

    def with_manifest(self, files: PieceFiles, manifest: Manifest, stem: str) -> PieceFiles:
        """Write ``manifest`` to ``stem.json``; ``files`` with it."""
        return replace(files, manifest=write_manifest(manifest, self.folder / f"{stem}.json"))

    def roll(self, score, stem: str, *, boundary: float | None = None, span: tuple[float, float] | None = None,
             title: str | None = None) -> Path:
        """Only a piano roll (e.g. of an upload): ``stem.png``."""
        self.prune()
        return draw_piano_roll(score, self.folder / f"{stem}.png", boundary=boundary, span=span, title=title)

    def prune(self) -> int:
        """Delete files (and folders) older than ``max_age``; returns how many."""
        if not self._prune_lock.acquire(blocking=False):
            return 0  # another request is pruning
        try:
            cutoff = time.time() - self.max_age
            removed = 0
            for path in self.folder.iterdir():
                try:
                    if path.stat().st_mtime >= cutoff:
                        continue
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
                    removed += 1
                except OSError:
                    continue  # removed by someone else meanwhile
            if removed:
                log.info("removed %d old demo files from %s", removed, self.folder)
            return removed
        finally:
            self._prune_lock.release()


__all__ = ["MediaFolder", "PieceFiles"]
