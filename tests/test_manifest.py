"""Seeds per variation and generation manifests: every piece of a batch is made again from its own seed,
and ``muse generate --from-manifest`` makes a manifest's piece again, MIDI byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from muse.cli import main
from muse.core.sampling import generate, row_seeds
from muse.generate import MuseGenerator
from muse.manifest import ManifestError, make_manifest, read_manifest, replay, write_manifest
from test_generate import CHORALE, tiny_model_dir


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> MuseGenerator:
    return MuseGenerator(tiny_model_dir(tmp_path_factory.mktemp("manifest_model")))


def test_row_seeds_give_each_group_seed_plus_its_index() -> None:
    assert row_seeds(100, 3) == [100, 101, 102]
    seeds = row_seeds(100, 2, per=3)
    assert seeds[0] == 100 and seeds[3] == 101 and len(set(seeds)) == 6
    assert row_seeds(2**63 - 1, 2) == [2**63 - 1, 0]  # stays a valid seed


class Uniform:
    """A decoder whose logits are all zero: every token equally likely, whatever the batch."""

    n_ctx = 64

    def new_cache(self, batch_size: int) -> None:
        return None

    def step(self, ids: torch.Tensor, cache: None) -> torch.Tensor:
        return torch.zeros(*ids.shape, 10)


def test_a_row_with_its_own_seed_does_not_depend_on_the_batch() -> None:
    prompt = torch.zeros(3, 1, dtype=torch.long)
    batch = generate(Uniform(), prompt, 20, seed=[5, 6, 7])
    assert batch.seeds == (5, 6, 7) and batch.seed == 5
    for row, seed in enumerate((5, 6, 7)):
        alone = generate(Uniform(), prompt[:1], 20, seed=seed)
        assert torch.equal(alone.ids[0], batch.ids[row])
    with pytest.raises(ValueError, match="one per row"):
        generate(Uniform(), prompt, 2, seed=[1, 2])


def test_every_variation_is_made_again_from_its_own_seed(gen: MuseGenerator) -> None:
    pieces = gen.generate("chopin", ["piano"], 2, seed=40, n=3)
    assert [p.seed for p in pieces] == [40, 41, 42]
    again = gen.generate("chopin", ["piano"], 2, seed=42, n=1)[0]  # the last variation, alone
    assert np.array_equal(again.ids, pieces[2].ids)
    assert len({p.ids.tobytes() for p in pieces}) == 3


def test_rerank_candidates_are_drawn_per_variation_seed(gen: MuseGenerator) -> None:
    pieces = gen.generate("chopin", ["piano"], 2, seed=9, n=2, rerank=2)
    assert [p.seed for p in pieces] == [9, 10]
    again = gen.generate("chopin", ["piano"], 2, seed=10, n=1, rerank=2)[0]
    assert np.array_equal(again.ids, pieces[1].ids)


def compose_manifest(gen: MuseGenerator, tmp_path: Path) -> tuple[Path, Path]:
    """Variation 2 of a 3-variation request, its manifest and its MIDI as the facade wrote them."""
    settings = dict(composer="bach", instruments=["piano", "strings"], seconds=2.0, temperature=0.9, top_p=0.9)
    pieces = gen.generate(seed=77, n=3, **settings)
    manifest = make_manifest(gen, pieces[1], "compose", settings, variation=2, batch={"seed": 77, "n": 3},
                             timings={"generate_seconds": 1.25})
    return write_manifest(manifest, tmp_path / "v2.json"), gen.write_midi(pieces[1], tmp_path / "v2.mid")


def test_the_cli_makes_a_manifest_piece_again_byte_for_byte(gen: MuseGenerator, tmp_path: Path, capsys) -> None:
    manifest, midi = compose_manifest(gen, tmp_path)
    data = json.loads(manifest.read_text())
    assert data["seed"] == 78 and data["variation"] == 2 and data["settings"]["composer"] == "bach"
    assert data["model_hash"] and data["timings"]["generate_seconds"] == 1.25 and data["result"]["tokens"] > 3
    rc = main(["generate", "--model", str(gen.loaded.path), "--from-manifest", str(manifest),
               "--composer", "mozart", "--seed", "1", "-o", str(tmp_path / "again.mid")])  # the manifest wins
    assert rc == 0
    assert "the same tokens as recorded" in capsys.readouterr().out
    assert (tmp_path / "again.mid").read_bytes() == midi.read_bytes()


def test_cli_manifests_round_trip_end_to_end(gen: MuseGenerator, midi_dir: Path, tmp_path: Path, capsys) -> None:
    """``muse generate --manifest`` writes one manifest per piece; ``--from-manifest`` makes piece 2 again,
    MIDI byte for byte; the same for ``muse continue`` (the manifest carries the prime's tokens)."""
    model = str(gen.loaded.path)
    rc = main(["generate", "--model", model, "--composer", "bach", "--instruments", "piano,strings", "--seconds", "2",
               "--seed", "11", "--n", "2", "--temperature", "0.9", "-o", str(tmp_path / "a.mid"),
               "--manifest", str(tmp_path / "a.json")])
    assert rc == 0 and "a_2.json" in capsys.readouterr().out
    data = json.loads((tmp_path / "a_2.json").read_text())
    assert data["seed"] == 12 and data["variation"] == 2 and data["batch"] == {"seed": 11, "n": 2}
    assert data["settings"]["instruments"] == ["piano", "strings"] and data["settings"]["temperature"] == 0.9
    assert data["timings"]["generate_seconds"] > 0
    rc = main(["generate", "--model", model, "--from-manifest", str(tmp_path / "a_2.json"), "-o",
               str(tmp_path / "again.mid"), "--manifest", str(tmp_path / "again.json")])
    assert rc == 0 and "the same tokens as recorded" in capsys.readouterr().out
    assert (tmp_path / "again.mid").read_bytes() == (tmp_path / "a_2.mid").read_bytes()
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["result"] == data["result"] and again["seed"] == 12 and again["settings"] == data["settings"]

    rc = main(["continue", str(midi_dir / CHORALE), "--model", model, "--composer", "mozart", "--seconds", "2",
               "--seed", "3", "--n", "2", "-o", str(tmp_path / "c.mid"), "--manifest", str(tmp_path / "c.json")])
    assert rc == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "c_1.json").read_text())["mode"] == "continue"
    rc = main(["generate", "--model", model, "--from-manifest", str(tmp_path / "c_1.json"), "-o",
               str(tmp_path / "c_again.mid")])
    assert rc == 0 and "the same tokens as recorded" in capsys.readouterr().out
    assert (tmp_path / "c_again.mid").read_bytes() == (tmp_path / "c_1.mid").read_bytes()


