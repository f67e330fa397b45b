"""The engine's window contract (issue 20): a decoder is told where every window sits, so the
output never depends on how the engine happens to feed a window (``prime_chunk``), and slides past
``n_ctx`` keep every token at its place in the piece."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

import muse.editing
import muse.generate
from composer_models import wait_loving_model
from muse.core.logits import SamplingConfig
from muse.core.sampling import GenerationOutput, generate
from muse.decoding import WindowPlace
from muse.generate import MuseGenerator

CHORALE = "classical/bach-bwv001-_400_chorales-004003b.mid"
N_CTX = 32  # tiny, so that priming and generating slide the window
CHUNKS = (1, 4, 13, None)  # None: the default (a whole window in one step)


# ----------------------------------------------------------------------------- the engine alone


class PositionDecoder:
    """A toy decoder whose next token is ``(absolute position of the last token fed + 1) % V``:
    greedy decoding reproduces ``arange`` only if every window was announced at its true place.
    It also checks that each token fed is the one at its announced position."""

    n_ctx = 8
    vocab = 50

    def __init__(self) -> None:
        self.announced: list[tuple[int, int]] = []

    def new_cache(self, batch_size: int) -> dict:
        return {"fed": 0, "prefix": None, "start": None}

    def start_window(self, cache: dict, prefix: int, start: int) -> None:
        assert cache["fed"] == 0, "announced after tokens were fed"
        cache["prefix"], cache["start"] = prefix, start
        self.announced.append((prefix, start))

    def step(self, ids: Tensor, cache: dict) -> Tensor:
        assert cache["prefix"] is not None, "a fresh cache was fed before it was announced"
        offsets = torch.arange(cache["fed"], cache["fed"] + ids.shape[1])
        pos = torch.where(offsets < cache["prefix"], offsets, cache["start"] + offsets - cache["prefix"])
        assert torch.equal(ids, (pos % self.vocab).expand_as(ids)), "a token fed away from its announced place"
        cache["fed"] += ids.shape[1]
        assert cache["fed"] <= self.n_ctx
        return torch.nn.functional.one_hot((pos + 1) % self.vocab, self.vocab).float().expand(*ids.shape, -1)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("keep_prefix", [0, 2])
def test_engine_announces_every_window_at_its_place(chunk: int | None, keep_prefix: int) -> None:
    decoder = PositionDecoder()
    prompt = torch.arange(11).expand(2, -1)  # longer than the context: the first window already slides
    out = generate(decoder, prompt, 40, sampling=SamplingConfig(temperature=0.0), keep_prefix=keep_prefix,
                   prime_chunk=chunk)
    assert torch.equal(out.ids, (torch.arange(51) % decoder.vocab).expand(2, -1))
    assert out.windows >= 6 and len(decoder.announced) == out.windows
    assert all(prefix == keep_prefix and start >= prefix for prefix, start in decoder.announced)


def test_window_place_maps_window_positions_to_the_piece() -> None:
    place = WindowPlace(torch.arange(10)[None], default_prefix=3)
    place.announce(object(), prefix=3, start=7)
    assert [place.position(k) for k in (0, 2, 3, 5)] == [0, 2, 7, 9]
    place.record(torch.tensor([[0, 1, 2, 7, 8, 9, 10, 11]]), offset=0)  # the header, then two new tokens
    assert place.history.tolist() == [list(range(12))]
    with pytest.raises(ValueError, match="does not fit"):
        place.announce(object(), prefix=3, start=13)
    place.announce(object(), prefix=3, start=10)
    with pytest.raises(RuntimeError, match="differ from the sequence"):  # a window announced at the wrong place
        place.record(torch.tensor([[0, 1, 2, 9]]), offset=0)
    with pytest.raises(RuntimeError, match="leaves a gap"):
        place.record(torch.tensor([[13]]), offset=6)


# ------------------------------------------------------------------------------ the facades


def tiny_model_dir(folder: Path) -> Path:
    """A random tiny model (header conditioning and FIM markers on) that likes waits."""
    return wait_loving_model(folder, ("bach", "chopin"), N_CTX, fim_markers=True, wait_bias=3.0)


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> MuseGenerator:
    return MuseGenerator(tiny_model_dir(tmp_path_factory.mktemp("model")))


def run_task(gen: MuseGenerator, task: str, midi: Path) -> list[np.ndarray]:
    """Token rows of one seeded request through the facade."""
    if task == "generate":
        pieces = gen.generate("bach", ["piano"], seconds=3.0, seed=5, n=2)
    elif task == "continue":
        pieces = gen.continue_midi(midi, "bach", seconds=2.0, seed=5, n=2)
    else:
        pieces = gen.infill(midi, 3.0, 5.0, seed=5, n=2)
        assert {p.mode for p in pieces} == {"fim"}
    return [p.ids for p in pieces]


@pytest.mark.parametrize("task", ["generate", "continue", "infill"])
def test_any_prime_chunk_gives_identical_output(gen: MuseGenerator, task: str, midi_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Generate, continue and infill give the same tokens whether the engine primes a window in
    one step or in chunks of 1, 4 or 13 tokens, through several slides past ``n_ctx``."""
    runs: dict[int | None, list[np.ndarray]] = {}
    for chunk in CHUNKS:
        outputs: list[GenerationOutput] = []

        def engine(*args, chunk=chunk, outputs=outputs, **kwargs) -> GenerationOutput:  # noqa: ANN002, ANN003
            outputs.append(generate(*args, prime_chunk=chunk, **kwargs))
            return outputs[-1]

        monkeypatch.setattr(muse.generate, "generate", engine)
        monkeypatch.setattr(muse.editing, "generate", engine)
        runs[chunk] = run_task(gen, task, midi_dir / CHORALE)
        assert len(outputs) == 1 and outputs[0].windows >= 2, "the run should slide its window"
    for chunk in CHUNKS[:-1]:
        for got, want in zip(runs[chunk], runs[None], strict=True):
            np.testing.assert_array_equal(got, want, err_msg=f"prime_chunk={chunk}")
