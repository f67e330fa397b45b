"""The preference loop end to end (issue 21): listeners rate samples in the running demo (a scripted
gradio_client session), the feedback is exported as preference pairs (the demo's Feedback tab and
`muse feedback export --pairs`), `muse tune` tunes the demo's model on them, and the tuned model
loads where a model is accepted (the CLI, MuseGenerator, the composer scorer, the demo).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import Client

from demo_support import REPO, launched_app, save_test_model
from demos.app import build_app
from muse.cli import main
from muse.composers.scoring import ComposerScorer
from muse.generate import MuseGenerator
from muse.prefs import read_prefs
from muse.saved_model import load_model, model_hash

# compose inputs: composer, blend, mix, instruments, seconds, temperature, top-p, seed, variations
COMPOSE = ["bach", "(none)", 0.7, ["piano"], 1, 1.0, 0.95]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(model, feedback db, the Feedback tab's exported file): two listeners' feedback in the demo."""
    folder = tmp_path_factory.mktemp("loop")
    model = save_test_model(folder / "model")
    db = folder / "feedback.sqlite"
    with launched_app(model, db, min_seconds=0.5) as (_app, url):
        alice, bob = Client(url, verbose=False), Client(url, verbose=False)
        alice.predict(*COMPOSE, 3, 3, api_name="/compose")
        alice.predict(api_name="/compose_up_1")  # liked, but nothing of its prompt disliked yet: no pair
        nothing, status, counts = alice.predict(api_name="/feedback_export")
        assert nothing is None and status.startswith("No preference pairs yet")
        assert "**1** ratings" in counts and "**0** preference pairs" in counts
        alice.predict(api_name="/compose_down_2")
        alice.predict(api_name="/compose_down_3")
        bob.predict(*COMPOSE, 30, 2, api_name="/compose")
        bob.predict("Variation 2", "Variation 1", api_name="/compose_prefer_a")
        counts = bob.predict(api_name="/feedback_counts")
        exported, status, _counts = bob.predict(api_name="/feedback_export")
    assert "**3** ratings and **1** A/B choices" in counts and "**3** preference pairs" in counts
    assert status == "Exported 3 pairs (1 from A/B choices, 2 from thumbs)."
    return model, db, exported


def test_demo_feedback_exports_as_pairs_that_muse_tune_accepts(session, tmp_path: Path, capsys) -> None:
    model, db, exported = session
    prefs = tmp_path / "prefs.jsonl"
    assert main(["feedback", "export", "--pairs", "-o", str(prefs), "--db", str(db)]) == 0
    assert "3 pairs (1 from A/B choices, 2 from thumbs)" in capsys.readouterr().out
    pairs = read_prefs(prefs)
    assert pairs == read_prefs(exported)  # the Feedback tab's download is the same file
    assert {p.source for p in pairs} == {"choice", "rating"}
    vocab = MuseGenerator(model).vocab
    for pair in pairs:
        assert pair.prompt == (vocab.composer_id("bach"), vocab.instrument_base, vocab.start_id)  # bach, piano
        assert pair.chosen != pair.rejected and pair.settings["composer"] == "bach"
    run = tmp_path / "dpo"
    assert main(["tune", "--model", str(model), "--prefs", str(prefs), "--out", str(run), "--steps", "2",
                 "--batch-size", "3", "--no-progress"]) == 0
    assert "tuned model in" in capsys.readouterr().out

    # the tuned model loads everywhere a model is accepted
    assert load_model(run).config == load_model(model).config and load_model(run).path == run
    piece = MuseGenerator(run).generate("bach", ["piano"], seconds=0.5, seed=1)[0]
    assert piece.ids[0] == vocab.composer_id("bach")
    assert main(["generate", "--model", str(run), "--composer", "bach", "--seconds", "0.5",
                 "-o", str(tmp_path / "tuned.mid")]) == 0 and (tmp_path / "tuned.mid").is_file()
    posterior = ComposerScorer(run, composers=["bach", "mozart"]).score_ids(piece.ids).posterior
    assert posterior.shape == (2,) and abs(float(posterior.sum()) - 1) < 1e-5
    assert main(["composers", "score", "--model", str(run), "--midi", str(tmp_path / "tuned.mid"),
                 "--composers", "bach,mozart"]) == 0
    app = build_app(MuseGenerator(run), feedback_store=tmp_path / "fb.sqlite")  # the demo
    assert app.demo_context.generator.loaded.path == run
    assert app.demo_context.model_hash != model_hash(load_model(model).model.state_dict())


def test_feedback_export_does_not_import_the_demo(session, tmp_path: Path) -> None:
    """The export reads the library's store: the command imports nothing of demos; through `muse`, only the
    `muse demo` registration (demos.command) is loaded, never the app, its tabs or gradio."""
    _model, db, _exported = session
    demo_modules = "sorted(m for m in sys.modules if m == 'demos' or m.startswith('demos.'))"
    direct = f"argparse.Namespace(db={str(db)!r}, output={str(tmp_path / 'a.jsonl')!r}, pairs=True)"
    cli = ["feedback", "export", "--pairs", "-o", str(tmp_path / "b.jsonl"), "--db", str(db)]
    code = ("import argparse, sys\nfrom muse.commands.feedback import run_export\n"
            f"assert run_export({direct}) == 0\n"
            f"assert {demo_modules} == [], {demo_modules}\n"
            "from muse.cli import main\n"
            f"assert main({cli!r}) == 0\n"
            f"assert set({demo_modules}) <= {{'demos', 'demos.command'}}, {demo_modules}\n"
            "assert 'gradio' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 3
