"""The Audio tab (raw audio, research mode): its checks, estimates and messages as functions, and its codec and
sampling through the API (gradio_client) on tiny random Jukebox models, level by level."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from musetok.labels import LabelIds

from demo_support import launched_app, save_test_model
from demos.audio_models import AudioModels, Labels, labels_of
from demos.audio_queue import SampleQueue, SampleSpeed, duration
from demos.jobs import Job
from demos.limits import DemoLimits, LimitError
from demos.tabs.audio import check_clip, figures_table, sample_status
from jukebox_models import save_tiny_jukebox


def write_clip(path: Path, seconds: float, rate: int = 44100, channels: int = 2) -> Path:
    """A chord (A3, C#4, E4) of ``seconds`` with a decaying envelope, written by soundfile."""
    t = np.arange(int(seconds * rate)) / rate
    mono = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6)) * 0.2 * np.exp(-2 * (t % 0.5))
    sf.write(str(path), np.stack([mono] * channels, axis=1) if channels > 1 else mono, rate)
    return path


@pytest.fixture(scope="module")
def bundled() -> AudioModels:
    return AudioModels.load()


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_jukebox(tmp_path_factory.mktemp("jukebox"), ids=True)


def test_the_bundled_labels_are_offered_and_checked(bundled: AudioModels) -> None:
    assert "bach" in bundled.artists.names and bundled.default_artist() == "bach"
    assert set(bundled.genres.names) >= {"piano", "strings", "voice"} and bundled.default_genre() == "strings"
    assert bundled.artists.check(" Bach ") == "bach" and bundled.artists.check("5") == "5"
    with pytest.raises(LimitError, match="unknown artist 'bahc': did you mean bach"):
        bundled.artists.check("bahc")
    with pytest.raises(LimitError, match=r"artist id 64 is outside 0\.\.63"):
        bundled.artists.check("64")
    with pytest.raises(LimitError, match="unknown genre 'ensemble'"):  # never "unknown" silently
        bundled.genres.check("ensemble")
    with pytest.raises(LimitError, match="choose a genre"):
        bundled.genres.check("")
    with pytest.raises(LimitError, match="no artist id file; give an id from 0 to 9"):
        Labels("artist", (), None, 10).check("The Beatles")
    assert [bundled.level_label(lv) for lv in bundled.levels] == [
        "Level 2 (top, 172 codes/s)", "Level 1 (middle, 689 codes/s)", "Level 0 (finest, 2756 codes/s)"]


def test_v2_labels_are_looked_up_as_the_id_files_write_them() -> None:
    """The official 5b models' v2 ids: names normalised (``the_beatles``), a genre a bag of words."""
    ids = LabelIds("v2", {"unknown": 0, "the_beatles": 1}, {"unknown": 0, "rock": 1, "roll": 2})
    artists, genres = labels_of("artist", ids, 2), labels_of("genre", ids, 3)
    assert artists.check("The Beatles") == "the_beatles" and artists.check("the  beatles!") == "the_beatles"
    assert genres.check("Rock & Roll") == "rock_roll" and genres.check("rock") == "rock"
    with pytest.raises(LimitError, match="unknown genre 'Rock & Jazz'"):  # every word must be known
        genres.check("Rock & Jazz")
    with pytest.raises(LimitError, match="unknown artist 'The Beatels': did you mean the_beatles"):
        artists.check("The Beatels")


def test_a_request_the_model_cannot_serve_is_refused_in_one_line(bundled: AudioModels) -> None:
    limits = DemoLimits()
    settings = bundled.settings(limits, "chopin", "piano", "", 2, seed=7)
    assert (settings.artist, settings.genre, settings.seconds, settings.seed, settings.levels) == \
        ("chopin", "piano", 2.0, 7, (2, 1, 0))
    with pytest.raises(LimitError, match="takes no lyrics"):
        bundled.settings(limits, "bach", "piano", "la la la", 2, seed=1)
    with pytest.raises(LimitError, match="length must be between 0.5 and 4 seconds of audio, not 5"):
        bundled.settings(limits, "bach", "piano", "", 5, seed=1)
    with pytest.raises(LimitError, match="length must be a number"):
        bundled.settings(limits, "bach", "piano", "", "long", seed=1)
    with pytest.raises(LimitError, match="at most 1000 characters"):
        bundled.settings(limits, "bach", "piano", "x" * 1001, 2, seed=1)
    official_like = replace(bundled, min_seconds=60.0)  # a top prior trained on songs of a minute or more
    assert official_like.seconds_range(limits) == (60.0, 4.0)
    with pytest.raises(LimitError, match="at least 60 s.*--jukebox-seconds"):
        official_like.settings(limits, "bach", "piano", "", 2, seed=1)
    assert official_like.settings(replace(limits, max_audio_seconds=90), "bach", "piano", "", 60, seed=1).seconds == 60


