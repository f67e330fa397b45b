"""Which pieces a build uses and how they are labelled: folders, file-name prefixes, CSV, music21."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from muse.core.errors import UserError
from muse.data import collect_sources
from muse.data.labels import label_from_prefix, normalize_label
from muse.data.music21_corpus import music21_sources, split_abc
from muse.data.sources import midi_dir_sources, select


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"MThd")
    return path


@pytest.mark.parametrize("raw, label", [
    ("essenFolksong", "essen_folksong"),
    ("nottingham-dataset", "nottingham_dataset"),
    ("Dvořák", "dvorak"),
    ("Haendel", "handel"),
    ("mendelsonn", "mendelssohn"),
    ("cpe_bach", "cpebach"),
    ("schumann_robert", "schumann"),
    ("schumannClara", "schumann_clara"),
    ("unknown_artist", None),
    ("  ", None),
])
def test_labels_are_canonical_token_names(raw: str, label: str | None) -> None:
    assert normalize_label(raw) == label


def test_prefix_label_is_the_text_before_the_first_dash() -> None:
    assert label_from_prefix("bach-bwv001-_400_chorales-016806b") == "bach"
    assert label_from_prefix("skriabin-etude") == "scriabin"
    assert label_from_prefix("Maestro_1") is None


def test_parent_prefix_and_none_labelling(tmp_path: Path) -> None:
    touch(tmp_path / "Bach" / "bach-a.mid")
    touch(tmp_path / "Mozart" / "sub" / "haendel-b.MIDI")
    touch(tmp_path / "loose-c.mid")
    touch(tmp_path / "notes.txt")

    def labels(mode: str) -> dict[str, str | None]:
        return {s.id: s.label for s in midi_dir_sources(tmp_path, mode).sources}

    assert labels("parent") == {"Bach/bach-a.mid": "bach", "Mozart/sub/haendel-b.MIDI": "sub", "loose-c.mid": None}
    assert labels("prefix") == {
        "Bach/bach-a.mid": "bach", "Mozart/sub/haendel-b.MIDI": "handel", "loose-c.mid": "loose"}
    assert set(labels("none").values()) == {None}


def test_csv_metadata_labels_listed_files_and_reports_missing_ones(tmp_path: Path) -> None:
    touch(tmp_path / "a.mid")
    touch(tmp_path / "x" / "b.mid")
    touch(tmp_path / "not_listed.mid")
    csv = tmp_path / "meta.csv"
    csv.write_text("midi_filename,canonical_composer,year\na.mid,Frédéric Chopin,1830\nx/b.mid,Bach,1720\n"
                   "gone.mid,Bach,1700\n")
    found = collect_sources(midi_dir=tmp_path, metadata=csv)
    assert {s.id: s.label for s in found.sources} == {"a.mid": "frederic_chopin", "x/b.mid": "bach"}
    assert [(s.id, s.kind) for s in found.skipped] == [("gone.mid", "missing")]
    assert "meta.csv (line 4)" in found.skipped[0].reason
    with pytest.raises(UserError, match="no column 'who'"):
        collect_sources(midi_dir=tmp_path, metadata=csv, composer_column="who")


def test_select_filters_labels_and_limits_per_label(tmp_path: Path) -> None:
    for name in ["bach-3", "bach-1", "bach-2", "mozart-1", "satie-1"]:
        touch(tmp_path / f"{name}.mid")
    sources = midi_dir_sources(tmp_path, "prefix").sources
    assert [s.id for s in select(sources, ["Bach", "mozart"], limit=2)] == ["bach-1.mid", "bach-2.mid", "mozart-1.mid"]
    with pytest.raises(UserError, match="labels present: bach, mozart, satie"):
        select(sources, ["brahms"])


def test_a_source_is_required_and_both_combine(tmp_path: Path, midi_dir: Path) -> None:
    with pytest.raises(UserError, match="give --midi-dir DIR, --music21, or both"):
        collect_sources()
    with pytest.raises(UserError, match="no MIDI files"):
        collect_sources(midi_dir=tmp_path)
    shutil.copy(next((midi_dir / "classical").glob("bach-*.mid")), tmp_path / "bach-one.mid")
    both = collect_sources(midi_dir=tmp_path, music21=True, composer_from="prefix", limit=1)
    kinds = {(p.label, p.kind) for p in both.sources}
    assert ("bach", "music21") in kinds and ("bach", "midi") in kinds
    labels = [p.label for p in both.sources if p.kind == "music21"]
    assert len(labels) == len(set(labels))  # --limit 1 per label of each source
    only = collect_sources(midi_dir=tmp_path, music21=True, composer_from="prefix", composers=["bach"], limit=1)
    assert {p.label for p in only.sources} == {"bach"} and len(only.sources) == 2


def test_split_abc_keeps_the_file_header_apart() -> None:
    header, tunes = split_abc("% book\nL:1/8\n\nX:1\nT:A\nK:G\nGAB|\n\nX:2\nT:B\nK:D\nDEF|\n")
    assert header == "% book\nL:1/8\n\n"
    assert [t.splitlines()[1] for t in tunes] == ["T:A", "T:B"]


def test_music21_listing_one_piece_per_tune_one_format_per_piece() -> None:
    found = music21_sources(["josquin", "bach", "misc_folk"])
    ids = [s.id for s in found.sources]
    assert len(ids) == len(set(ids))
    by_label = {label: [s for s in found.sources if s.label == label] for label in ("josquin", "bach", "misc_folk")}
    assert len(by_label["josquin"]) == 8 and all(s.tune is None for s in by_label["josquin"])  # voices merged
    assert all(s.tune is not None and s.id.endswith(f"#{s.tune}") for s in by_label["misc_folk"])
    assert len(by_label["misc_folk"]) > 150
    assert "bach/bwv277.mxl" in ids and "bach/bwv277.krn" not in ids  # MusicXML preferred
    assert not any(i.endswith(".rntxt") for i in ids)  # analyses, not notes
    assert ("bach/bwv277.krn", "duplicate") in {(s.id, s.kind) for s in found.skipped}


def test_music21_limit_and_unknown_label() -> None:
    found = music21_sources(["essenFolksong"], limit=3)
    assert [s.id for s in found.sources] == sorted(s.id for s in found.sources) and len(found.sources) == 3
    assert {s.label for s in found.sources} == {"essen_folksong"}
    with pytest.raises(UserError, match="palestrina"):
        music21_sources(["no_such_composer"])


def test_data_package_never_loads_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, muse.data, muse.data.build, muse.data.music21_corpus, muse.data.encode, muse.commands.data\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
