"""`glpsearch compare`: strategies share one cache, and bad input costs nothing.

The accounting is checked against a scripted scorer; the command end to end on a tiny model.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from glpsearch.cli import main
from glpsearch.engine.core import Engine
from glpsearch.model import evaluator as evaluator_module
from glpsearch.runs.comparison import Comparison
from glpsearch.scoring.score import Score
from glpsearch.store import Store
from glpsearch.strategies import make

FAST = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]
SMALL = ["--train-limit", "60"]  # these tests count fine-tunes; they need not be good ones
PNG = b"\x89PNG\r\n\x1a\n"


class ScriptedScorer:
    fingerprint = "c" * 20
    n_layers = 6

    def __init__(self) -> None:
        self.calls: list[frozenset[int]] = []

    def describe(self) -> dict:
        return {"model": "scripted"}

    def score(self, removed, seed, progress=None) -> Score:
        self.calls.append(frozenset(removed))
        return Score(0.9 - 0.01 * len(removed) + 0.001 * sum(removed), "accuracy", 1, 0, 10, 5)


def test_a_set_two_strategies_propose_is_fine_tuned_once(tmp_path):
    scorer = ScriptedScorer()
    with Store(tmp_path) as store:
        comparison = Comparison(lambda: Engine(scorer, store))
        greedy = comparison.run(make("greedy"), 2)
        top_drop = comparison.run(make("top-drop"), 2)
        assert comparison.baseline is not None and not comparison.baseline.cached
        counts = comparison.counts
    assert len(scorer.calls) == len(set(scorer.calls)) == 1 + 6 + 5  # greedy keeps 5, then {4, 5}
    assert all(not o.cached for o in greedy.outcomes.values())
    assert all(o.cached for o in top_drop.outcomes.values())  # {5} and {4, 5}: greedy's picks
    assert counts == {"computed": 12, "cached": 2, "failed": 0, "requested": 13, "distinct": 11,
                      "shared": 2}  # fmt: skip


def tiny(model: Path, data: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    return ["--model", str(model), "--train", str(data), "--cache", str(cache), "--out",
            str(out), "--quiet", "--force", *FAST, *SMALL, *extra]  # fmt: skip


@pytest.fixture(scope="module")
def compared(tiny_model, task_file, tmp_path_factory):
    """greedy, top-drop and block-influence, 2 of 4 layers, on a fresh cache."""
    root = tmp_path_factory.mktemp("compare")
    strategies = "greedy,top-drop,block-influence"
    args = tiny(tiny_model, task_file, root / "cache", root / "out", "--remove", "2")
    assert main(["compare", "--strategies", strategies, *args]) == 0
    return root / "cache", root / "out"


def test_compare_writes_its_record_table_and_plot(compared):
    _, out = compared
    record = json.loads((out / "compare.json").read_text())
    names = [entry["strategy"] for entry in record["strategies"]]
    assert names == ["greedy", "top-drop", "block-influence"]
    assert record["strategies"][1]["steps"][0]["candidates"][0]["cached"] is True
    assert len(record["block_influence"]) == 4
    counts = record["evaluations"]
    assert counts["computed"] == 1 + counts["distinct"]  # the unpruned model, then each set once
    assert counts["requested"] == 4 + 3 + 2 + 2
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [(r["strategy"], r["layers_removed"]) for r in rows] == [("unpruned", "0")] + [
        (name, depth) for name in names for depth in ("1", "2")
    ]
    png = (out / "compare.png").read_bytes()
    assert png.startswith(PNG) and len(png) > 1000


def test_after_greedy_top_drop_at_depth_1_computes_nothing(tiny_model, task_file, tmp_path):
    cache = tmp_path / "cache"
    assert (
        main(["search", *tiny(tiny_model, task_file, cache, tmp_path / "s", "--remove", "1")]) == 0
    )
    args = tiny(tiny_model, task_file, cache, tmp_path / "c", "--remove", "1")
    assert main(["compare", "--strategies", "top-drop", *args]) == 0
    record = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert record["evaluations"]["computed"] == 0
    assert record["evaluations"]["cached"] == 2  # the unpruned model and {3}


def test_report_redraws_a_comparison_without_an_evaluator(compared, monkeypatch, capsys):
    _, out = compared
    drawn = (out / "compare.png").read_bytes()
    (out / "compare.png").unlink()
    (out / "compare.csv").unlink()

    def refuse(*args, **kwargs):
        raise AssertionError("report must not load a model")

    monkeypatch.setattr(evaluator_module.Evaluator, "__init__", refuse)
    assert main(["report", str(out)]) == 0
    assert (out / "compare.png").read_bytes() == drawn  # same record, same picture
    assert (out / "compare.csv").exists()
    assert "block-influence" in capsys.readouterr().out


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


BAD = {
    "unknown strategy": (["compare", "--strategies", "greedy,psychic"], "unknown strategy 'psy"),
    "no strategy": (["compare", "--strategies", ","], "name at least one strategy"),
    "beam width 0": (["compare", "--strategies", "beam", "--beam-width", "0"], "must be >= 1"),
    "exhaustive over budget": (
        ["compare", "--strategies", "greedy,exhaustive", "--budget", "9"],
        "exhaustive search needs 10 evaluations, more than --max-evaluations 9",
    ),
    "search over budget": (
        ["search", "--strategy", "exhaustive", "--budget", "3"],
        "raise --max-evaluations or choose another strategy",
    ),
    "search over max evaluations": (
        ["search", "--strategy", "exhaustive", "--max-evaluations", "3"],
        "exhaustive search needs 10 evaluations",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_costs_nothing(
    case, compared, tiny_model, task_file, tmp_path, capsys
):
    cache, _ = compared
    before = snapshot(cache)
    command, expected = BAD[case]
    capsys.readouterr()
    args = [*command, *tiny(tiny_model, task_file, cache, tmp_path / "out", "--remove", "2")]
    with pytest.raises(SystemExit) as exited:  # argparse exits, the commands return
        raise SystemExit(main(args))
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and err.startswith("glpsearch")
    assert snapshot(cache) == before
    assert not (tmp_path / "out").exists()
