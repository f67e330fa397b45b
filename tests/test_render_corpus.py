"""`jukebox data render-midi`: a token dataset's pieces (music21 corpus + MIDI files) rendered with FluidSynth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jukebox.cli import main as jukebox_main
from jukebox.prior.data import encode_dataset, load_index
from jukebox.render_corpus import is_music21_source, piece_path, select_pieces
from muse.cli import main as muse_main
from muse.core.render import fluidsynth_program
from muse.core.token_shards import TokenDataset

MIDI = ["bach-bwv001-_400_chorales-016806b.mid", "maier-atalanta_fugiens_no1.mid"]
SECONDS = 2.0


@pytest.fixture(scope="module")
def dataset(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two music21 Bach chorales plus two MIDI files (bach, maier) as one token dataset."""
    root = tmp_path_factory.mktemp("render")
    for name in MIDI:
        (root / "midi").mkdir(exist_ok=True)
        shutil.copyfile(midi_dir / "classical" / name, root / "midi" / name)
    code = muse_main(["data", "build", "--music21", "--midi-dir", str(root / "midi"), "--composer-from", "prefix",
                      "--composers", "bach,maier", "--limit", "2", "--workers", "0", "--no-progress",
                      "--out", str(root / "data")])
    assert code == 0
    return root / "data"


@pytest.fixture(scope="module")
def rendered(dataset: Path) -> Path:
    out = dataset.parent / "audio"
    assert jukebox_main(["data", "render-midi", "--dataset", str(dataset), "--music21", "--max-seconds",
                         str(SECONDS), "--out", str(out)]) == 0
    return out


def test_music21_filter_and_per_composer_spread(dataset: Path) -> None:
    ds = TokenDataset(dataset)
    music21 = [i for i, p in enumerate(ds.pieces) if is_music21_source(p.source)]
    assert len(music21) == 2 and all(ds.pieces[i].composer == "bach" for i in music21)
    assert select_pieces(ds, music21_only=True) == music21
    assert len(select_pieces(ds)) == 4
    one_each = select_pieces(ds, per_composer=1)
    assert sorted(ds.pieces[i].composer for i in one_each) == ["bach", "maier"]
    assert not is_music21_source("/home/me/music21/my_corpus/x.mid")


@pytest.mark.skipif(fluidsynth_program() is None, reason="needs the fluidsynth program (.ci/run installs it)")
def test_rendered_files_are_real_audio_with_sidecars(rendered: Path, dataset: Path) -> None:
    wavs = sorted(rendered.rglob("*.wav"))
    assert [w.relative_to(rendered).parts[0] for w in wavs] == ["bach", "bach"]  # MIDI-folder pieces left out
    for wav in wavs:
        audio, rate = sf.read(str(wav))
        assert rate == 22050 and audio.ndim == 1
        assert SECONDS <= len(audio) / rate <= SECONDS + 1.01  # cut at max_seconds, plus the release tail
        assert np.abs(audio).max() > 0.01 and np.abs(audio[: int(SECONDS * rate)]).mean() > 1e-3
        meta = json.loads(wav.with_suffix(".json").read_text())
        assert meta["artist"] == "bach" and meta["backend"] == "fluidsynth"
        assert meta["genre"] in {"voice", "piano", "organ", "strings", "ensemble", "reed", "winds"}
        assert is_music21_source(meta["source"])
    manifest = json.loads((rendered / "render.json").read_text())
    assert len(manifest["files"]) == 2 and manifest["sample_rate"] == 22050
    assert not list(rendered.rglob("*.tmp"))  # no temporary audio left behind


@pytest.mark.skipif(fluidsynth_program() is None, reason="needs the fluidsynth program (.ci/run installs it)")
def test_rerun_keeps_files_and_encode_dataset_reads_the_sidecars(rendered: Path, dataset: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    before = {p: p.stat().st_mtime_ns for p in rendered.rglob("*.wav")}
    assert jukebox_main(["data", "render-midi", "--dataset", str(dataset), "--music21", "--max-seconds",
                         str(SECONDS), "--out", str(rendered)]) == 0
    assert "0 rendered, 2 already there" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in rendered.rglob("*.wav")} == before
    held_out = rendered.parent / "held_out"
    assert jukebox_main(["data", "render-midi", "--dataset", str(dataset), "--max-seconds", str(SECONDS),
                         "--exclude", str(rendered), "--out", str(held_out)]) == 0
    assert sorted(p.parent.name for p in held_out.rglob("*.wav")) == ["bach", "maier"]  # the two MIDI-folder pieces

    class FakeCodec:  # encode_dataset only needs encode_file; the real codec is tested elsewhere
        def encode_file(self, path):
            from jukebox.vqvae.codec import EncodedAudio

            n = sf.info(str(path)).frames
            return EncodedAudio({0: np.zeros(n // 8, dtype=np.int64)}, 22050, n, (8,), 16)

    songs = encode_dataset(rendered, FakeCodec(), rendered.parent / "codes")
    sidecars = [json.loads(p.read_text()) for p in sorted(rendered.rglob("*.json")) if p.name != "render.json"]
    assert [(s.artist, s.genre) for s in songs] == [(m["artist"], m["genre"]) for m in sidecars]
    assert len(load_index(rendered.parent / "codes")) == 2


def test_piece_names_are_safe_file_names(tmp_path: Path) -> None:
    assert piece_path(tmp_path, "bach", "bach/bwv66.6.mxl") == tmp_path / "bach" / "bach_bwv66.6.mxl.wav"
    assert piece_path(tmp_path, None, "essen/x.abc#12") == tmp_path / "unknown_composer" / "essen_x.abc_12.wav"


def test_bad_arguments_are_one_line_errors(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["data", "render-midi", "--out", str(tmp_path / "a")]
    assert jukebox_main(base + ["--dataset", str(tmp_path)]) == 2
    assert "not a built dataset" in capsys.readouterr().err
    assert jukebox_main(base + ["--dataset", str(dataset), "--composers", "nobody"]) == 2
    assert "no composer 'nobody'" in capsys.readouterr().err
    assert jukebox_main(base + ["--dataset", str(dataset), "--per-composer", "0"]) == 2
    assert "--per-composer must be at least 1" in capsys.readouterr().err


def test_main_family_follows_the_tokenizers_family_table() -> None:
    import symusic

    from jukebox.render_corpus import main_family

    for program, family in ((52, "voice"), (40, "strings"), (48, "ensemble"), (68, "reed"), (19, "organ"),
                            (0, "piano")):
        score = symusic.Score(480)
        track = symusic.Track(program=program)
        track.notes.append(symusic.Note(0, 480, 60, 80))
        score.tracks.append(track)
        assert main_family(score) == family, program
