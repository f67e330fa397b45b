"""The bundled small codec and priors (`jukebox/assets/small`): present, within size, useful, and sampling offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

from jukebox.cli import main as jukebox_main
from jukebox.sampling.model_files import BUNDLED_SMALL, find_model_files, load_models
from jukebox.vqvae.codec import BUNDLED_CHECKPOINT, Codec
from muse.core.render import render_midi


def test_bundled_files_fit_their_budgets() -> None:
    files = find_model_files("small", None, (2, 1, 0))
    assert files.vqvae == BUNDLED_CHECKPOINT
    assert files.vqvae.stat().st_size <= 10_000_000
    assert sum(p.stat().st_size for p in files.priors.values()) <= 15_000_000
    for path in [files.vqvae, *files.priors.values()]:
        assert path.with_suffix(".json").is_file()
    artists = (BUNDLED_SMALL / "ids" / "v3_artist_ids.txt").read_text().splitlines()
    assert artists[0] == "unknown;0" and "bach;" in "\n".join(artists)
    codec, priors = load_models(files)  # the priors fit the codec (levels, code count, hops)
    assert sorted(priors) == [0, 1, 2] and codec.sample_rate == priors[2].config.labels.sample_rate


@pytest.fixture(scope="module")
def phrase(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds of a piano phrase with a bass line, rendered by FluidSynth (or the built-in synth)."""
    folder = tmp_path_factory.mktemp("bundled")
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    for i, pitch in enumerate([60, 64, 67, 72, 71, 67, 64, 62]):
        piano.notes.append(pretty_midi.Note(velocity=85, pitch=pitch, start=0.25 * i, end=0.25 * i + 0.4))
        piano.notes.append(pretty_midi.Note(velocity=70, pitch=pitch - 24, start=0.25 * i, end=0.25 * i + 0.25))
    midi.instruments.append(piano)
    midi.write(str(folder / "phrase.mid"))
    return render_midi(folder / "phrase.mid", folder / "phrase.wav", sample_rate=22050, tail=0.2).path


def test_bundled_codec_reconstructs_unseen_music(phrase: Path, tmp_path: Path) -> None:
    """Levels 0 and 1 keep the waveform, every level most of the spectrum; the coarser the level,
    the further from the input. (Measured with FluidSynth: SI-SDR 17.1 / 8.3 / 1.6 dB, spectral
    convergence 0.11 / 0.27 / 0.51; the bounds leave room for other synths and library versions.)"""
    report = Codec.load().reconstruct(phrase, tmp_path)
    by_level = {lv.level: lv for lv in report.levels}
    assert by_level[0].si_sdr_db > 8.0 and by_level[1].si_sdr_db > 3.0
    assert [by_level[lv].spectral_convergence < bound for lv, bound in ((0, 0.3), (1, 0.5), (2, 0.8))] == [True] * 3
    assert by_level[0].mr_stft_distance < by_level[1].mr_stft_distance < by_level[2].mr_stft_distance


def test_jukebox_sample_small_writes_a_wav_offline(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "song"
    code = jukebox_main(["sample", "--model", "small", "--artist", "bach", "--seconds", "0.5", "--seed", "3",
                         "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    settings = json.loads((out / "settings.json").read_text())["settings"]
    assert settings["artist"] == "bach" and settings["levels"] == [2, 1, 0]
    wavs = {int(line.split()[1].rstrip(":")): Path(line.split("wrote ", 1)[1])
            for line in printed.out.splitlines() if line.startswith("level ")}
    assert sorted(wavs) == [0, 1, 2]
    audio, rate = sf.read(str(wavs[0]))
    assert rate == 22050 and abs(len(audio) / rate - 0.5) < 0.01
    assert np.isfinite(audio).all() and np.abs(audio).max() > 1e-3


def test_int8_sampling_weights_keep_the_top_priors_predictions(phrase: Path) -> None:
    """--dtype int8 (CPU): every linear layer quantized, held-out loss within 0.05 bits of fp32."""
    import torch

    from jukebox.pipeline import JukeboxPipeline
    from jukebox.prior.windows import window_labels
    from muse.core.errors import UserError

    fp32 = JukeboxPipeline.load("small", levels=(2,), dtype="fp32").priors[2]
    int8 = JukeboxPipeline.load("small", levels=(2,), dtype="int8").priors[2]
    assert not any(type(m) is torch.nn.Linear for m in int8.modules())
    assert sum(type(m).__module__.startswith("torch.ao.nn.quantized.dynamic") for m in int8.modules()) == \
        sum(type(m) is torch.nn.Linear for m in fp32.modules()) > 0
    c = fp32.config
    codec = Codec.load()
    audio = codec.read(phrase)
    audio = np.tile(audio, -(-c.n_ctx * c.hop_length // len(audio)))  # the phrase repeated: one full window
    codes = torch.from_numpy(codec.encode(audio).codes[2][: c.n_ctx])[None]
    labels = window_labels(c, codes.shape[1] * c.hop_length, 0, artist_id=2, genre_ids=[1], lyric_tokens=[])
    with torch.no_grad():
        a = fp32.loss(codes, fp32.condition(labels)).loss.item()
        b = int8.loss(codes, int8.condition(labels)).loss.item()
    assert abs(a - b) < 0.05, (a, b)
    with pytest.raises(UserError, match="for CPU sampling"):
        JukeboxPipeline.load("small", levels=(2,), device="cuda", dtype="int8")