def test_an_upload_is_checked_before_it_is_decoded(bundled: AudioModels, tmp_path: Path) -> None:
    limits = DemoLimits(max_clip_seconds=1.5)
    clip = check_clip(limits, bundled, write_clip(tmp_path / "chord.flac", 1.0))
    assert clip.name == "chord.flac" and abs(clip.seconds - 1.0) < 1e-3
    (tmp_path / "song.mp4").write_bytes(b"\0" * 100)
    (tmp_path / "broken.wav").write_bytes(b"RIFF" + bytes(range(60)))
    sf.write(str(tmp_path / "silent.wav"), np.zeros((0, 1)), 22050)
    problems = {
        None: "upload an audio clip first",
        tmp_path / "song.mp4": "song.mp4: not a WAV, FLAC or OGG file",
        tmp_path / "broken.wav": "broken.wav: not a readable audio file",
        tmp_path / "silent.wav": "silent.wav: the clip is empty",
        write_clip(tmp_path / "long.ogg", 2.0): "long.ogg: the clip lasts 2.0 s; the codec takes clips of at most 1.5",
    }
    for path, message in problems.items():
        with pytest.raises(LimitError, match=message) as caught:
            check_clip(limits, bundled, path)
        assert str(tmp_path) not in str(caught.value)  # the upload's name, never the server's path
    with pytest.raises(LimitError, match=r"big.wav: the file has 0\.\d MB"):
        check_clip(replace(limits, max_upload_bytes=1000), bundled, write_clip(tmp_path / "big.wav", 1.0))


def test_the_queue_says_where_a_request_stands_before_it_starts() -> None:
    queue = SampleQueue(SampleSpeed(rate=45.0, overhead=3.0))
    first = queue.join("a", 2.0, now=0.0)
    assert (first.ahead, first.wait, first.run) == (0, 0.0, 93.0)
    assert queue.join("b", 1.0, now=1.0).wait == 93.0
    queue.start("a", 2.0, now=10.0)
    second = queue.estimate("b", now=40.0)  # a has run 30 of its 93 s
    assert (second.ahead, second.wait, second.run) == (1, 63.0, 48.0)
    assert second.describe(queue.speed) == (
        "Position 2 in the audio queue (1 job ahead): starts in about 1 min 3 s and takes about 48 s "
        "(45 s per second of audio, as measured with the bundled small models on a 2-core CPU).")
    assert queue.join("c", 0.5, now=41.0).ahead == 2
    queue.leave("a")
    assert queue.estimate("b", now=50.0).ahead == 0 and len(queue) == 2
    queue.leave("b")  # c never started: a request abandoned in the queue is dropped once long overdue
    assert queue.join("d", 1.0, now=10_000.0).ahead == 0 and len(queue) == 1


def test_the_speed_follows_finished_jobs() -> None:
    speed = SampleSpeed(rate=45.0, overhead=3.0)
    speed.record(2.0, 63.0)  # the first measurement replaces the constant
    assert speed.rate == 30.0 and speed.measured == 1
    speed.record(1.0, 13.0)
    assert speed.rate == 20.0 and speed.estimate(2.0) == 43.0
    assert "as jobs on this server have run" in SampleQueue(speed).join("a", 1.0).describe(speed)
    assert [duration(s) for s in (0.4, 40, 95, 7300)] == ["0 s", "40 s", "1 min 35 s", "2 h 1 min"]


def test_figures_and_status_lines(bundled: AudioModels) -> None:
    def level(number: int, sdr: float, convergence: float, distance: float) -> SimpleNamespace:
        return SimpleNamespace(level=number, si_sdr_db=sdr, spectral_convergence=convergence,
                               mr_stft_distance=distance)

    report = SimpleNamespace(levels=[level(0, 16.84, 0.1131, 1.85), level(2, 3.31, 0.441, 2.41),
                                     level(1, 9.6, 0.226, 2.1)])
    table = figures_table(bundled, report).splitlines()
    assert table[0].startswith("| level | SI-SDR (dB) \u2191 | spectral convergence \u2193")
    assert table[2:] == ["| Level 2 (top, 172 codes/s) | 3.3 | 0.441 | 2.41 |",
                         "| Level 1 (middle, 689 codes/s) | 9.6 | 0.226 | 2.10 |",
                         "| Level 0 (finest, 2756 codes/s) | 16.8 | 0.113 | 1.85 |"]
    job = Job(threading.Event(), time.monotonic() + 60)
    assert sample_status({2: "a.wav"}, [2, 1, 0], True, job, "2 s of bach", 95) == "Done: 2 s of bach in 1 min 35 s."
    job.cancelled.set()
    assert sample_status({2: "a.wav"}, [2, 1, 0], False, job, "2 s", 30) == \
        "Cancelled after 30 s: level 2 finished and kept (2 s)."
    late = Job(threading.Event(), time.monotonic() - 1)
    assert sample_status({}, [2, 1, 0], False, late, "2 s", 600).startswith(
        "Stopped at the time limit after 10 min 0 s: no level finished, nothing to play")


