"""Hierarchical sampling runs with tiny random models: levels 2 -> 1 -> 0, WAVs, exact resume, CLI."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from musetok.errors import TokenizerError

from jukebox.cli import main as jukebox_main
from jukebox.pipeline import DEFAULT_SAMPLING, JukeboxPipeline, LevelSampling, SampleSettings, read_settings
from jukebox.prior.checkpoint import load_prior
from jukebox_models import save_tiny_jukebox
from muse.core.errors import UserError

SECONDS = 0.05
# coarse windows keep the CPU test short: half a window new per window at every level
SAMPLING = tuple(LevelSampling(temperature=1.0, hop_fraction=0.5, chunk_size=16) for _ in DEFAULT_SAMPLING)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_jukebox(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def pipeline(checkpoints: Path) -> JukeboxPipeline:
    return JukeboxPipeline.load("small", checkpoints)


def settings(checkpoints: Path, **changes) -> SampleSettings:
    base = SampleSettings(model="small", checkpoints=str(checkpoints), artist="3", genre="2",
                          lyrics="la la la, oh yeah",
                          seconds=SECONDS, seed=7, n_samples=2, sampling=SAMPLING)
    return replace(base, **changes)


def test_saved_prior_round_trips(checkpoints: Path) -> None:
    prior = load_prior(checkpoints / "prior_level_2.safetensors")
    assert prior.head.weight is prior.embed.weight
    again = load_prior(checkpoints / "prior_level_2.safetensors")
    assert all(torch.equal(a, b) for a, b in zip(prior.state_dict().values(), again.state_dict().values()))


@pytest.fixture(scope="module")
def full_run(pipeline: JukeboxPipeline, checkpoints: Path, tmp_path_factory: pytest.TempPathFactory):
    return pipeline.sample(settings(checkpoints), tmp_path_factory.mktemp("run") / "song")


def test_sample_writes_codes_and_wavs_for_every_level(pipeline: JukeboxPipeline, full_run) -> None:
    assert full_run.complete
    samples = int(SECONDS * 44100) // 128 * 128
    for level, hop in zip((0, 1, 2), pipeline.codec.model.hop_lengths):
        codes = full_run.codes[level]
        assert codes.shape == (2, samples // hop)
        assert 0 <= codes.min() and codes.max() < 64
        assert np.array_equal(np.load(full_run.out_dir / f"codes_level{level}.npy"), codes)
        for path in full_run.wavs[level]:
            audio, rate = sf.read(path)
            assert rate == 44100 and len(audio) == samples
    assert not np.array_equal(full_run.codes[2][0], full_run.codes[2][1]), "the two samples should differ"


def test_lyric_timings_are_written_per_sample(full_run) -> None:
    assert [p.name for p in full_run.lyric_timings] == ["sample0.lyrics.json", "sample1.lyrics.json"]
    data = json.loads(full_run.lyric_timings[0].read_text())
    assert "".join(ch["char"] for ch in data["characters"]) == "la la la, oh yeah"
    assert [w["text"] for w in data["words"]] == ["la", "la", "la,", "oh", "yeah"]
    times = [ch["time"] for ch in data["characters"]]
    assert times == sorted(times) and times[-1] < SECONDS


def test_killed_run_resumes_exactly(pipeline: JukeboxPipeline, checkpoints: Path, full_run, tmp_path: Path) -> None:
    cancel = threading.Event()
    windows = []

    def progress(level: int, done: int, total: int) -> None:
        windows.append(level)
        if level == 0 and windows.count(0) == 2:
            cancel.set()  # stop in the middle of level 0

    out = tmp_path / "song"
    first = pipeline.sample(settings(checkpoints), out, progress, cancel)
    assert not first.complete and 0 not in first.wavs
    assert 0 < first.codes[0].shape[1] < full_run.codes[0].shape[1]
    resumed = pipeline.resume(out)
    assert resumed.complete
    for level in (2, 1, 0):
        assert np.array_equal(resumed.codes[level], full_run.codes[level])


def test_sample_levels_hands_out_each_level_as_it_finishes(pipeline: JukeboxPipeline, checkpoints: Path, full_run,
                                                          tmp_path: Path) -> None:
    """Top level first, each with its WAVs, the same codes as ``sample``; a callable ``cancel`` stops it and the
    last result says so (``complete=False``) and keeps the finished levels."""
    seen = [sorted(result.wavs) for result in pipeline.sample_levels(settings(checkpoints), tmp_path / "a")]
    assert seen == [[2], [1, 2], [0, 1, 2]]
    finished = []

    def progress(level: int, done: int, total: int) -> None:
        if done == total:
            finished.append(level)

    cancelled = pipeline.sample_levels(settings(checkpoints), tmp_path / "b", progress,
                                       cancel=lambda: 2 in finished)  # stop before level 1's first window
    results = [(sorted(r.wavs), r.complete) for r in cancelled]
    assert results == [([2], True), ([2], False)]
    assert np.array_equal(np.load(tmp_path / "b" / "codes_level2.npy"), full_run.codes[2])


def test_upsample_adds_lower_levels(pipeline: JukeboxPipeline, checkpoints: Path, full_run, tmp_path: Path) -> None:
    out = tmp_path / "song"
    top = pipeline.sample(settings(checkpoints, levels=(2,)), out)
    assert set(top.codes) == {2} and read_settings(out).levels == (2,)
    up = pipeline.upsample(out, (1, 0))
    assert read_settings(out).levels == (2, 1, 0)
    assert np.array_equal(up.codes[0], full_run.codes[0])


def test_continue_keeps_the_prompt(pipeline: JukeboxPipeline, checkpoints: Path, tmp_path: Path) -> None:
    t = np.arange(44100 // 20) / 44100
    prompt = tmp_path / "prompt.wav"
    sf.write(prompt, 0.5 * np.sin(2 * np.pi * 220 * t), 44100)
    result = pipeline.sample(settings(checkpoints, prompt=str(prompt), prompt_seconds=0.02), tmp_path / "song")
    encoded = pipeline.codec.encode(pipeline.codec.read(prompt)[:768])  # 0.02 s -> 6 top-level codes
    for level, hop in zip((0, 1, 2), pipeline.codec.model.hop_lengths):
        n = 768 // hop
        assert np.array_equal(result.codes[level][:, :n], np.tile(encoded.codes[level][:n], (2, 1)))


def test_user_errors_are_clear(pipeline: JukeboxPipeline, checkpoints: Path, full_run, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="already holds a run"):
        pipeline.sample(settings(checkpoints), full_run.out_dir)
    with pytest.raises(UserError, match="no run here"):
        pipeline.resume(tmp_path / "nothing")
    with pytest.raises(TokenizerError, match="no artist id file"):
        pipeline.sample(settings(checkpoints, artist="The Beatles"), tmp_path / "x")
    with pytest.raises(UserError, match="makes songs of 0 to 60 s"):
        pipeline.sample(settings(checkpoints, seconds=61.0), tmp_path / "y")


def test_cli_sample_resume_and_errors(checkpoints: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    lyrics = tmp_path / "lyrics.txt"
    lyrics.write_text("hey hey\nla la\n", encoding="utf-8")
    out = tmp_path / "cli"
    args = ["sample", "--model", "small", "--checkpoints", str(checkpoints), "--lyrics", str(lyrics),
            "--seconds", str(SECONDS), "--levels", "2", "--hop-fractions", "0.5,0.5,0.5", "--out", str(out)]
    assert jukebox_main(args) == 0
    assert (out / "level2" / "sample0.wav").is_file()
    assert jukebox_main(["sample", "--resume", str(out)]) == 0
    assert jukebox_main(["sample", "--model", "small", "--checkpoints", str(checkpoints), "--lyrics",
                         str(tmp_path / "missing.txt"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "missing.txt: cannot read the lyrics file" in err and "Traceback" not in err
    assert jukebox_main(["sample", "--model", "5b", "--out", str(tmp_path / "y")]) == 2
    assert "needs --checkpoints" in capsys.readouterr().err


def test_bf16_priors_sample(checkpoints: Path, tmp_path: Path) -> None:
    half = JukeboxPipeline.load("small", checkpoints, levels=(2, 1), dtype="bf16")
    assert half.priors[2].embed.weight.dtype == torch.bfloat16
    result = half.sample(settings(checkpoints, levels=(2, 1)), tmp_path / "song")
    assert result.complete and result.codes[1].shape == (2, int(SECONDS * 44100) // 128 * 4)
