"""Jukebox lyric and label processing matches the original's outputs in text/lyrics_and_labels.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from musetok.errors import TokenizerError
from musetok.labels import LabelIds, label_row, normalize_v2, read_id_file, resolve_artist, resolve_genres
from musetok.lyrics import LyricsProcessor, lyric_window


@pytest.fixture(scope="module")
def cases(jukebox_ref: Path) -> dict:
    return json.loads((jukebox_ref / "text" / "lyrics_and_labels.json").read_text(encoding="utf-8"))


def version(case: dict) -> str:
    return "v3" if case["v3"] else "v2"


@pytest.fixture(scope="module")
def label_ids(jukebox_ref: Path) -> dict[str, LabelIds]:
    return {v: LabelIds.from_dir(jukebox_ref / "ids", v) for v in ("v2", "v3")}


def test_vocabulary_sizes_and_order() -> None:
    v2, v3 = LyricsProcessor("v2"), LyricsProcessor("v3")
    assert (v2.n_vocab, v3.n_vocab) == (80, 79)
    assert v2.encode("Aa0") == [1, 27, 53]
    assert v2.decode(v2.encode("[x]\n")) == "[x]\n"
    assert "+" in v2.alphabet and "+" not in v3.alphabet


def test_clean_and_ids_match_reference(cases: dict) -> None:
    assert cases["lyrics"], "no lyric cases in the reference file"
    for case in cases["lyrics"]:
        proc = LyricsProcessor(version(case))
        assert proc.clean(case["text"]) == case["clean"], case["text"]
        assert proc.encode(case["text"]) == case["ids"], case["text"]
        assert proc.decode(case["ids"]) == case["clean"]


def test_lyric_windows_match_reference(cases: dict) -> None:
    joiner = cases["full_text_joined_with"]
    assert cases["windows"]
    for case in cases["windows"]:
        texts = [c["text"] for c in cases["lyrics"] if c["v3"] == case["v3"]]
        full = LyricsProcessor(version(case)).encode(joiner.join(texts))
        assert len(full) == case["n_full"]
        window = lyric_window(full, case["n_tokens"], case["total_length"], case["offset"], case["duration"])
        assert window.tokens == case["tokens"], case
        assert window.indices == case["indices"], case
        assert len(window.tokens) == case["n_tokens"]


def test_artist_ids_match_reference(cases: dict, label_ids: dict[str, LabelIds]) -> None:
    for case in cases["artists"]:
        assert label_ids[version(case)].artist_id(case["name"]) == case["id"], case


def test_genre_ids_match_reference(cases: dict, label_ids: dict[str, LabelIds]) -> None:
    for case in cases["genres"]:
        assert label_ids[version(case)].genre_ids(case["name"]) == case["ids"], case


def test_v2_normalisation() -> None:
    assert normalize_v2("AC/DC") == "ac_dc"
    assert normalize_v2("  The -- Beatles!! ") == "the_beatles"
    assert normalize_v2("Beyoncé") == "beyonc"


def test_integer_ids_pass_through_without_files() -> None:
    assert resolve_artist(145, None) == 145
    assert resolve_artist("145", None) == 145
    assert resolve_genres("11, 8", None) == [11, 8]
    assert resolve_genres(3, None) == [3]
    with pytest.raises(TokenizerError, match="no artist id file"):
        resolve_artist("The Beatles", None)
    with pytest.raises(TokenizerError, match="no genre id file"):
        resolve_genres("rock", None)


def test_names_resolve_through_files(label_ids: dict[str, LabelIds]) -> None:
    v2 = label_ids["v2"]
    assert resolve_artist("AC/DC", v2) == v2.artist_id("AC/DC") != 0
    assert resolve_genres("Country Rock", v2) == v2.genre_ids("Country Rock")


def test_label_row_layout() -> None:
    row = label_row(441000, 1000, 8192, 7, [3, 4], 5, [10, 11])
    assert row == [441000, 1000, 8192, 7, 3, 4, -1, -1, -1, 10, 11]
    with pytest.raises(TokenizerError, match="at most 1"):
        label_row(441000, 0, 8192, 7, [3, 4], 1)
    with pytest.raises(TokenizerError, match="artist id 50"):
        label_row(441000, 0, 8192, 50, [3], 1, n_artists=40)


def test_bad_id_files_name_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "v2_artist_ids.txt"
    bad.write_text("ok;1\nno separator here\n")
    with pytest.raises(TokenizerError, match=r"v2_artist_ids.txt:2: expected 'name;id'"):
        read_id_file(bad)
    bad.write_text("ok;1\n\nname;x1\n")
    with pytest.raises(TokenizerError, match=r"v2_artist_ids.txt:3: id 'x1' is not an integer"):
        read_id_file(bad)
    with pytest.raises(TokenizerError, match="not found"):
        read_id_file(tmp_path / "missing.txt")
    with pytest.raises(TokenizerError, match="ids directory not found"):
        LabelIds.from_dir(tmp_path / "nope", "v2")


def test_id_files_lower_case_names_and_later_lines_win(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("Some Band;3\nsome band;4\n;0\n")
    assert read_id_file(path) == {"some band": 4, "": 0}
