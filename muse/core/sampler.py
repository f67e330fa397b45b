"""A SoundFont sample player in numpy: MIDI notes -> stereo audio, no system library needed.

Each note plays every zone of its General MIDI preset that covers its key and velocity
(``muse.core.soundfont``): the zone's sample is read at the note's pitch ratio by linear
interpolation (looped between its loop points when the zone's sample mode says so), shaped by
the zone's volume envelope and placed in the stereo field by its pan. One note is one numpy
expression over all its output samples, so a 20 s piano piece renders in well under a second.

What it models, after the SoundFont 2.04 synthesis model (section 9):

- pitch: ``(key - root) * scaleTuning + coarseTune + fineTune + the sample's correction`` cents,
  the root being ``overridingRootKey`` or the sample's original pitch;
- volume envelope: delay, attack (linear), hold, decay and release (linear in decibels, 100 dB
  over the decay/release time), sustain level, hold/decay scaled by key; ``initialAttenuation``
  (scaled by 0.4 as FluidSynth does, the EMU convention most soundfonts are voiced for) and the
  default velocity curve (amplitude ``(velocity / 127) ** 2``);
- the low-pass filter (``initialFilterFc``, raised by ``modEnvToFilterFc`` times the modulation
  envelope): a second-order low-pass whose cut-off follows that envelope in segments of doubling
  length; the filter's resonance is left out;
- channel volume (CC 7) and pan (CC 10) as each track first sets them, the sustain pedal (CC 64)
  holding notes until it is released.

Left out: LFOs (vibrato, tremolo), pitch bends, modulators other than the defaults above,
exclusive classes, reverb and chorus.
"""

from __future__ import annotations

import math

import numpy as np
import symusic
from scipy.signal import lfilter

from muse.core import soundfont as sf2
from muse.core.soundfont import SoundFont, Voice

MASTER_GAIN = 0.7  # as loud as `fluidsynth -g 0.6` (what render_midi runs); dense passages are scaled down
MAX_RELEASE = 8.0  # seconds of release rendered at most (the envelope is then 80 dB down or more)
_EMU_ATTENUATION = 0.4
_FILTER_OFF_CENTS = 13500  # initialFilterFc at or above this: no filter (SoundFont 2.04, 8.1.3)
CONTROL_BLOCK = 64  # samples per envelope value (FluidSynth's block size)


def timecents(value: int) -> float:
    """Seconds of a timecents value (-12000 and below: about 1 ms; the SoundFont's "instant")."""
    return 2.0 ** (max(int(value), -12000) / 1200.0)


def _volume_envelope(voice: Voice, key: int, n: int, off: int, rate: int) -> np.ndarray:
    """Amplitude (n,) of the volume envelope for a key held ``off`` samples, then released.

    Computed once per block of ``CONTROL_BLOCK`` samples and held across it, as FluidSynth does."""
    g = voice.gen
    delay, attack = timecents(g(sf2.DELAY_VOL)), timecents(g(sf2.ATTACK_VOL))
    hold = timecents(g(sf2.HOLD_VOL) + g(sf2.KEY_TO_HOLD) * (60 - key))
    decay = timecents(g(sf2.DECAY_VOL) + g(sf2.KEY_TO_DECAY) * (60 - key))
    sustain = float(np.clip(g(sf2.SUSTAIN_VOL), 0, 1440)) / 1000.0  # share of the 100 dB scale
    t = np.arange(0, n, CONTROL_BLOCK) / rate
    amp = 10.0 ** (-5.0 * _decay_shape(t, delay + attack + hold, decay, sustain))
    amp = np.where(t < delay, 0.0, np.where(t < delay + attack, (t - delay) / attack, amp))
    t_off = off / rate
    if t_off < t[-1]:
        level = float(np.interp(t_off, t, amp))
        released = t >= t_off
        amp[released] = level * 10.0 ** (-5.0 * (t[released] - t_off) / timecents(g(sf2.RELEASE_VOL)))
    return np.repeat(amp.astype(np.float32), CONTROL_BLOCK)[:n]


def _decay_shape(t: np.ndarray, start: float, decay: float, sustain: float) -> np.ndarray:
    """How far an envelope has decayed at times ``t``, as a share of its full scale: 0 until
    ``start`` (the end of attack and hold), then rising linearly (full scale over ``decay``) to ``sustain``."""
    return np.clip((t - start) / decay, 0.0, sustain)


