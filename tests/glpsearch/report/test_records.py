"""The out folder's records: written with their format version, read back as they were written,
records from before versions read as version 1, and anything else refused in one line.

tests/glpsearch/records_v1/ holds the four records as glpsearch wrote them before records had a
version (the tiny model's search, its speed and evaluate runs, and a comparison; see the commit
that added them), so the old shape is the real one, not a hand-made imitation.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest

from glpsearch.cli import main
from glpsearch.engine.core import Job, Outcome, Result
from glpsearch.errors import UserError
from glpsearch.report.outdir import OutDir
from glpsearch.report.records import (
    VERSION,
    VERSION_KEY,
    CompareRecord,
    EvaluationRecord,
    SearchRecord,
    SpeedRecord,
    Subject,
    header,
    read_selection,
    steps,
    steps_record,
)
from glpsearch.scoring.score import Score, pack
from glpsearch.strategies import SearchResult, StepResult, noise

V1 = Path(__file__).parent / "records_v1"
KINDS = [SearchRecord, CompareRecord, EvaluationRecord, SpeedRecord]
FAST = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]  # conftest's


def _v1_folder(tmp_path: Path, *names: str) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    for name in names:
        shutil.copy(V1 / name, out / name)
    return out


def _one_line(args: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("glpsearch: error:"), line
    return line


def _keys(value: object) -> object:
    """A record's field names in order, nested (a list by its first item): its shape, not values."""
    if isinstance(value, dict):
        return [(key, _keys(item)) for key, item in value.items()]
    if isinstance(value, list) and value:
        return [_keys(value[0])]
    return None


# The fields a search's steps gained since records_v1/ was written, each after the field named:
# how a raced step was decided, the paired noise of its lead, and which noise decided (issue 23).
ADDED = {"candidates": ["race", "paired_noise"], "noise": ["noise_rule"]}


def _with_added(shape: object) -> object:
    """A shape `_keys` gave, with ADDED's fields in their places in every step."""
    if isinstance(shape, list) and shape and isinstance(shape[0], tuple):
        grown = []
        for key, inner in shape:
            grown.append((key, _with_added(inner)))
            grown.extend((name, None) for name in ADDED.get(key, []))
        return grown
    if isinstance(shape, list):
        return [_with_added(item) for item in shape]
    return shape


# -- writing and reading -----------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_each_record_reads_back_as_written_with_its_version_first(kind, tmp_path):
    fields = json.loads((V1 / kind.FILE).read_text())
    record = kind.new(fields)
    assert next(iter(record)) == VERSION_KEY and record.version == VERSION == 1
    path = record.write(tmp_path)
    assert path == tmp_path / kind.FILE
    again = kind.read(path)
    assert type(again) is kind and again == record
    assert json.loads(path.read_text()) == {VERSION_KEY: 1, **fields}


def test_a_search_or_compare_record_is_read_as_what_it_holds(tmp_path):
    for kind in (SearchRecord, CompareRecord):
        path = SearchRecord.new(json.loads((V1 / kind.FILE).read_text())).write(tmp_path)
        assert type(read_selection(path)) is kind


def test_steps_are_the_records_steps_typed():
    record = SearchRecord.read(V1 / "search.json")
    found = steps(record)
    assert [(s.depth, s.chosen, s.score) for s in found] == [
        (s["depth"], tuple(s["chosen"]), s["score"]) for s in record["steps"]
    ]
    first = found[0].candidates[0]
    written = record["steps"][0]["candidates"][0]
    assert (first.removed, first.score, first.cached, first.seeds) == (
        tuple(written["removed"]), written["score"], written["cached"], {0: written["score"]}
    )  # fmt: skip


def test_the_header_puts_the_subject_between_the_command_and_the_run():
    subject = Subject("m", "t", "accuracy", 4)
    made = header(subject, {"from": "search.json"}, {"seed": 0}, labels=["a"], model_dir="/m")
    assert list(made) == ["glpsearch", "from", "model", "model_dir", "task", "metric", "labels",
                          "n_layers", "seed"]  # fmt: skip
    assert Subject.read(made) == subject


