"""``muse tokenize`` and ``muse detokenize``: MIDI <-> MuseNet-style tokens (text, ids or JSON)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tokenize", help="MIDI file -> tokens (text, ids or JSON)",
        description="Tokenize a MIDI file into the MuseNet-style token language and print the tokens.")
    p.add_argument("midi", metavar="IN.mid", help="MIDI file to tokenize")
    p.add_argument("--composer", help="composer/style label of the vocabulary (default: unknown_composer)")
    p.add_argument("--format", choices=("text", "ids", "json"), default="text", help="output format (default: text)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the tokens here instead of stdout")
    p.add_argument("--vocab", metavar="VOCAB.json", help="tokenizer file saved with a model (default: built-in)")
    p.add_argument("--strict", action="store_true", help="refuse a MIDI file that needs any repair to be read "
                                                         "(default: repair it with a WARNING naming the file)")
    p.set_defaults(func=run_tokenize)

    d = subparsers.add_parser(
        "detokenize", help="tokens -> MIDI file",
        description="Decode a token file (text, ids or JSON, as written by 'muse tokenize') into a MIDI file.")
    d.add_argument("tokens", metavar="TOKENS", help="token file (format detected from its content)")
    d.add_argument("-o", "--output", metavar="OUT.mid", required=True, help="MIDI file to write")
    d.add_argument("--vocab", metavar="VOCAB.json", help="tokenizer file saved with a model (default: built-in)")
    d.set_defaults(func=run_detokenize)


def _tokenizer(vocab: str | None):
    from musetok import MidiTokenizer

    return MidiTokenizer.load(vocab) if vocab else MidiTokenizer()


def run_tokenize(args: argparse.Namespace) -> int:
    from musetok.tokenfile import format_encoding, write_text

    tokenizer = _tokenizer(args.vocab)
    encoding = tokenizer.encode(args.midi, composer=args.composer, strict=args.strict)
    text = format_encoding(encoding, tokenizer, args.format)
    if args.output:
        write_text(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def run_detokenize(args: argparse.Namespace) -> int:
    from musetok.tokenfile import read_tokens

    tokenizer = _tokenizer(args.vocab)
    ids = read_tokens(args.tokens, tokenizer)
    result = tokenizer.decode_to_file(ids, args.output)
    repaired = f" (skipped {result.skipped} impossible tokens, closed {result.closed} notes)" \
        if result.skipped or result.closed else ""
    print(f"wrote {args.output}: {result.n_notes} notes, {tokenizer.seconds(ids):.1f} s{repaired}")
    return 0
