"""Building a token dataset from real MIDI files: index, shards, labels, split, cache, bad-file report."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from musetok import MidiTokenizer, TokenizerConfig

from muse.core.errors import UserError
from muse.data import BuildOptions, TokenDataset, build_dataset, collect_sources, format_report
from muse.data.build import split_of

CLASSICAL = [
    "bach-bwv001-_400_chorales-016806b.mid",
    "bach-bwv001-_400_chorales-019705b.mid",
    "mozart-the_chelsea_notebook-early_pieces_n8_minuet.mid",
    "mendelsonn-choral_4.mid",
    "maier-atalanta_fugiens_no1.mid",  # RIFF-wrapped (RMID): kept after unwrapping
    "unknown_artist-a_h-all_faith.mid",  # a Cakewalk file, not MIDI
    "haendel-concertos_grossos_hwv319-330_op06-concerto_grosso_op6_n05_2mov.mid",  # every track damaged
]
ONE_TRACK = ["6338816_Etude No. 4.mid", "POP909_008.mid", "empty.mid"]  # empty.mid: valid, no notes
DUPLICATE = "bach-copy_of_016806b.mid"  # same bytes as the first chorale under another name
BAD = {"unknown_artist-a_h-all_faith.mid", CLASSICAL[-1]}


@pytest.fixture(scope="module")
def midi_folder(midi_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("midi")
    for name in CLASSICAL:
        shutil.copyfile(midi_dir / "classical" / name, folder / name)
    shutil.copyfile(midi_dir / "classical" / CLASSICAL[0], folder / DUPLICATE)
    for name in ONE_TRACK:
        shutil.copyfile(midi_dir / "one_track" / name, folder / name)
    return folder


def options(out: Path, **kw) -> BuildOptions:
    return BuildOptions(out=out, **{"workers": 2, "valid_fraction": 0.5, "progress": False, **kw})


@pytest.fixture(scope="module")
def built(midi_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("data")
    report = build_dataset(collect_sources(midi_dir=midi_folder, composer_from="prefix"), options(out))
    return out, report


def dataset_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("tokens-*.bin")) + [folder / "index.json"]}


def test_index_and_shards_hold_exactly_the_tokenizer_output(built, midi_folder: Path) -> None:
    out, _ = built
    ds = TokenDataset(out)
    tokenizer = ds.load_tokenizer()
    assert ds.composers == ("bach", "maier", "mendelssohn", "mozart")  # labels found, sorted, aliases applied
    assert tokenizer.config.composers == ds.composers and ds.vocab_size == tokenizer.vocab.size
    assert ds.dtype == np.dtype("<u2") and ds.tokens(0).dtype == np.dtype("<u2")
    assert sorted(p.id for p in ds.pieces) == sorted(
        {*CLASSICAL, *ONE_TRACK} - BAD - {"empty.mid"}
    )
    for i, piece in enumerate(ds.pieces):
        expected = tokenizer.encode(midi_folder / piece.id, composer=piece.composer).ids
        np.testing.assert_array_equal(ds.tokens(i), expected)
        assert piece.source == str((midi_folder / piece.id).resolve())
        assert ds.tokens(i)[piece.header - 1] == tokenizer.vocab.start_id
        assert ds.tokens(i)[0] == tokenizer.vocab.composer_id(piece.composer)
    unlabelled = [p.composer for p in ds.pieces if p.id in ONE_TRACK]
    assert unlabelled == [None, None]  # no `composer-` prefix: unknown composer


def test_bad_empty_and_duplicate_files_are_reported_not_fatal(built) -> None:
    out, report = built
    skipped = {s["id"]: s for s in json.loads((out / "skipped.json").read_text())}
    assert set(skipped) == BAD | {"empty.mid", DUPLICATE}
    assert "not a MIDI file" in skipped["unknown_artist-a_h-all_faith.mid"]["reason"]
    assert skipped["empty.mid"] == {"id": "empty.mid", "reason": "no notes", "kind": "empty"}
    assert skipped[DUPLICATE]["kind"] == "duplicate" and CLASSICAL[0] in skipped[DUPLICATE]["reason"]
    assert report.skipped_by_kind() == {"duplicate": 1, "empty": 1, "error": 2}
    assert report.recovered == 1  # the RMID file
    stats = json.loads((out / "stats.json").read_text())
    assert stats["pieces"] == len(TokenDataset(out)) == report.pieces
    assert stats["labels"]["handel"]["pieces"] == 0 and stats["labels"]["handel"]["skipped"] == 1
    assert stats["labels"]["bach"]["tokens"] == sum(len(TokenDataset(out).tokens(i)) for i in range(report.pieces)
                                                    if TokenDataset(out).composer(i) == "bach")
    table = format_report(report)
    assert "mendelssohn" in table and "1 duplicate, 1 empty, 2 error" in table


def test_split_is_decided_by_content_hash(built) -> None:
    out, _ = built
    ds = TokenDataset(out)
    train, valid = ds.split_indices("train"), ds.split_indices("valid")
    assert len(train) and len(valid) and sorted([*train, *valid]) == list(range(len(ds)))
    assert split_of("00000000" + "f" * 32, 0.05) == "valid" and split_of("ffffffff" + "0" * 32, 0.05) == "train"
    assert split_of("7fffffff", 0.5) == "valid" and split_of("80000000", 0.5) == "train"
    with pytest.raises(UserError, match="split"):
        ds.split_indices("test")


def test_rerun_uses_the_cache_and_writes_the_same_dataset(built, midi_folder: Path) -> None:
    out, first = built
    before = dataset_bytes(out)
    again = build_dataset(collect_sources(midi_dir=midi_folder, composer_from="prefix"), options(out))
    assert (again.encoded, again.cached) == (0, first.encoded + first.cached)
    assert dataset_bytes(out) == before
    assert again.skipped == first.skipped  # bad files stay reported from the cache


def test_order_of_work_and_worker_count_do_not_change_the_output(built, midi_folder: Path, tmp_path: Path) -> None:
    out, _ = built
    inline = build_dataset(collect_sources(midi_dir=midi_folder, composer_from="prefix"),
                           options(tmp_path, workers=0, cache=False))
    assert inline.cached == 0 and not (tmp_path / "cache").exists()
    assert dataset_bytes(tmp_path) == dataset_bytes(out)


def test_changed_file_is_tokenized_again(midi_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in CLASSICAL[:3]:
        shutil.copyfile(midi_folder / name, folder / name)
    found = lambda: collect_sources(midi_dir=folder, composer_from="prefix")  # noqa: E731
    build_dataset(found(), options(tmp_path / "out", workers=0))
    later = os.stat(folder / CLASSICAL[2]).st_mtime_ns + 10**9
    os.utime(folder / CLASSICAL[2], ns=(later, later))
    report = build_dataset(found(), options(tmp_path / "out", workers=0))
    assert (report.encoded, report.cached) == (1, 2)


def test_small_shards_never_split_a_piece(built, midi_folder: Path, tmp_path: Path) -> None:
    out, _ = built
    build_dataset(collect_sources(midi_dir=midi_folder, composer_from="prefix"),
                  options(tmp_path, workers=0, shard_tokens=1000, cache_dir=out / "cache"))
    small, whole = TokenDataset(tmp_path), TokenDataset(out)
    assert len(small.index["shards"]) > 2
    for i, piece in enumerate(small.pieces):
        assert piece.offset + piece.length <= small.index["shards"][piece.shard]["tokens"]
        np.testing.assert_array_equal(small.tokens(i), whole.tokens(i))


def test_composer_list_follows_the_labels_of_the_build(midi_folder: Path, tmp_path: Path) -> None:
    config = dataclasses.replace(TokenizerConfig(), composers=("satie",), velocity_bins=8)
    found = collect_sources(midi_dir=midi_folder, composer_from="prefix", composers=["bach"])
    report = build_dataset(found, options(tmp_path, workers=0, tokenizer=config))
    tokenizer = MidiTokenizer.load(tmp_path / "tokenizer.json")
    assert report.composers == ("bach",) and tokenizer.config.composers == ("bach",)
    assert tokenizer.config.velocity_bins == 8  # the rest of the given config is kept


def test_csv_metadata_build(midi_folder: Path, tmp_path: Path) -> None:
    csv = tmp_path / "meta.csv"
    csv.write_text("file,artist\nPOP909_008.mid,Pop Band\n6338816_Etude No. 4.mid,Chopin\nmissing.mid,Nobody\n")
    found = collect_sources(midi_dir=midi_folder, metadata=csv, composer_column="artist")
    report = build_dataset(found, options(tmp_path / "out", workers=0))
    ds = TokenDataset(tmp_path / "out")
    assert {p.id: p.composer for p in ds.pieces} == {"POP909_008.mid": "pop_band", "6338816_Etude No. 4.mid": "chopin"}
    assert [(s.id, s.kind) for s in report.skipped] == [("missing.mid", "missing")]


def test_reader_rejects_what_is_not_a_dataset(tmp_path: Path, built) -> None:
    with pytest.raises(UserError, match="not a built dataset"):
        TokenDataset(tmp_path)
    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("cache"))
    shard = copy / "tokens-00000.bin"
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(UserError, match="rebuild the dataset"):
        TokenDataset(copy).tokens(0)


def test_a_timeout_is_remembered_until_the_limit_grows(tmp_path: Path) -> None:
    from muse.data.build import _cached
    from muse.data.cache import BuildCache, Encoded

    cache = BuildCache(tmp_path / "cache.sqlite")
    cache.put("slow", Encoded(error="timed out after 300 s"))
    cache.put("bad", Encoded(error="not a MIDI file"))
    assert _cached(cache, "slow", 300.0).error == "timed out after 300 s"  # same limit: no point retrying
    assert _cached(cache, "slow", 900.0) is None and _cached(cache, "slow", None) is None
    assert _cached(cache, "bad", 900.0).error == "not a MIDI file"


def test_min_pieces_merges_small_labels_into_other(built, midi_folder: Path, tmp_path: Path) -> None:
    """bach has 6 kept chorales here (one is a duplicate); mozart and mendelssohn one piece each."""
    _, plain = built
    report = build_dataset(collect_sources(midi_dir=midi_folder, composer_from="prefix"),
                           options(tmp_path, min_pieces=2, cache_dir=built[0] / "cache"))
    small = {k: v.pieces for k, v in plain.labels.items() if k not in ("unknown_composer", "bach") and v.pieces}
    assert report.merged == small and set(small) and all(n < 2 for n in small.values())
    assert set(report.composers) == {"bach", "other"}
    assert report.labels["other"].pieces == sum(small.values())
    assert report.labels["bach"].pieces == plain.labels["bach"].pieces
    data = TokenDataset(tmp_path)
    assert {data.composer(i) for i in range(len(data.pieces))} <= {"bach", "other", None}
    assert json.loads((tmp_path / "stats.json").read_text())["merged_into_other"] == small
    assert "merged into 'other'" in format_report(report)


def test_a_fixed_composer_list_keeps_the_vocabulary(midi_folder: Path, tmp_path: Path) -> None:
    """With ``composers`` given (a trained model's), the vocabulary is exactly that model's and a label
    it does not know becomes ``other`` (when it has one) or the unknown composer."""
    config = dataclasses.replace(TokenizerConfig(), composers=("bach", "chopin", "other"))
    found = collect_sources(midi_dir=midi_folder, composer_from="prefix")
    build_dataset(found, options(tmp_path / "a", workers=0, tokenizer=config, composers=config.composers))
    tokenizer = MidiTokenizer.load(tmp_path / "a" / "tokenizer.json")
    assert tokenizer.vocab.fingerprint == MidiTokenizer(config).vocab.fingerprint
    data = TokenDataset(tmp_path / "a")
    labels = {data.composer(i) for i in range(len(data.pieces))}
    assert labels == {"bach", "other", None}  # mozart/mendelssohn -> other; unlabelled stay unknown
    no_other = dataclasses.replace(config, composers=("bach", "chopin"))
    build_dataset(found, options(tmp_path / "b", workers=0, tokenizer=no_other, composers=no_other.composers))
    data = TokenDataset(tmp_path / "b")
    assert {data.composer(i) for i in range(len(data.pieces))} == {"bach", None}
