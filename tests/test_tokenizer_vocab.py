"""Vocabulary and config: deterministic, versioned, JSON round trip, arrays that describe every id."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from musetok import Kind, MidiTokenizer, TokenizerConfig, TokenizerError, Vocab
from musetok.instruments import FAMILIES, GM_PROGRAMS, PROGRAM_TO_FAMILY
from musetok.vocab import pitch_name, tempo_bin, velocity_bin, velocity_values

DEFAULT = MidiTokenizer()


def test_default_vocabulary_layout_and_examples() -> None:
    v = DEFAULT.vocab
    assert v.tokens[:4] == ("pad", "start", "end", "unknown_composer")
    assert (v.pad_id, v.start_id, v.end_id, v.unknown_composer_id) == (0, 1, 2, 3)
    for token in ("bach", "piano", "strings", "harp", "voice", "drums", "tempo:120", "tempo:60", "tempo:90",
                  "wait:1", "wait:96", "piano:v72:G4", "piano:v0:G4", "strings:v127:C-1", "drums:v96:C2"):
        assert v.token(v.id(token)) == token
    assert "drums:v0:C2" not in v.tokens  # drums are note-on only
    assert v.size < 2**16 and v.id_dtype == np.uint16  # token shards fit uint16
    assert pitch_name(60) == "C4" and pitch_name(67) == "G4" and pitch_name(0) == "C-1" and pitch_name(127) == "G9"


def test_vocabulary_is_a_pure_function_of_the_config() -> None:
    assert Vocab(TokenizerConfig()).tokens == DEFAULT.vocab.tokens
    assert Vocab(TokenizerConfig()).fingerprint == DEFAULT.vocab.fingerprint
    other = Vocab(TokenizerConfig(composers=("bach", "mozart")))
    assert other.fingerprint != DEFAULT.vocab.fingerprint


def parse(token: str) -> tuple:
    """(kind, key name, velocity value, pitch, wait) read back from a token string."""
    if m := re.fullmatch(r"(\w+):v(\d+):([A-G]#?)(-?\d+)", token):
        name, vel, step, octave = m.groups()
        pitch = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B").index(step) + 12 * (int(octave) + 1)
        return ("drum" if name == "drums" else "note", name, int(vel), pitch, 0)
    if m := re.fullmatch(r"wait:(\d+)", token):
        return ("wait", None, -1, -1, int(m.group(1)))
    return ("other", None, -1, -1, 0)


@pytest.mark.parametrize("config", [TokenizerConfig(), TokenizerConfig(family_mode="program", pedal="tokens",
                                                                       time_signatures=True, velocity_bins=8)])
def test_id_arrays_agree_with_the_token_strings(config: TokenizerConfig) -> None:
    v = Vocab(config)
    values = velocity_values(config.velocity_bins)
    stride = 1 if v.size < 50_000 else 7  # every id of the default vocabulary, a sample of the big one
    for i in range(0, v.size, stride):
        kind, name, vel, pitch, wait = parse(v.tokens[i])
        assert int(v.wait_ticks[i]) == wait
        if kind in ("note", "drum"):
            assert v.kind[i] == (Kind.DRUM if kind == "drum" else Kind.NOTE)
            assert v.instruments[v.key[i]] == name
            assert values[v.velocity[i]] == vel and v.pitch[i] == pitch
            assert v.is_on[i] == (vel > 0)
        else:
            assert v.pitch[i] == -1 and v.velocity[i] == -1
    assert (v.kind == Kind.TEMPO).sum() == len(v.tempo_values)
    tempos = v.tempo_bpm[v.kind == Kind.TEMPO]
    assert np.all(np.diff(tempos) > 0) and 120.0 in tempos
    assert not v.kind.flags.writeable  # shared, read-only


def test_velocity_and_tempo_bins() -> None:
    assert velocity_values(16).tolist() == [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 127]
    for bins in (4, 10, 16, 32, 64):
        v = np.arange(1, 128)
        b = velocity_bin(v, bins)
        assert b.min() >= 1 and b.max() <= bins and np.all(np.diff(b) >= 0)
        assert np.array_equal(velocity_bin(velocity_values(bins)[1:], bins), np.arange(1, bins + 1))
    cfg = TokenizerConfig()
    values = Vocab(cfg).tempo_values
    assert np.array_equal(tempo_bin(values, cfg), np.arange(len(values)))  # every bin maps to itself
    assert tempo_bin(5.0, cfg) == 0 and tempo_bin(5000.0, cfg) == len(values) - 1  # clipped to the range
    assert values[tempo_bin(89.0, cfg)] == pytest.approx(89.9, abs=0.1)  # 12 bins per octave around 120


def test_family_map_covers_all_programs() -> None:
    assert len(GM_PROGRAMS) == 128 and len(set(GM_PROGRAMS)) == 128
    assert FAMILIES[PROGRAM_TO_FAMILY[0]] == "piano" and FAMILIES[PROGRAM_TO_FAMILY[46]] == "harp"
    assert FAMILIES[PROGRAM_TO_FAMILY[52]] == "voice" and FAMILIES[PROGRAM_TO_FAMILY[73]] == "winds"
    assert FAMILIES[PROGRAM_TO_FAMILY[19]] == "organ" and FAMILIES[PROGRAM_TO_FAMILY[42]] == "strings"
    program_vocab = Vocab(TokenizerConfig(family_mode="program"))
    assert program_vocab.instruments == (*GM_PROGRAMS, "drums")
    assert program_vocab.id_dtype == np.uint32


def test_composer_lookup_normalizes_and_lists_known_names() -> None:
    v = DEFAULT.vocab
    assert v.composer_id("Bach") == v.composer_id(" bach ") == v.id("bach")
    assert v.composer_id(None) == v.unknown_composer_id
    with pytest.raises(TokenizerError, match=r"unknown composer 'Zappa'; known composers: bach, beethoven"):
        v.composer_id("Zappa")
    assert TokenizerConfig(composers=("C. P. E. Bach",)).composers == ("c_p_e_bach",)


def test_config_json_round_trip_and_strictness(tmp_path) -> None:
    cfg = TokenizerConfig(composers=("bach", "folk"), family_mode="program", pedal="tokens", ticks_per_beat=48,
                          tempo_range=(30.0, 300.0))
    path = tmp_path / "cfg.json"
    cfg.save(path)
    assert TokenizerConfig.load(path) == cfg
    assert TokenizerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    path.write_text(json.dumps({**cfg.to_dict(), "tempo_binz": 3}))
    with pytest.raises(TokenizerError, match=r"cfg.json: unknown tokenizer config key\(s\) \['tempo_binz'\]"):
        TokenizerConfig.load(path)
    for bad, message in [({"pedal": "sometimes"}, "pedal must be"), ({"ticks_per_beat": 0}, "ticks_per_beat"),
                         ({"velocity_bins": 65}, "velocity_bins"), ({"composers": ["a", "a"]}, "unique"),
                         ({"tempo_range": [130, 300]}, "tempo_range"), ({"version": 2}, "version 2")]:
        with pytest.raises(TokenizerError, match=message):
            TokenizerConfig.from_dict(bad)
    with pytest.raises(TokenizerError, match="duplicate tokens"):
        Vocab(TokenizerConfig(composers=("piano",)))


def test_tokenizer_save_load_is_versioned(tmp_path) -> None:
    tok = MidiTokenizer(TokenizerConfig(composers=("bach", "mozart"), time_signatures=True))
    path = tmp_path / "vocab.json"
    tok.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "musetok-vocab" and data["format_version"] == 1 and data["config"]["version"] == 1
    assert data["tokens"] == list(tok.vocab.tokens) and data["size"] == tok.vocab.size
    loaded = MidiTokenizer.load(path)
    assert loaded.config == tok.config and loaded.vocab.fingerprint == tok.vocab.fingerprint
    path.write_text(json.dumps({**data, "tokens": data["tokens"][::-1]}))
    with pytest.raises(TokenizerError, match="differs from the one its config builds"):
        MidiTokenizer.load(path)
    path.write_text(json.dumps({**data, "format_version": 99}))
    with pytest.raises(TokenizerError, match="newer than this musetok"):
        MidiTokenizer.load(path)
    path.write_text("{not json")
    with pytest.raises(TokenizerError, match="vocab.json: cannot read tokenizer file"):
        MidiTokenizer.load(path)


def test_text_and_unknown_tokens() -> None:
    ids = DEFAULT.ids_from_text("bach piano start tempo:90 piano:v72:G1 wait:12 piano:v0:G1 end")
    assert DEFAULT.text(ids) == "bach piano start tempo:90 piano:v72:G1 wait:12 piano:v0:G1 end"
    assert DEFAULT.text([5, -1, 10**6]).split()[1:] == ["<?-1>", "<?1000000>"]
    with pytest.raises(TokenizerError, match=r"song.txt: unknown token 'piano:v73:G1' at position 1"):
        DEFAULT.ids_from_text("start piano:v73:G1", "song.txt")