def test_the_commands_write_todays_files_with_only_the_version_added(
    timed_out, tiny_model, task_file, tmp_path
):
    """Every field, in its place, as the records in records_v1/ (written before versions)."""
    evaluate = ["evaluate", "--from", str(timed_out), "--out", str(tmp_path / "evaluated"),
                "--cache", str(tmp_path / "cache"), "--device", "cpu", "--layers-removed", "1",
                "--validation", str(task_file), "--quiet", *FAST]  # fmt: skip
    assert main(evaluate) == 0
    compare = ["compare", "--strategies", "greedy,top-drop", "--model", str(tiny_model),
               "--train", str(task_file), "--remove", "1", "--cache", str(tmp_path / "cache"),
               "--out", str(tmp_path / "compared"), "--quiet", "--force", *FAST]  # fmt: skip
    assert main(compare) == 0
    written = {
        "search.json": timed_out / "search.json",
        "speed.json": timed_out / "speed.json",
        "evaluate.json": tmp_path / "evaluated" / "evaluate.json",
        "compare.json": tmp_path / "compared" / "compare.json",
    }
    for name, path in written.items():
        now = json.loads(path.read_text())
        before = json.loads((V1 / name).read_text())
        assert now[VERSION_KEY] == VERSION
        assert _keys(now) == [(VERSION_KEY, None), *_with_added(_keys(before))], name


# -- records written before versions -----------------------------------------------------------
def test_an_out_folder_from_before_versions_is_read_as_version_1(tmp_path, capsys):
    out = _v1_folder(tmp_path, "search.json", "evaluate.json", "speed.json")
    for name in ("search.json", "evaluate.json", "speed.json"):
        assert VERSION_KEY not in json.loads((out / name).read_text())
    folder = OutDir.read(out)
    assert (folder.record.version, folder.evaluation.version, folder.speed.version) == (1, 1, 1)
    assert [d.depth for d in folder.depths()] == [0, 1, 2]
    assert folder.scored().source == "evaluate.json"
    assert main(["report", str(out)]) == 0
    assert (out / "search.csv").is_file() and (out / "tradeoff.png").is_file()
    assert main(["pick", "--from", str(out), "--max-latency-ms", "100000"]) == 0
    assert "pick: " in capsys.readouterr().out


def test_a_comparison_from_before_versions_is_read_as_version_1(tmp_path):
    out = _v1_folder(tmp_path, "compare.json")
    folder = OutDir.read(out)
    assert folder.strategies() == ["greedy", "top-drop"]
    assert main(["report", str(out)]) == 0


# -- what is refused ---------------------------------------------------------------------------
@pytest.mark.parametrize("reshaped", [False, True], ids=["same shape", "another shape"])
@pytest.mark.parametrize("name", ["search.json", "compare.json"])
def test_a_newer_search_or_compare_record_is_one_line(name, reshaped, tmp_path, capsys):
    out = _v1_folder(tmp_path, name)
    record = json.loads((out / name).read_text())
    if reshaped:  # what a new version may do: it is still newer, not malformed
        record = {"subject": {"model": record.pop("model")}, **record}
        record.pop("baseline")
    (out / name).write_text(json.dumps({VERSION_KEY: VERSION + 1, **record}))
    line = _one_line(["report", str(out)], capsys)
    assert f"{out / name} was written by a newer glpsearch ({VERSION_KEY} {VERSION + 1}" in line
    assert "upgrade glpsearch" in line


@pytest.mark.parametrize("name", ["evaluate.json", "speed.json"])
def test_a_newer_evaluate_or_speed_record_is_one_line(name, tmp_path, capsys):
    out = _v1_folder(tmp_path, "search.json", "evaluate.json", "speed.json")
    record = json.loads((out / name).read_text())
    (out / name).write_text(json.dumps({**record, VERSION_KEY: 7}))
    line = _one_line(["pick", "--from", str(out), "--max-latency-ms", "100"], capsys)
    assert f"{out / name} was written by a newer glpsearch ({VERSION_KEY} 7;" in line