def _mod_envelope(voice: Voice, key: int, t: np.ndarray, off: float) -> np.ndarray:
    """The modulation envelope's level (1 at its peak, 0 at rest) at times ``t`` (seconds)."""
    g = voice.gen
    delay, attack = timecents(g(sf2.DELAY_MOD)), timecents(g(sf2.ATTACK_MOD))
    hold = timecents(g(sf2.HOLD_MOD) + g(sf2.KEY_TO_MOD_HOLD) * (60 - key))
    decay = timecents(g(sf2.DECAY_MOD) + g(sf2.KEY_TO_MOD_DECAY) * (60 - key))
    sustain = float(np.clip(g(sf2.SUSTAIN_MOD), 0, 1000)) / 1000.0  # a decrease, in 0.1 % of full scale
    level = 1.0 - _decay_shape(t, delay + attack + hold, decay, sustain)
    level = np.where(t < delay, 0.0, np.where(t < delay + attack, (t - delay) / attack, level))
    release = timecents(g(sf2.RELEASE_MOD))
    at_off = float(np.interp(off, t, level)) if len(t) else 0.0
    return np.where(t < off, level, np.maximum(at_off * (1.0 - (t - off) / release), 0.0))


def _low_pass(x: np.ndarray, voice: Voice, key: int, off: int, rate: int) -> np.ndarray:
    """``x`` (n,) through the zone's low-pass filter, its cut-off following the modulation envelope:
    constant within segments that double in length (20 ms, 40 ms, ...; the envelope changes fastest
    at the start), a new segment at the key's release."""
    fc, depth = voice.gen(sf2.FILTER_FC), voice.gen(sf2.MOD_ENV_TO_FILTER_FC)
    if fc >= _FILTER_OFF_CENTS and depth >= 0:
        return x
    first = int(0.02 * rate)
    edges = [0] + [first * 2**k for k in range(max(1, int(math.log2(max(len(x), first) / first)) + 1))]
    edges = sorted({e for e in edges if e < len(x)} | {min(off, len(x)), len(x)})
    bounds = np.array(edges)
    mid = (bounds[:-1] + bounds[1:]) / 2 / rate
    cents = np.clip(fc + depth * _mod_envelope(voice, key, mid, off / rate), 1500, _FILTER_OFF_CENTS)
    hz = np.minimum(8.176 * 2.0 ** (cents / 1200.0), 0.45 * rate)
    out = np.empty_like(x)
    zi = np.zeros(2)
    for a, b_, f in zip(bounds[:-1], bounds[1:], hz):
        b, a_ = _biquad_low_pass(float(f), rate)
        out[a:b_], zi = lfilter(b, a_, x[a:b_], zi=zi)
    return out


