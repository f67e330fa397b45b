"""``MuseGenerator``: compose or continue music with a trained model, write MIDI and WAV.

    gen = MuseGenerator()                          # the bundled model (muse/assets/model)
    pieces = gen.generate("chopin", ["piano"], seconds=30, seed=7, n=2)
    gen.save(pieces, "out.mid", wav="out.wav")     # out_1.mid, out_2.mid (+ .wav)
    more = gen.continue_midi("in.mid", "mozart", seconds=20)

Generation runs the shared sampling engine (``muse.core.sampling.generate``) with the model's KV
cache, the grammar constraints of ``muse.grammar`` (chosen instruments only, note-offs only for
sounding notes, every note released and ``end`` exactly at the requested length, and the note
limits: the model's ``note_limits.json`` (``muse.note_limits``) unless ``max_note_seconds`` /
``max_polyphony`` override them; no chosen instrument silent for more than ``max_instrument_rest``
seconds nor below ``min_instrument_share`` of the notes (``muse.requests``); with ``bpm``, that tempo
held (``muse.tempo``)) and windowed continuation past the context (the header is kept;
``muse.decoding`` keeps the time/structure embeddings right). With ``key``, each piece is transposed
to that key (``muse.tonality``); every piece reports its key.
The CLI (``muse generate`` / ``muse continue``) and the demo only call this facade.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import symusic
import torch

from musetok import MidiTokenizer
from musetok.vocab import Kind

from muse import sampling_defaults as D
from muse.composers.mixing import ComposerMix, parse_composer_mix
from muse.core.errors import UserError
from muse.core.logits import SamplingConfig
from muse.core.ranges import MAX_GENERATE_SECONDS, MAX_PIECES, check_device, check_number, check_sampling, check_seed
from muse.core.render import RenderResult, render_midi
from muse.core.sampling import GuidedDecoder, generate, row_seeds
from muse.decoding import PieceDecoder
from muse.grammar import MusicGrammar, instrument_keys
from muse.music_stats import score_notes
from muse.note_limits import KeyLimits, NoteLimits, key_limits
from muse.requests import Requests, check_requests
from muse.rerank import Reranker, best_of_groups
from muse.saved_model import LoadedModel, load_model
from muse.tempo import bpm_range
from muse.tonality import (
    KeyChange,
    KeyRequest,
    as_written,
    detect_key,
    interval_to,
    key_names,
    transpose_melodic,
)

log = logging.getLogger(__name__)

BUNDLED_MODEL = Path(__file__).resolve().parent / "assets" / "model"
MAX_TOKENS_PER_SECOND = 120  # safety cap on generated tokens (dense orchestral music is ~60/s)
MAX_GUIDANCE = 10.0  # classifier-free guidance weights beyond this only produce noise
# The guidance used when none is given, for a model trained with composer dropout and a chosen composer (or
# mix): on the bundled model it raises style adherence from 20% to 69% top-1 (docs/MODEL_CARD.md).
DEFAULT_GUIDANCE = 2.0
MAX_RERANK = 16  # candidates drawn per piece with rerank
IN_MODE_BONUS = 1e6  # added to a candidate's rerank score when it is in the requested mode: above any score


@dataclass(frozen=True)
class Piece:
    """One generated piece: its token ``ids`` (header first), decoded ``score``, length, and how
    it ended: ``ended`` with the ``end`` token; ``skipped``: impossible tokens the decoder skipped
    (0 under the grammar); ``closed``: notes still sounding at the end, closed there."""

    ids: np.ndarray
    score: symusic.Score
    seconds: float
    n_notes: int
    ended: bool
    skipped: int
    closed: int
    seed: int
    key: KeyChange = KeyChange(None)  # the key of its new music, and the transposition a requested key made


def default_model_path() -> Path:
    """The bundled model folder; a ``UserError`` saying what to do when it is not installed."""
    if not (BUNDLED_MODEL / "model.safetensors").is_file():
        raise UserError(f"no bundled model at {BUNDLED_MODEL}: train one with `muse train` and pass "
                        "--model RUN_FOLDER (or reinstall musebox with its assets)")
    return BUNDLED_MODEL


def numbered_paths(path: str | Path, n: int) -> list[Path]:
    """``out.mid`` for one piece, else ``out_1.mid`` ... ``out_n.mid``."""
    path = Path(path)
    return [path] if n == 1 else [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(1, n + 1)]


class MuseGenerator:
    """Facade over a saved model: ``generate``, ``continue_midi``, ``save`` (MIDI + WAV)."""

    def __init__(self, model: str | Path | LoadedModel | None = None, device: str | torch.device = "cpu") -> None:
        self.loaded = model if isinstance(model, LoadedModel) else \
            load_model(model or default_model_path(), check_device(device))
        self.model = self.loaded.model.eval()
        self.tokenizer: MidiTokenizer = self.loaded.tokenizer
        self.vocab = self.tokenizer.vocab
        self.device = next(self.model.parameters()).device
        self.reranker = Reranker(self.loaded, self.device)  # the scores ``rerank`` ranks candidates by

    @property
    def composers(self) -> tuple[str, ...]:
        return tuple(self.vocab.config.composers)

    @property
    def instruments(self) -> tuple[str, ...]:
        return tuple(self.vocab.instruments)

    @property
    def bpm_range(self) -> tuple[int, int]:
        """The lowest and highest tempo ``bpm`` may ask for (the tokenizer's tempo tokens)."""
        return bpm_range(self.vocab)

    @property
    def key_names(self) -> list[str]:
        """The 24 key names ``key`` takes ("C major", "C minor", ...; also "D", "Bb", "c#m" and the like)."""
        return key_names()

    def as_written(self, piece: Piece) -> np.ndarray:
        """The token ids (T,) of ``piece`` as the model wrote them, before a requested ``key`` moved them (a
        continuation's kept prime as it was given)."""
        return as_written(piece.ids, self.vocab, piece.key)

    @property
    def limits(self) -> NoteLimits | None:
        """The note limits stored with the model (None: a model saved without them: no limits)."""
        return self.loaded.limits

    # ---- public API -------------------------------------------------------------------------

    def generate(self, composer: str | None, instruments: Sequence[str] = ("piano",), seconds: float = 30.0, *,
                 temperature: float = D.TEMPERATURE, top_k: int = D.TOP_K, top_p: float = D.TOP_P,
                 min_p: float = D.MIN_P, seed: int | None = None, n: int = 1,
                 callback: Callable[[float, float], None] | None = None,
                 cancel: threading.Event | Callable[[], bool] | None = None, max_note_seconds: float | None = None,
                 max_polyphony: int | None = None, min_note_seconds: float | None = None,
                 guidance: float | None = None, rerank: int = 1,
                 rerank_by: str = "style", critic: str | Path | object | None = None,
                 critic_weight: float = 1.0, max_instrument_rest: float | None = None,
                 min_instrument_share: float | None = None, bpm: float | None = None,
                 key: str | None = None, key_candidates: int | None = None) -> list[Piece]:
        """``n`` new pieces of ``seconds`` seconds by ``composer`` (a name, a style mix such as
        ``"bach:0.7,chopin:0.3"`` (``muse.composers.mixing``), or None: unknown composer) for
        ``instruments`` (names of ``self.instruments``). ``callback(done_seconds, seconds)``
        reports progress; ``cancel`` stops early (the pieces so far are returned).
        ``max_note_seconds`` / ``max_polyphony`` / ``min_note_seconds`` (the shortest a note may sound, at
        most ``MAX_MIN_NOTE_SECONDS``): None keeps the model's note limits, a positive number sets it for
        every instrument, 0 removes the limit. ``guidance`` W: classifier-free
        guidance toward the composer, ``logits = uncond + W (cond - uncond)`` (1 = plain sampling; None:
        ``DEFAULT_GUIDANCE`` for a model trained with composer dropout when a composer is given, else 1;
        needs a model trained with composer dropout). ``rerank`` K: draw K candidates per piece
        and keep the best by ``rerank_by``: ``style`` (the model's composer posterior for the
        composer or mix), ``critic`` (the score of ``critic``, a critic or reward model folder or
        a loaded ``muse.critic.Critic``; None: the bundled critic) or ``both`` (``log posterior +
        critic_weight * critic score``) (``muse.rerank``). ``max_instrument_rest``: the longest any
        of ``instruments`` may go without a new note, in seconds (None: ``DEFAULT_MAX_INSTRUMENT_REST``,
        0: no limit). ``min_instrument_share``: the least share of the notes each of ``instruments`` keeps
        (None: ``DEFAULT_MIN_INSTRUMENT_SHARE``, 0: no floor; ``muse.requests``). ``bpm``: the tempo, held
        throughout (None: the model's choice; ``muse.tempo``).
        ``key``: a key name ("D minor", "F#"); each piece is transposed there (``muse.tonality``); for a key
        with a mode, ``key_candidates`` are drawn per piece and the first written in that mode is kept (None:
        ``DEFAULT_KEY_CANDIDATES``; with ``rerank``, the best-ranked of those in the mode)."""
        limits = self._limits(max_note_seconds, max_polyphony, min_note_seconds)
        keys = self._instrument_keys(instruments)
        mix = self._mix(composer)
        request = self.check_requests(max_instrument_rest, min_instrument_share, bpm, key, key_candidates)
        header = [self._composer_id(mix)] + [self.vocab.instrument_base + k for k in keys] + [self.vocab.start_id]
        return self._sample(np.array([*header, *request.tempo], np.int64), len(header), keys, 0.0, seconds, n,
                            self._sampling(temperature, top_k, top_p, min_p), seed, callback, cancel, keep_from=0,
                            mix=mix, limits=limits, guidance=guidance, rerank=rerank, rerank_by=rerank_by,
                            critic=critic, critic_weight=critic_weight, request=request)

    def continue_midi(self, midi: str | Path | bytes | symusic.Score, composer: str | None, seconds: float = 20.0, *,
                      instruments: Sequence[str] | None = None, keep_prime: bool = True,
                      temperature: float = D.TEMPERATURE, top_k: int = D.TOP_K, top_p: float = D.TOP_P,
                      min_p: float = D.MIN_P, seed: int | None = None, n: int = 1,
                      callback: Callable[[float, float], None] | None = None,
                      cancel: threading.Event | Callable[[], bool] | None = None, max_note_seconds: float | None = None,
                      max_polyphony: int | None = None, min_note_seconds: float | None = None, strict: bool = False,
                      guidance: float | None = None,
                      rerank: int = 1, rerank_by: str = "style", critic: str | Path | object | None = None,
                      critic_weight: float = 1.0, max_instrument_rest: float | None = None,
                      min_instrument_share: float | None = None, bpm: float | None = None,
                      key: str | None = None, key_candidates: int | None = None) -> list[Piece]:
        """Continue ``midi`` by ``seconds`` seconds in ``composer``'s style (a name, a mix as in
        ``generate``, or None; another composer than the file's is the style-transfer recipe). The model is primed with
        the file's tokens (the engine keeps the header and the last context-length of them).
        ``instruments``: those the continuation may use (default: the file's, drums included), each
        heard again within ``max_instrument_rest`` seconds of the cut. With ``keep_prime``
        a piece holds the prime followed by the continuation, else the continuation alone.
        ``max_note_seconds`` / ``max_polyphony`` / ``min_note_seconds``, ``guidance``, ``rerank``
        (``rerank_by``, ``critic``, ``critic_weight``), ``max_instrument_rest`` and ``min_instrument_share``
        as in ``generate``.
        ``bpm``: the continuation's tempo from the cut on (None: the model's). ``key``: the continuation's
        detected key is taken there, the prime (when kept) moving with it (``key_candidates`` as in
        ``generate``). ``strict``: a MIDI file that
        needs a repair to be read is an error (``TokenizerError``) instead of a warning."""
        limits = self._limits(max_note_seconds, max_polyphony, min_note_seconds)
        mix = self._mix(composer)
        request = self.check_requests(max_instrument_rest, min_instrument_share, bpm, key, key_candidates)
        enc = self.tokenizer.encode(midi, composer=None if mix is None else mix.dominant, strict=strict)
        ids = np.asarray(enc.ids, np.int64)
        header_len = self.vocab.header_length(ids)
        if len(ids) and ids[-1] == self.vocab.end_id:
            ids = ids[:-1]
        if instruments is not None:
            keys = self._instrument_keys(instruments)
            head = [int(ids[0])] + [self.vocab.instrument_base + k for k in keys] + [self.vocab.start_id]
            ids = np.concatenate([np.array(head, np.int64), ids[header_len:]])
            header_len = len(head)
        else:
            keys = self._header_keys(ids)
        prime_seconds = self.tokenizer.seconds(ids)
        if header_len + 1 > self.model.n_ctx - 2:
            raise UserError(f"{enc.source}: its header of {header_len} tokens does not fit the model's context")
        ids = np.concatenate([ids, np.array(request.tempo, np.int64)])  # a requested tempo starts at the cut
        pieces = self._sample(ids, header_len, keys, prime_seconds, prime_seconds + seconds, n,
                              self._sampling(temperature, top_k, top_p, min_p), seed, callback, cancel,
                              keep_from=0 if keep_prime else len(ids), mix=mix, limits=limits, guidance=guidance,
                              rerank=rerank, rerank_by=rerank_by, critic=critic, critic_weight=critic_weight,
                              request=request)
        return pieces

    def instruments_of(self, midi: str | Path | bytes | symusic.Score) -> list[str]:
        """The instruments ``continue_midi`` continues ``midi`` with by default: those the tokenizer reads in it
        (drums included), e.g. to show them before a continuation starts."""
        return [self.instruments[k] for k in self._header_keys(np.asarray(self.tokenizer.encode(midi).ids))]

    def infill(self, midi: str | Path | bytes | symusic.Score, start: float | None = None, end: float | None = None, *,
               bars: tuple[int, int] | None = None, composer: str | None = None,
               instruments: Sequence[str] | None = None, n: int = 1, temperature: float = D.TEMPERATURE,
               top_k: int = D.TOP_K, top_p: float = D.TOP_P, min_p: float = D.MIN_P, seed: int | None = None,
               callback: Callable[[float, float], None] | None = None,
               cancel: threading.Event | Callable[[], bool] | None = None, max_note_seconds: float | None = None,
               max_polyphony: int | None = None, min_note_seconds: float | None = None, strict: bool = False,
               name: str | None = None) -> list:
        """``n`` variations of ``midi`` with the span ``start``-``end`` seconds (or ``bars=(first, last)``)
        regenerated; everything outside it is kept note for note (``muse.editing``, docs/EDITING.md).
        Returns ``muse.editing.EditedPiece`` objects (``save`` writes them); ``.mode`` says how.
        ``name``: what error messages call ``midi`` (default: its path)."""
        from muse.editing import infill

        return infill(self, midi, start, end, bars=bars, composer=composer, instruments=instruments, n=n,
                      sampling=self._sampling(temperature, top_k, top_p, min_p), seed=seed,
                      limits=self._limits(max_note_seconds, max_polyphony, min_note_seconds), callback=callback,
                      cancel=cancel, strict=strict, name=name)

    def infill_span(self, midi: str | Path | bytes | symusic.Score, start: float | None = None,
                    end: float | None = None, *, bars: tuple[int, int] | None = None, strict: bool = False,
                    name: str | None = None) -> tuple[float, float]:
        """The span ``infill`` would regenerate, ``(start, end)`` seconds on the grid, with its checks and
        errors, without generating (e.g. to show the span of ``bars`` before a job starts)."""
        from muse.editing import span_of

        return span_of(self, midi, start, end, bars=bars, strict=strict, name=name)

    def accompany(self, midi: str | Path | bytes | symusic.Score, composer: str | None, instruments: Sequence[str], *,
                  n: int = 1, temperature: float = D.TEMPERATURE, top_k: int = D.TOP_K, top_p: float = D.TOP_P,
                  min_p: float = D.MIN_P, seed: int | None = None,
                  callback: Callable[[float, float], None] | None = None,
                  cancel: threading.Event | Callable[[], bool] | None = None, max_note_seconds: float | None = None,
                  max_polyphony: int | None = None, min_note_seconds: float | None = None, strict: bool = False,
               name: str | None = None) -> list:
        """``n`` accompaniments of ``midi`` (every note of it kept unchanged) for ``instruments`` in
        ``composer``'s style (``muse.editing``, docs/EDITING.md); ``EditedPiece`` objects. ``name`` as
        in ``infill``."""
        from muse.editing import accompany

        return accompany(self, midi, composer, instruments, n=n,
                         sampling=self._sampling(temperature, top_k, top_p, min_p), seed=seed,
                         limits=self._limits(max_note_seconds, max_polyphony, min_note_seconds), callback=callback,
                         cancel=cancel, strict=strict, name=name)

    def save(self, pieces: Sequence[Piece], midi: str | Path, *, wav: str | Path | None = None,
             soundfont: str | Path | None = None, png: str | Path | None = None,
             boundary: float | None = None) -> list[Path]:
        """Write each piece to ``midi`` (numbered ``_1`` ... when several), with ``wav`` render it, with
        ``png`` draw its piano roll (``boundary``: seconds where a kept prime ends, marked on the roll).
        Returns the MIDI paths; the WAV and PNG ones are numbered the same way (``numbered_paths``)."""
        paths = numbered_paths(midi, len(pieces))
        wavs = numbered_paths(wav, len(pieces)) if wav is not None else [None] * len(pieces)
        pngs = numbered_paths(png, len(pieces)) if png is not None else [None] * len(pieces)
        for piece, path, wav_path, png_path in zip(pieces, paths, wavs, pngs):
            self.write_midi(piece, path)
            if wav_path is not None:
                self.write_wav(piece, wav_path, soundfont)
            if png_path is not None:
                self.write_png(piece, png_path, boundary=boundary)
        return paths

    def write_midi(self, piece: Piece, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        score = piece.score
        if not score.tracks:  # a piece without notes: one empty track, so that every MIDI reader opens it
            log.warning("%s: the piece has no notes", path)
            score = score.copy()
            score.tracks.append(symusic.Track("", 0, False))
        try:
            path.write_bytes(score.dumps_midi())
        except OSError as err:
            raise UserError(f"{path}: cannot write MIDI file ({err.strerror or err})") from err
        return path

    def write_wav(self, piece: Piece, path: str | Path, soundfont: str | Path | None = None) -> RenderResult:
        return render_midi(piece.score, path, soundfont=soundfont)

    def write_png(self, piece: Piece, path: str | Path, *, boundary: float | None = None,
                  title: str | None = None) -> Path:
        """Draw the piece's piano roll (``muse.pianoroll``, as the demo shows it) to ``path``."""
        from muse.pianoroll import draw_piano_roll  # matplotlib: loaded only when a picture is asked for

        try:
            return draw_piano_roll(piece.score, path, boundary=boundary, title=title)
        except OSError as err:
            raise UserError(f"{path}: cannot write PNG file ({err.strerror or err})") from err

    # ---- internals --------------------------------------------------------------------------

    def _instrument_keys(self, names: Sequence[str]) -> list[int]:
        if not names:
            raise UserError(f"choose at least one instrument: {', '.join(self.instruments)}")
        return sorted(set(instrument_keys(self.vocab, names)))

    def _header_keys(self, ids: np.ndarray) -> list[int]:
        """The instrument keys the header of ``ids`` (T,) names."""
        return [int(self.vocab.key[i]) for i in ids[1:self.vocab.header_length(ids) - 1]]

    def _limits(self, max_note_seconds: float | None, max_polyphony: int | None,
                min_note_seconds: float | None) -> KeyLimits:
        """The grammar's per-instrument limits (``muse.note_limits.key_limits``), overrides checked."""
        return key_limits(self.limits, self.vocab, max_note_seconds=max_note_seconds, max_polyphony=max_polyphony,
                          min_note_seconds=min_note_seconds)

    def check_requests(self, max_instrument_rest: float | None = None, min_instrument_share: float | None = None,
                       bpm: float | None = None, key: str | None = None, key_candidates: int | None = None) -> Requests:
        """The requests of ``generate`` / ``continue_midi`` checked (``muse.requests``: a one-line ``UserError``
        naming the argument and what it allows), e.g. to refuse a request before a job starts."""
        return check_requests(self.vocab, max_instrument_rest, min_instrument_share, bpm, key, key_candidates)

    def _in_key(self, piece: Piece, request: KeyRequest | None, new_from: float) -> Piece:
        """``piece`` with the key of its music from ``new_from`` seconds on, transposed to ``request`` if any."""
        written = detect_key(score_notes(piece.score).window(new_from, np.inf))
        if request is None or written is None:
            return replace(piece, key=KeyChange(written, 0, request))
        ids, shift = transpose_melodic(piece.ids, self.vocab, interval_to(written, request))
        if shift == 0:
            return replace(piece, key=KeyChange(written, 0, request))
        result = self.tokenizer.decode(ids)
        return replace(piece, ids=ids, score=result.score, n_notes=result.n_notes, skipped=result.skipped,
                       closed=result.closed, key=KeyChange(written, shift, request))

    def _mix(self, composer: str | None) -> ComposerMix | None:
        return None if composer is None else parse_composer_mix(composer, self.composers)

    def _composer_id(self, mix: ComposerMix | None) -> int:
        """The header's composer token: the mix's heaviest composer (its embedding is blended)."""
        return self.vocab.composer_id(None if mix is None else mix.dominant)

    @staticmethod
    def _sampling(temperature: float, top_k: int, top_p: float, min_p: float) -> SamplingConfig:
        temperature, top_k, top_p, min_p = check_sampling(temperature, top_k, top_p, min_p)
        return SamplingConfig(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)

    def _sample(self, prompt: np.ndarray, header_len: int, keys: list[int], start_seconds: float, total_seconds: float,
                n: int, sampling: SamplingConfig, seed: int | None, callback: Callable[[float, float], None] | None,
                cancel: threading.Event | Callable[[], bool] | None, keep_from: int,
                mix: ComposerMix | None = None, limits: KeyLimits = KeyLimits(None, None),
                guidance: float | None = None,
                rerank: int = 1, rerank_by: str = "style", critic: str | Path | object | None = None,
                critic_weight: float = 1.0, request: Requests = Requests()) -> list[Piece]:
        n = check_number(n, "the number of pieces", low=1, high=MAX_PIECES, integer=True)
        guidance = self._check_guidance(guidance, mix)
        rerank = check_number(rerank, "rerank", low=1, high=MAX_RERANK, integer=True)
        if rerank > 1:
            critic = self.reranker.check(rerank_by, mix, critic, critic_weight)
        per = max(rerank, request.key_candidates)  # candidates drawn per piece
        wanted, n = n, n * per
        check_number(total_seconds - start_seconds, "the length to generate", low=0, high=MAX_GENERATE_SECONDS,
                     low_open=True, unit="seconds")
        seed = check_seed(seed)
        seed = secrets.randbits(63) if seed is None else seed
        batch = torch.as_tensor(prompt, device=self.device)[None].expand(n, -1).contiguous()
        grammar = MusicGrammar(self.vocab, header_len, instruments=keys, target_seconds=total_seconds,
                               max_note_seconds=limits.seconds, max_polyphony=limits.polyphony,
                               min_note_seconds=limits.min_seconds, max_rest_seconds=request.rest,
                               min_share=request.share, tempo_changes=not request.tempo,
                               loop_cycles=limits.loop_cycles, loop_tokens=limits.loop_tokens)
        weights = None if mix is None or not mix.is_blend else \
            torch.as_tensor(mix.weights_over(self.composers), device=self.device)
        if guidance == 1.0:
            decoder = PieceDecoder(self.model, batch, header_len, total_seconds, composer_mix=weights)
        else:  # conditional rows, then the same rows with the composer unknown (GuidedDecoder's layout)
            both = torch.cat([batch, self._unconditional(batch)])
            decoder = GuidedDecoder(PieceDecoder(self.model, both, header_len, total_seconds, composer_mix=weights),
                                    guidance, self._unconditional)
        budget = int(MAX_TOKENS_PER_SECOND * (total_seconds - start_seconds)) + 64
        span = total_seconds - start_seconds

        def progress(done: int, total: int) -> None:
            if callback is not None:
                elapsed = float(grammar.elapsed_seconds.min()) - start_seconds
                callback(min(max(elapsed, 0.0), span), span)

        # piece i draws from seed + i (its rerank candidates from seeds derived from that), so each piece
        # can be made again on its own from the seed it reports
        out = generate(decoder, batch, budget, sampling=sampling, seed=row_seeds(seed, wanted, per),
                       stop_tokens=(self.vocab.end_id,), pad_id=self.vocab.pad_id, constraint=grammar,
                       callback=progress, cancel=cancel, keep_prefix=header_len)
        if out.stopped == "max_tokens":
            log.warning("stopped at the safety cap of %d tokens before reaching %.1f s", budget, total_seconds)
        pieces = [self._piece(out.ids[i].cpu().numpy(), prompt, header_len, keep_from, out.seeds[i - i % per])
                  for i in range(n)]
        new_from = start_seconds if keep_from == 0 else 0.0  # where the new music starts in each piece
        if per > 1:
            scores = self.reranker.scores([p.ids for p in pieces], rerank_by, mix, critic, critic_weight) \
                if rerank > 1 else np.zeros(n)
            if request.key_candidates > 1:  # a candidate in the requested mode beats any other
                scores = scores + IN_MODE_BONUS * self._in_mode(pieces, request.key, new_from)
            pieces = best_of_groups(pieces, scores, per)
            log.info("kept the best of %d candidates per piece (rerank by %s, key %s): scores %s", per,
                     rerank_by if rerank > 1 else "-", request.key.name if request.key else "-",
                     ", ".join(f"{s:.3f}" for s in scores.reshape(wanted, per).max(1)))
        return [self._in_key(piece, request.key, new_from) for piece in pieces]

    @staticmethod
    def _in_mode(pieces: Sequence[Piece], request: KeyRequest | None, new_from: float) -> np.ndarray:
        """1.0 for each piece whose new music is written in ``request``'s mode, else 0.0 (n,)."""
        keys = [detect_key(score_notes(p.score).window(new_from, np.inf)) for p in pieces]
        return np.array([float(k is not None and request is not None and k.minor == request.minor) for k in keys])

    def default_guidance(self, composer: str | None) -> float:
        """The guidance used when none is given for ``composer`` (a name, a mix or None): ``DEFAULT_GUIDANCE``
        when the model was trained with composer dropout and a composer is given, else 1 (plain sampling)."""
        return self._resolve_guidance(self._mix(composer))

    def _resolve_guidance(self, mix: ComposerMix | None) -> float:
        return DEFAULT_GUIDANCE if self.model.config.composer_dropout > 0 and mix is not None else 1.0

    def _check_guidance(self, guidance: float | None, mix: ComposerMix | None) -> float:
        if guidance is None:
            return self._resolve_guidance(mix)
        guidance = check_number(guidance, "guidance", low=0, high=MAX_GUIDANCE)
        if guidance == 1.0:
            return guidance
        if self.model.config.composer_dropout <= 0:
            raise UserError("guidance: this model was not trained with composer dropout, so it has no "
                            "unconditional distribution to guide from; use guidance 1 (or a model trained "
                            "with data.composer_dropout > 0)")
        if mix is None:
            raise UserError("guidance steers toward a composer: choose a composer (or a mix) to guide toward")
        return guidance

    def _unconditional(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` (B, T) with every composer token replaced by ``unknown_composer``."""
        return torch.where(self.model.is_composer[ids], self.vocab.unknown_composer_id, ids)

    def _piece(self, ids: np.ndarray, prompt: np.ndarray, header_len: int, keep_from: int, seed: int) -> Piece:
        vocab = self.vocab
        ended = bool((ids == vocab.end_id).any())
        if ended:
            ids = ids[: int(np.flatnonzero(ids == vocab.end_id)[0]) + 1]
        ids = ids[ids != vocab.pad_id]
        if keep_from > header_len:  # the continuation alone, at the prime's tempo
            tempos = np.flatnonzero(np.asarray(vocab.kind)[prompt[:keep_from]] == Kind.TEMPO)
            tempo = prompt[tempos[-1:]]
            ids = np.concatenate([prompt[:header_len], tempo, ids[keep_from:]])
        result = self.tokenizer.decode(ids)
        return Piece(ids=ids, score=result.score, seconds=self.tokenizer.seconds(ids), n_notes=result.n_notes,
                     ended=ended, skipped=result.skipped, closed=result.closed, seed=seed)


__all__ = ["MuseGenerator", "Piece", "BUNDLED_MODEL", "DEFAULT_GUIDANCE", "default_model_path", "numbered_paths"]
