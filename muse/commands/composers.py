"""``muse composers list|map|neighbours|export|score|adherence``: a model's composers, their embeddings and scorer."""

from __future__ import annotations

import argparse

from muse.commands.sampling_options import add_sampling_options

# Tokens of a piece that `muse composers score` reads unless told otherwise: four context windows (about 30-60 s
# of piano). On the bundled model's held-out pieces the true composer ranks first for 39% (top-3 67%) this way
# and for 23% (36%) from the first window alone (docs/MODEL_CARD.md); generation's reranking and `composers
# adherence` keep the scorer's own one-window default, since they score every candidate inside a request.
SCORE_TOKENS = 2048


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="PATH", help="model folder or training run (default: the bundled model)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser(
        "composers", help="composer embeddings: maps, neighbours, export, scoring, style adherence",
        description="Analyse the learned composer embeddings of a model, score which composer a piece "
                    "sounds like, and measure how well generation follows the requested composer.")
    sub = top.add_subparsers(dest="composers_command", metavar="ACTION", required=True)

    ls = sub.add_parser("list", help="the model's composers: label, display name, era and training data",
                        description="List the model's composer labels by era with their display names and how "
                                    "much training data each had (counted when the data's statistics are found "
                                    "beside the model, else estimated from the embeddings).")
    _model_args(ls)
    ls.set_defaults(func=run_list)

    m = sub.add_parser("map", help="2-D map of the composer embeddings (PNG), optionally a similarity heatmap",
                       description="Plot the composer embeddings in 2-D (PCA or t-SNE of their directions) with "
                                   "labelled points coloured by cluster; --heatmap also writes their cosine "
                                   "similarities ordered by hierarchical clustering.")
    m.add_argument("-o", "--output", required=True, metavar="MAP.png", help="PNG file to write")
    m.add_argument("--method", choices=("pca", "tsne"), default="pca", help="projection (default: pca)")
    m.add_argument("--heatmap", metavar="HEAT.png", help="also write the clustered cosine-similarity heatmap")
    m.add_argument("--seed", type=int, default=0, help="t-SNE random seed (default: 0)")
    m.add_argument("--title", help="figure title (default: describes the projection)")
    _model_args(m)
    m.set_defaults(func=run_map)

    n = sub.add_parser("neighbours", aliases=["neighbors"], help="the composers most similar to one composer",
                       description="Print the k composers whose embeddings are closest (cosine similarity).")
    n.add_argument("name", metavar="NAME", help="a composer of the model")
    n.add_argument("--k", type=int, default=5, help="number of neighbours (default: 5)")
    _model_args(n)
    n.set_defaults(func=run_neighbours)

    e = sub.add_parser("export", help="write embeddings, 2-D coordinates and similarities (CSV or JSON)",
                       description="Write every composer's embedding, PCA and t-SNE coordinates, cluster rank "
                                   "and cosine similarities to a .csv (one row per composer) or .json file.")
    e.add_argument("-o", "--output", required=True, metavar="FILE.csv|.json", help="file to write")
    e.add_argument("--seed", type=int, default=0, help="t-SNE random seed (default: 0)")
    _model_args(e)
    e.set_defaults(func=run_export)

    s = sub.add_parser("score", help="which composer does a MIDI file sound like (posterior over composers)",
                       description="For each piece, the model's posterior over its composers: the likelihood of "
                                   "the piece under each composer token, normalised (uniform prior). The first "
                                   f"{SCORE_TOKENS} tokens (four context windows) are scored unless --max-tokens "
                                   "says otherwise.")
    s.add_argument("--midi", required=True, metavar="FILE_OR_DIR", help="a MIDI file, or a folder of them")
    s.add_argument("--top", type=int, default=3, help="composers shown per piece (default: 3)")
    s.add_argument("--composers", help="comma-separated candidates (default: all of the model's)")
    s.add_argument("--max-tokens", type=int, metavar="N",
                   default=SCORE_TOKENS,
                   help=f"tokens of each piece scored (default: {SCORE_TOKENS}; 0 = the whole piece)")
    s.add_argument("--given-instruments", action="store_true",
                   help="do not score the instrumentation tokens (p(music | composer, instruments))")
    s.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass (default: 16)")
    s.add_argument("-o", "--output", metavar="FILE.csv|.json", help="also write every posterior to this file")
    _model_args(s)
    s.set_defaults(func=run_score)

    a = sub.add_parser("adherence", help="generate for each composer and check the scorer recovers it",
                       description="Generate --n pieces per composer and report how often the scorer ranks the "
                                   "requested composer first (top-1) or in its first three (top-3), against chance.")
    a.add_argument("--n", type=int, default=20, help="pieces per composer (default: 20)")
    a.add_argument("--seconds", type=float, default=10.0, help="length of each piece (default: 10)")
    a.add_argument("--composers", help="comma-separated composers to generate for (default: all of the model's)")
    a.add_argument("--candidates", help="comma-separated composers the scorer chooses among (default: all)")
    a.add_argument("--instruments", default="piano", help="comma-separated instruments (default: piano)")
    a.add_argument("--seed", type=int, default=0, help="seed of the first composer; +1 per composer (default: 0)")
    add_sampling_options(a, ("temperature", "top_p"))
    a.add_argument("--guidance", type=float, default=None, metavar="W",
                   help="classifier-free guidance weight of the generation, as in muse generate (default: as "
                        "there, 2 for a model trained with composer dropout)")
    a.add_argument("--rerank", type=int, default=1, metavar="K",
                   help="best of K candidates per piece, as in muse generate (default: 1)")
    _model_args(a)
    a.set_defaults(func=run_adherence)


