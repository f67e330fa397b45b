"""Token datasets: list pieces (MIDI folders, music21's corpus), build token shards, read them back.

    found = collect_sources(midi_dir="midi/", composer_from="prefix")
    report = build_dataset(found, BuildOptions(out=Path("data/classical")))
    ds = TokenDataset("data/classical"); ids = ds.tokens(ds.split_indices("train")[0])

Numpy only (no torch): a torch ``Dataset`` for training wraps ``TokenDataset``.
"""

from muse.core.token_shards import PieceRecord, TokenDataset, describe_dataset
from muse.data.build import BuildOptions, BuildReport, LabelStats, build_dataset, format_report
from muse.data.collect import collect_sources
from muse.data.sources import PieceSource, Skip, SourceList, midi_dir_sources

__all__ = [
    "BuildOptions", "BuildReport", "LabelStats", "PieceRecord", "PieceSource", "Skip", "SourceList", "TokenDataset",
    "build_dataset", "collect_sources", "describe_dataset", "format_report", "midi_dir_sources",
]