@pytest.mark.parametrize("version", [0, -1, "2", 1.0, True, None])
def test_an_unknown_version_is_one_line(version, tmp_path, capsys):
    out = _v1_folder(tmp_path, "search.json")
    record = json.loads((out / "search.json").read_text())
    (out / "search.json").write_text(json.dumps({**record, VERSION_KEY: version}))
    line = _one_line(["report", str(out)], capsys)
    assert f"has an unknown {VERSION_KEY} {json.dumps(version)}" in line
    assert line.endswith("restore it, or run glpsearch search again")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", "is not a glpsearch record (no model, task, metric, n_layers, baseline"),
        ('{"hello": "world"}', "is not a glpsearch record (no model"),
        ('"search"', "is not a glpsearch record (no model"),
        ("{", "cannot read"),
    ],
)
def test_json_that_is_no_record_is_one_line(text, expected, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "search.json").write_text(text)
    assert expected in _one_line(["report", str(out)], capsys)


@pytest.mark.parametrize("kind", [EvaluationRecord, SpeedRecord], ids=lambda kind: kind.__name__)
def test_an_evaluate_or_speed_file_that_is_no_record_is_refused(kind, tmp_path):
    path = tmp_path / kind.FILE
    path.write_text(json.dumps({"record_version": 1, "model": "m"}))
    with pytest.raises(UserError, match=r"is not a glpsearch record \(no .*\); remove or rewrite"):
        kind.read(path)


# -- a search's steps: how each was decided ----------------------------------------------------
ONE = [frozenset({3}), frozenset({2}), frozenset({1})]
TWO = [frozenset({1, 3}), frozenset({2, 3})]


def _outcome(removed: set[int], right: list[list[bool]] | None, value: float = 0.0) -> Outcome:
    """A set scored over one seed per list of per-example correctness (None: a row cached
    before they were kept, scoring `value`)."""
    layers = frozenset(removed)
    scores = [
        Score(sum(r) / len(r), "accuracy", 1.0, 0.1, 10, len(r), se=0.1, examples=pack(r))
        for r in right
    ] if right is not None else [Score(value, "accuracy", 1.0, 0.1, 10, 8, se=0.1)]  # fmt: skip
    return Outcome(
        layers, tuple(Result(Job(layers, seed), s, None, 1.0) for seed, s in enumerate(scores))
    )


def test_each_step_keeps_how_it_was_raced_and_the_paired_noise_of_its_lead():
    best = [[True] * 6 + [False] * 2, [True] * 7 + [False]]  # two seeds: 6 and 7 of 8 right
    runner_up = [[True] * 5 + [False] * 3, [True] * 6 + [False] * 2]
    outcomes = {
        frozenset({3}): _outcome({3}, best),
        frozenset({2}): _outcome({2}, runner_up),
        frozenset({1}): _outcome({1}, [[False] * 8]),
        frozenset({1, 3}): _outcome({1, 3}, None, 0.7),  # cached before per-example outputs
        frozenset({2, 3}): _outcome({2, 3}, None, 0.6),
    }
    first = StepResult(
        1, tuple((s, outcomes[s].estimate()) for s in ONE), frozenset({3}), 0.8, race="lead"
    )
    second = StepResult(2, tuple((s, outcomes[s].estimate()) for s in TWO), frozenset({1, 3}), 0.7)
    written = steps_record(SearchResult("greedy", [first, second]), outcomes)
    assert (written[0]["race"], written[1]["race"]) == ("lead", None)
    estimates = [outcomes[frozenset({i})].estimate() for i in (3, 2)]
    assert written[0]["paired_noise"] == pytest.approx(noise.paired(*estimates))
    # written out: the mean correctness over seeds differs on examples 5 and 6 by 1/2 each
    d = [0, 0, 0, 0, 0, 0.5, 0.5, 0]
    seeds = math.sqrt(2 * (statistics.stdev([6 / 8, 7 / 8]) ** 2 / 2))  # the same spread twice
    paired = math.sqrt(statistics.pvariance(d) / 8)
    assert written[0]["paired_noise"] == pytest.approx(math.hypot(paired, seeds))
    assert written[1]["paired_noise"] is None
    record = SearchRecord.new({"steps": written})
    assert [s["race"] for s in record["steps"]] == ["lead", None]
