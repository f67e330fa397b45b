"""General MIDI programs and the instrument families used as MuseNet-style instrument tokens.

An *instrument key* is what a note token names: in ``family`` mode one of ``FAMILIES`` (the 16
GM families, re-cut so that harp, voice/choir and timpani, which matter for classical music, get
their own family and the three synth families are one), in ``program`` mode one GM program
(0-127). Drums (MIDI channel 10) are always their own key, whatever the program.
"""

from __future__ import annotations

import numpy as np

GM_PROGRAMS: tuple[str, ...] = (
    "acoustic_grand_piano", "bright_acoustic_piano", "electric_grand_piano", "honky_tonk_piano",
    "electric_piano_1", "electric_piano_2", "harpsichord", "clavinet",
    "celesta", "glockenspiel", "music_box", "vibraphone", "marimba", "xylophone", "tubular_bells",
    "dulcimer",
    "drawbar_organ", "percussive_organ", "rock_organ", "church_organ", "reed_organ", "accordion",
    "harmonica", "tango_accordion",
    "acoustic_guitar_nylon", "acoustic_guitar_steel", "electric_guitar_jazz", "electric_guitar_clean",
    "electric_guitar_muted", "overdriven_guitar", "distortion_guitar", "guitar_harmonics",
    "acoustic_bass", "electric_bass_finger", "electric_bass_pick", "fretless_bass", "slap_bass_1",
    "slap_bass_2", "synth_bass_1", "synth_bass_2",
    "violin", "viola", "cello", "contrabass", "tremolo_strings", "pizzicato_strings",
    "orchestral_harp", "timpani",
    "string_ensemble_1", "string_ensemble_2", "synth_strings_1", "synth_strings_2", "choir_aahs",
    "voice_oohs", "synth_voice", "orchestra_hit",
    "trumpet", "trombone", "tuba", "muted_trumpet", "french_horn", "brass_section", "synth_brass_1",
    "synth_brass_2",
    "soprano_sax", "alto_sax", "tenor_sax", "baritone_sax", "oboe", "english_horn", "bassoon",
    "clarinet",
    "piccolo", "flute", "recorder", "pan_flute", "blown_bottle", "shakuhachi", "whistle", "ocarina",
    "lead_square", "lead_sawtooth", "lead_calliope", "lead_chiff", "lead_charang", "lead_voice",
    "lead_fifths", "lead_bass_lead",
    "pad_new_age", "pad_warm", "pad_polysynth", "pad_choir", "pad_bowed", "pad_metallic", "pad_halo",
    "pad_sweep",
    "fx_rain", "fx_soundtrack", "fx_crystal", "fx_atmosphere", "fx_brightness", "fx_goblins",
    "fx_echoes", "fx_sci_fi",
    "sitar", "banjo", "shamisen", "koto", "kalimba", "bagpipe", "fiddle", "shanai",
    "tinkle_bell", "agogo", "steel_drums", "woodblock", "taiko_drum", "melodic_tom", "synth_drum",
    "reverse_cymbal",
    "guitar_fret_noise", "breath_noise", "seashore", "bird_tweet", "telephone_ring", "helicopter",
    "applause", "gunshot",
)
assert len(GM_PROGRAMS) == 128

# (family name, GM programs it covers, program written when decoding). Order = token id order.
_FAMILY_TABLE: tuple[tuple[str, tuple[int, ...], int], ...] = (
    ("piano", tuple(range(0, 8)), 0),
    ("chromatic", tuple(range(8, 16)), 11),  # chromatic percussion: celesta ... dulcimer
    ("timpani", (47,), 47),
    ("organ", tuple(range(16, 24)), 19),
    ("guitar", tuple(range(24, 32)), 24),
    ("bass", tuple(range(32, 40)), 32),
    ("strings", tuple(range(40, 46)), 40),
    ("harp", (46,), 46),
    ("ensemble", (48, 49, 50, 51, 55), 48),
    ("voice", (52, 53, 54), 52),
    ("brass", tuple(range(56, 64)), 56),
    ("reed", tuple(range(64, 72)), 68),
    ("winds", tuple(range(72, 80)), 73),  # GM "pipe": piccolo, flute, recorder ...
    ("synth", tuple(range(80, 104)), 80),  # GM synth lead + synth pad + synth effects
    ("ethnic", tuple(range(104, 112)), 104),
    ("percussive", tuple(range(112, 120)), 115),
    ("effects", tuple(range(120, 128)), 120),
)

FAMILIES: tuple[str, ...] = tuple(name for name, _, _ in _FAMILY_TABLE)
DRUMS = "drums"

#: ``PROGRAM_TO_FAMILY[p]`` is the index in ``FAMILIES`` of GM program ``p`` (shape (128,)).
PROGRAM_TO_FAMILY = np.full(128, -1, dtype=np.int16)
for _index, (_name, _programs, _) in enumerate(_FAMILY_TABLE):
    PROGRAM_TO_FAMILY[list(_programs)] = _index
assert (PROGRAM_TO_FAMILY >= 0).all(), "every GM program belongs to a family"

#: Program written for each family when decoding in ``family`` mode (shape (len(FAMILIES),)).
FAMILY_PROGRAM = np.array([program for _, _, program in _FAMILY_TABLE], dtype=np.int16)


def instrument_names(family_mode: str) -> tuple[str, ...]:
    """Names of the instrument keys in id order; the last one is always ``drums``."""
    melodic = FAMILIES if family_mode == "family" else GM_PROGRAMS
    return (*melodic, DRUMS)


def program_to_key(family_mode: str) -> np.ndarray:
    """Instrument-key index of each GM program (shape (128,), int16)."""
    if family_mode == "family":
        return PROGRAM_TO_FAMILY.copy()
    return np.arange(128, dtype=np.int16)


def key_to_program(family_mode: str) -> np.ndarray:
    """GM program written when decoding each melodic instrument key (shape (n_keys - 1,))."""
    if family_mode == "family":
        return FAMILY_PROGRAM.copy()
    return np.arange(128, dtype=np.int16)