def test_a_continuation_manifest_replays_from_its_prime(gen: MuseGenerator, midi_dir: Path, tmp_path: Path) -> None:
    settings = dict(composer="mozart", seconds=2.0)
    pieces = gen.continue_midi(midi_dir / CHORALE, seed=5, n=2, **settings)
    prime = gen.tokenizer.encode(midi_dir / CHORALE, composer="mozart").ids[:-1]
    manifest = read_manifest(write_manifest(make_manifest(gen, pieces[1], "continue", settings, prime=prime,
                                                          variation=2), tmp_path / "c.json"))
    again, same = replay(gen, manifest)
    assert same and np.array_equal(again.ids, pieces[1].ids)


def test_bad_manifests_name_the_file_and_the_problem(gen: MuseGenerator, tmp_path: Path, capsys) -> None:
    manifest, _ = compose_manifest(gen, tmp_path)
    data = json.loads(manifest.read_text())
    cases = {
        "other_model.json": ({**data, "model_hash": "0" * 16}, "hash 0000000000000000"),
        "unknown.json": ({**data, "settings": {**data["settings"], "kazoo": 1}}, "'kazoo' is not a setting"),
        "not_ours.json": ({"hello": 1}, "not a musebox generation manifest"),
        "no_prime.json": ({**data, "mode": "continue"}, "needs its prime"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_text(json.dumps(content))
        rc = main(["generate", "--model", str(gen.loaded.path), "--from-manifest", str(tmp_path / name),
                   "-o", str(tmp_path / "x.mid")])
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert rc == 2 and name in err and message in err, err
    with pytest.raises(ManifestError, match="not a JSON file"):
        (tmp_path / "broken.json").write_text("{")
        read_manifest(tmp_path / "broken.json")