def _split(names: str | None) -> list[str] | None:
    return None if names is None else [x.strip() for x in names.split(",") if x.strip()]


def _load(args: argparse.Namespace):
    from muse.generate import default_model_path
    from muse.saved_model import load_model

    return load_model(args.model or default_model_path(), args.device)


def run_map(args: argparse.Namespace) -> int:
    from muse.composers import analyse, composer_embeddings, plot_heatmap, plot_map
    from muse.composers.plots import check_png

    for path in (args.output, args.heatmap):
        if path:
            check_png(path)  # fail before the work
    analysis = analyse(composer_embeddings(_load(args).model), methods=(args.method,), seed=args.seed)
    written = [plot_map(analysis, args.output, args.method, title=args.title)]
    if args.heatmap:
        written.append(plot_heatmap(analysis, args.heatmap))
    print(f"wrote {', '.join(map(str, written))} ({len(analysis.names)} composers)")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from muse.composers import composer_embeddings
    from muse.composers.names import grouped
    from muse.composers.training_data import training_data

    loaded = _load(args)
    embeddings = composer_embeddings(loaded.model)
    data = training_data(embeddings, loaded.path)
    for era, entries in grouped(embeddings.names).items():
        print(f"{era}:")
        for e in entries:
            print(f"  {e.label:<20} {e.name:<32} {e.years:<10} {data.describe(e.label)}")
    print(f"{len(embeddings.names)} composers; training data: {data.source}")
    return 0


def run_neighbours(args: argparse.Namespace) -> int:
    from muse.composers import composer_embeddings, neighbours

    embeddings = composer_embeddings(_load(args).model)
    for nb in neighbours(embeddings, args.name, args.k):
        print(f"{nb.name:<20} {nb.similarity:+.3f}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from muse.composers import METHODS, analyse, composer_embeddings, export_analysis
    from muse.composers.embeddings import export_format

    export_format(args.output)  # fail before the work
    analysis = analyse(composer_embeddings(_load(args).model), methods=METHODS, seed=args.seed)
    print(f"wrote {export_analysis(analysis, args.output)} ({len(analysis.names)} composers)")
    return 0


def run_score(args: argparse.Namespace) -> int:
    from muse.composers import ComposerScorer, write_posteriors

    scorer = ComposerScorer(_load(args), composers=_split(args.composers), max_tokens=args.max_tokens,
                            batch_size=args.batch_size, include_header=not args.given_instruments)
    results = scorer.score_path(args.midi)
    for r in results:
        print(f"{r.source}: {r.summary(args.top)} ({r.tokens} tokens{', truncated' if r.truncated else ''})")
    if args.output:
        print(f"wrote {write_posteriors(results, args.output)}")
    return 0


def run_adherence(args: argparse.Namespace) -> int:
    from muse.composers import style_adherence
    from muse.generate import MuseGenerator

    generator = MuseGenerator(_load(args))
    report = style_adherence(generator, composers=_split(args.composers), candidates=_split(args.candidates),
                             n=args.n, seconds=args.seconds, instruments=_split(args.instruments) or [],
                             seed=args.seed, temperature=args.temperature, top_p=args.top_p,
                             guidance=args.guidance, rerank=args.rerank)
    print(report.table())
    return 0