def _biquad_low_pass(hz: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients of a second-order Butterworth low-pass (the RBJ cookbook's, Q = 1/sqrt 2)."""
    w = 2.0 * math.pi * hz / rate
    alpha = math.sin(w) / math.sqrt(2.0)
    cos = math.cos(w)
    b = np.array([(1 - cos) / 2, 1 - cos, (1 - cos) / 2])
    a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return b / a[0], a / a[0]


def _read_sample(font: SoundFont, voice: Voice, key: int, n: int, rate: int) -> np.ndarray:
    """The voice's sample read at the key's pitch for ``n`` output samples (zeros past its end)."""
    g, s = voice.gen, voice.sample
    start = s.start + g(sf2.START_OFFSET) + 32768 * g(sf2.START_COARSE)
    end = s.end + g(sf2.END_OFFSET) + 32768 * g(sf2.END_COARSE)
    loop_start = s.loop_start + g(sf2.LOOP_START_OFFSET) + 32768 * g(sf2.LOOP_START_COARSE) - start
    loop_end = s.loop_end + g(sf2.LOOP_END_OFFSET) + 32768 * g(sf2.LOOP_END_COARSE) - start
    start, end = max(0, start), min(end, len(font.data))
    if end - start < 2:
        return np.zeros(n, np.float32)
    data = np.asarray(font.data[start:end], dtype=np.float32) / 32768.0
    root = g(sf2.ROOT_KEY) if g(sf2.ROOT_KEY) >= 0 else (s.original_pitch if s.original_pitch <= 127 else 60)
    pitch_key = g(sf2.KEYNUM) if g(sf2.KEYNUM) >= 0 else key
    cents = (pitch_key - root) * g(sf2.SCALE_TUNING) + 100 * g(sf2.COARSE_TUNE) + g(sf2.FINE_TUNE) + s.pitch_correction
    step = 2.0 ** (cents / 1200.0) * s.sample_rate / rate
    pos = np.arange(n, dtype=np.float64) * step
    if g(sf2.SAMPLE_MODES) & 1 and 0 <= loop_start < loop_end <= len(data):
        # positions past the loop's end wrap into it; the point after the loop's last is its first
        past = pos[int(np.searchsorted(pos, loop_end)):]
        past -= loop_start
        np.mod(past, loop_end - loop_start, out=past)
        past += loop_start
        data = np.append(data[:loop_end], data[loop_start])
    else:
        pos = pos[:min(n, int(math.ceil((len(data) - 1) / step)))]  # silence past the sample's end
    i0 = pos.astype(np.int64)
    frac = (pos - i0).astype(np.float32)
    here = data[i0]
    out = np.zeros(n, np.float32)
    out[:len(pos)] = here + (data[i0 + 1] - here) * frac
    return out


def _track_setting(track: symusic.Track, number: int, default: int) -> int:
    """The first value the track sets for controller ``number`` (at or before its first note)."""
    first_note = float(track.notes[0].time) if len(track.notes) else math.inf
    values = [c for c in track.controls if int(c.number) == number and float(c.time) <= first_note]
    return int(values[-1].value) if values else default


def _note_ends(track: symusic.Track) -> np.ndarray:
    """When each note of the track is released (seconds): its end, or later while the sustain pedal is down."""
    notes = track.notes.numpy()
    ends = notes["time"] + notes["duration"]
    for pedal in track.pedals:
        down, up = float(pedal.time), float(pedal.time) + float(pedal.duration)
        held = (ends >= down) & (ends < up)
        ends[held] = up
    return ends


def render_score(score: symusic.Score, font: SoundFont, sample_rate: int = 44100, tail: float = 1.0) -> np.ndarray:
    """Render ``score`` with ``font``; returns float32 (N, 2), N = (end + tail) * rate + 1."""
    score = score.to("second")
    n_total = int(round((float(score.end()) + tail) * sample_rate)) + 1
    out = np.zeros((n_total, 2), dtype=np.float32)
    for track in score.tracks:
        preset = font.preset_for(int(track.program), bool(track.is_drum))
        if preset is None or not len(track.notes):
            continue
        channel_gain = (_track_setting(track, 7, 100) / 127.0) ** 2 * MASTER_GAIN
        channel_pan = (_track_setting(track, 10, 64) - 64) / 64.0 * 500.0
        notes = track.notes.numpy()
        for time, key, velocity, end in zip(notes["time"], notes["pitch"], notes["velocity"], _note_ends(track)):
            start = int(round(float(time) * sample_rate))
            if start >= n_total or velocity <= 0:
                continue
            off = max(1, int(round((float(end) - float(time)) * sample_rate)))
            for voice in font.voices(preset, int(key), int(velocity)):
                release = min(timecents(voice.gen(sf2.RELEASE_VOL)), MAX_RELEASE)
                n = min(off + int(release * sample_rate), n_total - start)
                if n <= 0:
                    continue
                wave = _read_sample(font, voice, int(key), n, sample_rate)
                wave = _low_pass(wave, voice, int(key), off, sample_rate)
                attenuation = _EMU_ATTENUATION * max(voice.gen(sf2.ATTENUATION), 0)
                gain = channel_gain * (int(velocity) / 127.0) ** 2 * 10.0 ** (-attenuation / 200.0)
                voiced = (wave * _volume_envelope(voice, int(key), n, off, sample_rate) * gain).astype(np.float32)
                pan = np.clip(voice.gen(sf2.PAN) + channel_pan, -500, 500)
                angle = (pan + 500.0) / 1000.0 * math.pi / 2
                out[start:start + n, 0] += voiced * math.cos(angle)
                out[start:start + n, 1] += voiced * math.sin(angle)
    return out


__all__ = ["render_score", "timecents", "MASTER_GAIN"]