def test_the_limits_include_the_audio_tab() -> None:
    limits = DemoLimits()
    assert "audio clips up to 10 s and raw audio samples up to 4 s" in limits.describe()
    assert limits.check_audio_seconds(4) == 4.0
    assert replace(limits, max_audio_seconds=90).check_audio_seconds(60, shortest=60) == 60.0
    with pytest.raises(LimitError, match="between 0.5 and 4"):
        limits.check_audio_seconds(0.2)
    with pytest.raises(LimitError, match="between 60 and 90"):  # a top prior's shortest song wins when longer
        replace(limits, max_audio_seconds=90).check_audio_seconds(30, shortest=60)
    with pytest.raises(ValueError, match="min_audio_seconds"):
        DemoLimits(min_audio_seconds=5.0)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_folder: Path):
    """The demo with the Audio tab on the tiny Jukebox models (samples of 0.05 to 0.1 s), as an API client sees it."""
    folder = tmp_path_factory.mktemp("audio-demo")
    with launched_app(save_test_model(folder / "model"), folder / "feedback.sqlite", AudioModels.load(tiny_folder),
                      min_audio_seconds=0.05, max_audio_seconds=0.1, max_clip_seconds=2.0) as (_app, url):
        yield Client(url, verbose=False, httpx_kwargs={"timeout": 300})  # a busy machine answers slowly


def test_the_codec_plays_every_level_with_its_figures(served: Client, tmp_path: Path) -> None:
    status, heard, level2, level1, level0, figures = served.predict(
        handle_file(str(write_clip(tmp_path / "chord.wav", 1.0, rate=22050))), api_name="/audio_codec")
    assert status.startswith("**chord.wav**: 1.0 s, reconstructed at 3 levels")
    for path in (heard, level2, level1, level0):
        audio, rate = sf.read(path)
        assert rate == 44100 and abs(len(audio) / rate - 1.0) < 1e-3  # resampled to the codec's rate, mono
    assert [line.split("|")[1].strip() for line in figures.splitlines()[2:]] == [
        "Level 2 (top, 345 codes/s)", "Level 1 (middle, 1378 codes/s)", "Level 0 (finest, 5512 codes/s)"]
    with pytest.raises(AppError, match="long.wav: the clip lasts 3.0 s; the codec takes clips of at most 2 s"):
        served.predict(handle_file(str(write_clip(tmp_path / "long.wav", 3.0))), api_name="/audio_codec")


def test_sampling_streams_the_levels_as_they_finish(served: Client) -> None:
    job = served.submit("alice", "folk", "la la la", 0.1, 3, api_name="/audio_sample")
    job.result()
    outputs = job.outputs()
    playable = [[path is not None for path in out[1:]] for out in outputs]
    assert playable[0] == [False, False, False]  # the previous sample's players are cleared first
    assert [False, False, False] != playable[1] == [True, False, False]  # the top level plays before the others
    assert playable[-1] == [True, True, True]
    assert outputs[-1][0].startswith("Done: 0.1 s of alice / folk, seed 3 in ")
    audio, rate = sf.read(outputs[-1][3])
    assert rate == 44100 and len(audio) == int(0.1 * 44100) // 128 * 128
    with pytest.raises(AppError, match="unknown artist 'carol'"):
        served.predict("carol", "folk", "", 0.1, 3, api_name="/audio_sample")
    with pytest.raises(AppError, match="length must be between 0.05 and 0.1 seconds of audio, not 2"):
        served.predict("alice", "folk", "", 2, 3, api_name="/audio_sample")


def test_the_audio_options_fail_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from demos.app import main as app_main
    from demos.app import parse_args
    from muse.cli import main as muse_main

    args = parse_args(["--jukebox", "J", "--jukebox-model", "5b_lyrics", "--jukebox-seconds", "30"])
    assert (args.jukebox, args.jukebox_model, args.jukebox_seconds, args.no_audio) == ("J", "5b_lyrics", 30.0, False)
    assert muse_main(["demo", "--jukebox-seconds", "-1", "--db", str(tmp_path / "fb.sqlite")]) == 2
    assert "--jukebox-seconds must be" in capsys.readouterr().err
    assert app_main(["--jukebox", str(tmp_path / "nowhere"), "--db", str(tmp_path / "fb.sqlite")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.endswith("nowhere: checkpoints directory not found")


def test_the_demos_model_choices_are_the_pipelines() -> None:
    """``demos.command`` copies the model names so that ``muse --help`` needs no torch; they must agree."""
    from demos.command import JUKEBOX_MODELS
    from jukebox.sampling.model_files import MODELS

    assert sorted(JUKEBOX_MODELS) == sorted(MODELS) and JUKEBOX_MODELS[0] == "small"
