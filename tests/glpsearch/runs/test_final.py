"""`glpsearch evaluate`: the chosen models fine-tuned on all training data and scored on the dev
set over seeds, through the cache, on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glpsearch.cli import main

FAST = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]


@pytest.fixture(scope="module")
def compared(tiny_model, task_file, tmp_path_factory):
    """A compare of greedy and top-drop (2 of 4 layers) on a task with a dev file."""
    root = tmp_path_factory.mktemp("final")
    dev = root / "dev.csv"  # the task's first 40 rows: enough to exercise the protocol
    dev.write_text("".join(task_file.read_text().splitlines(keepends=True)[:41]))
    args = [
        "compare", "--model", str(tiny_model), "--train", str(task_file), "--validation",
        str(dev), "--strategies", "greedy,top-drop", "--remove", "2", "--cache",
        str(root / "cache"), "--out", str(root / "out"), "--quiet", "--force", *FAST,
    ]  # fmt: skip
    assert main(args) == 0
    return root


def evaluate(root: Path, *extra: str) -> dict:
    args = ["evaluate", "--from", str(root / "out"), "--cache", str(root / "cache"), "--quiet"]
    assert main([*args, *extra]) == 0
    return json.loads((root / "out" / "evaluate.json").read_text())


def test_every_depth_of_every_strategy_gets_dev_scores_over_seeds(compared):
    record = evaluate(compared, "--seeds", "2")
    selection = json.loads((compared / "out" / "compare.json").read_text())
    assert record["seeds"] == [0, 1]
    assert [(r["strategy"], r["depth"]) for r in record["results"]] == [
        (s, d) for s in ("greedy", "top-drop") for d in (0, 1, 2)
    ]
    for entry in record["results"]:
        assert len(entry["scores"]) == 2 and entry["failures"] == []
        assert entry["mean"] == pytest.approx(sum(entry["scores"]) / 2)
        assert 0 <= entry["mean"] <= 1 and entry["std"] >= 0
    top_drop = [r["removed"] for r in record["results"] if r["strategy"] == "top-drop"]
    assert top_drop == [[], [3], [3, 2]]  # in removal order
    assert record["fingerprint"] != selection["fingerprint"]  # all data, scored on dev
    distinct = {tuple(sorted(r["removed"])) for r in record["results"]}
    assert record["evaluations"]["computed"] == 2 * len(distinct)  # shared sets trained once


def test_a_repeat_is_answered_from_the_cache_and_more_seeds_add_only_theirs(compared):
    first = evaluate(compared, "--seeds", "2")
    again = evaluate(compared, "--seeds", "3")
    distinct = {tuple(sorted(r["removed"])) for r in again["results"]}
    assert again["evaluations"] == {
        "computed": len(distinct),
        "cached": 2 * len(distinct),
        "failed": 0,
    }
    for old, new in zip(first["results"], again["results"], strict=True):
        assert new["scores"][:2] == old["scores"]


def test_a_search_without_a_dev_set_is_refused_in_one_line(tiny_model, task_file, tmp_path, capsys):
    args = [
        "search", "--model", str(tiny_model), "--train", str(task_file), "--remove", "1",
        "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), "--quiet", "--force",
        *FAST,
    ]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    code = main(["evaluate", "--from", str(tmp_path / "out"), "--cache", str(tmp_path / "cache")])
    error = capsys.readouterr().err
    assert code == 2 and "no dev set" in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "out" / "evaluate.json").exists()
