"""Distillation from the fine-tuned unpruned model (glpsearch/model/distill.py), on tiny models: the
teacher is fine-tuned once and reused, its logits are computed once, distilled fine-tunes are
cached apart from plain ones, hidden-state matching pairs each kept layer with its source."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
import torch

from glpsearch.cli import main
from glpsearch.config import DataSpec, DistillSettings, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.model import distill
from glpsearch.model.evaluator import Evaluator

FAST = TrainSettings(epochs=1, lr=3e-3, batch_size=8, max_length=32)
KD = DistillSettings(alpha=0.5, temperature=2.0)


@pytest.fixture(scope="module")
def task(task_file):
    return load_task(DataSpec(train=task_file))


@pytest.fixture
def fine_tunes(monkeypatch) -> list[bool]:
    """Every fine-tune of this test, True where a student's (it has an objective)."""
    calls: list[bool] = []
    real = Evaluator.fine_tune

    def counted(self, model, seed, progress, *rest, **kwargs):
        objective = kwargs.get("objective", rest[1] if len(rest) > 1 else None)
        calls.append(objective is not None)
        return real(self, model, seed, progress, *rest, **kwargs)

    monkeypatch.setattr(Evaluator, "fine_tune", counted)
    return calls


# -- the pairing of kept layers with their source layers --------------------------------------
def test_each_kept_layer_is_paired_with_the_layer_it_came_from():
    assert distill.layer_pairs(4, []) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    assert distill.layer_pairs(4, {1}) == [(0, 0), (1, 2), (2, 3)]
    assert distill.layer_pairs(6, {0, 2, 5}) == [(0, 1), (1, 3), (2, 4)]


def test_paired_layers_are_the_same_modules_so_outputs_match_up_to_the_first_gap(tiny_model, task):
    """A student's layers ARE teacher layers: before any training, with dropout off, each kept
    layer before the first removed one outputs exactly what its source layer outputs, so the
    pairing (not an off-by-one neighbour) gives zero hidden loss there."""
    evaluator = Evaluator(str(tiny_model), task, FAST)
    teacher = evaluator.build((), 0).eval()
    student = evaluator.build({2}, 0).eval()
    batch = next(evaluator.training_batches(8))
    with torch.no_grad():
        theirs = teacher(**batch, output_hidden_states=True).hidden_states
        mine = student(**batch, output_hidden_states=True).hidden_states
    mask = batch["attention_mask"]
    pairs = distill.layer_pairs(4, {2})
    assert pairs == [(0, 0), (1, 1), (2, 3)]
    for k, i in pairs[:2]:
        assert distill.hidden_loss(mine, theirs, [(k, i)], mask).item() == 0.0
        assert distill.hidden_loss(mine, theirs, [(k, i + 1)], mask).item() > 0.0
    # removing the last layer: every kept layer sees exactly its source's input
    student = evaluator.build({3}, 0).eval()
    with torch.no_grad():
        mine = student(**batch, output_hidden_states=True).hidden_states
    assert distill.hidden_loss(mine, theirs, distill.layer_pairs(4, {3}), mask).item() == 0.0


def test_hidden_matching_trains_the_student_against_its_source_layers(
    tiny_model, task, tmp_path, monkeypatch
):
    """The objective hands hidden_loss the student's kept-layer -> source-layer pairs."""
    evaluator = Evaluator(str(tiny_model), task, FAST, distill=dataclasses.replace(KD, hidden=True))
    seen: list[list[tuple[int, int]]] = []
    real = distill.hidden_loss

    def spy(student, teacher, pairs, mask):
        assert len(student) == 1 + len(pairs) and len(teacher) == 5
        seen.append(list(pairs))
        return real(student, teacher, pairs, mask)

    monkeypatch.setattr(distill, "hidden_loss", spy)
    score = evaluator.score({0, 2}, seed=0)
    assert 0 <= score.value <= 1
    assert seen and all(pairs == [(0, 1), (1, 3)] for pairs in seen)


# -- the teacher: fine-tuned once, logits once, reused ----------------------------------------
def test_the_teacher_is_fine_tuned_once_and_reused_by_students_and_later_runs(
    tiny_model, task, tmp_path, fine_tunes
):
    teachers = tmp_path / "teachers"
    evaluator = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=teachers)
    evaluator.score({1}, seed=0)
    evaluator.score({1, 2}, seed=1)
    assert fine_tunes == [False, True, True]  # the teacher, then two students
    (saved,) = teachers.glob("*/*.pt")
    assert saved == distill.teacher_path(teachers, evaluator.plain_fingerprint, 0)

    fine_tunes.clear()  # a later run (a new process builds a new evaluator) reads it
    again = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=teachers)
    again.score({3}, seed=0)
    assert fine_tunes == [True]
    # other distill settings: other students, the same teacher
    fine_tunes.clear()
    hotter = Evaluator(
        str(tiny_model), task, FAST, distill=dataclasses.replace(KD, temperature=4.0),
        teachers=teachers,
    )  # fmt: skip
    hotter.score({3}, seed=0)
    assert fine_tunes == [True]


def test_teacher_logits_are_computed_once_with_dropout_off(tiny_model, task, tmp_path):
    evaluator = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=tmp_path)
    teacher = evaluator.teacher()
    assert teacher.logits.shape == (len(task.train), 2)
    model = evaluator.build((), 0)
    model.load_state_dict(teacher.state)
    model.eval()
    with torch.no_grad():
        for chunk, batch in evaluator.batches(evaluator.train_features):
            batch.pop("labels")
            torch.testing.assert_close(model(**batch).logits, teacher.logits[chunk])


def test_a_damaged_teacher_file_is_trained_again(tiny_model, task, tmp_path, fine_tunes):
    evaluator = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=tmp_path)
    first = evaluator.teacher()
    path = distill.teacher_path(tmp_path, evaluator.plain_fingerprint, 0)
    path.write_bytes(path.read_bytes()[:100])
    again = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=tmp_path).teacher()
    assert fine_tunes == [False, False]
    torch.testing.assert_close(again.logits, first.logits)


def test_a_teacher_file_of_another_shape_is_deleted_and_trained_again(
    tiny_model, task, tmp_path, monkeypatch
):
    """The checkpoint reader's one policy (glpsearch/model/training.py): a file that does not hold
    this task's teacher is deleted as it is refused, even when its new teacher never comes."""
    evaluator = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=tmp_path)
    path = distill.teacher_path(tmp_path, evaluator.plain_fingerprint, 0)
    path.parent.mkdir(parents=True)
    torch.save({"model": {}, "logits": torch.zeros(3, 2)}, path)  # logits of 3 examples

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(Evaluator, "fine_tune", interrupted)
        with pytest.raises(KeyboardInterrupt):
            evaluator.teacher()
    assert not path.exists()
    teacher = evaluator.teacher()
    assert teacher.logits.shape == (len(task.train), 2)
    again = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=tmp_path).teacher()
    assert torch.equal(again.logits, teacher.logits)  # the new file is read back


# -- fingerprints -----------------------------------------------------------------------------
def test_distilled_fine_tunes_have_their_own_fingerprint_and_plain_ones_keep_theirs(
    tiny_model, task
):
    plain = Evaluator(str(tiny_model), task, FAST)
    kd = Evaluator(str(tiny_model), task, FAST, distill=KD)
    assert kd.plain_fingerprint == plain.fingerprint == plain.plain_fingerprint
    variants = [
        KD,
        dataclasses.replace(KD, alpha=0.9),
        dataclasses.replace(KD, temperature=4.0),
        dataclasses.replace(KD, hidden=True),
        dataclasses.replace(KD, teacher_seed=1),
    ]
    prints = {Evaluator(str(tiny_model), task, FAST, distill=v).fingerprint for v in variants}
    assert len(prints) == len(variants) and plain.fingerprint not in prints


def test_regression_students_match_the_teachers_prediction(tiny_model, regression_file):
    task = load_task(DataSpec(train=regression_file, regression=True))
    evaluator = Evaluator(str(tiny_model), task, FAST, distill=KD)
    assert evaluator.teacher().logits.shape == (len(task.train), 1)
    score = evaluator.score({1}, seed=0)
    assert score.metric == "spearman" and score.value == score.value  # not nan


# -- the commands: evaluate --distill, export --finetune --distill ----------------------------
CLI_FAST = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]


@pytest.fixture(scope="module")
def searched(tiny_model, task_file, tmp_path_factory) -> Path:
    """A greedy search removing 2 of the tiny model's 4 layers, on a task with a dev file."""
    root = tmp_path_factory.mktemp("distill")
    dev = root / "dev.csv"
    dev.write_text("".join(task_file.read_text().splitlines(keepends=True)[:41]))
    args = [
        "search", "--model", str(tiny_model), "--train", str(task_file), "--validation",
        str(dev), "--remove", "2", "--cache", str(root / "search-cache"), "--out",
        str(root / "out"), "--quiet", "--force", *CLI_FAST,
    ]  # fmt: skip
    assert main(args) == 0
    return root / "out"


def evaluate(searched: Path, cache: Path, out: Path, *extra: str) -> dict:
    args = ["evaluate", "--from", str(searched), "--cache", str(cache), "--out", str(out)]
    assert main([*args, "--quiet", "--seeds", "2", *extra]) == 0
    return json.loads((out / "evaluate.json").read_text())


def score_keys(cache: Path) -> set[str]:
    with closing(sqlite3.connect(cache / "cache.db")) as db:
        return {k for (k,) in db.execute("SELECT key FROM Cache WHERE key LIKE 'score/%'")}


def test_evaluate_distill_after_plain_trains_only_students_and_shows_both(
    searched, tmp_path, fine_tunes
):
    cache, out = tmp_path / "cache", tmp_path / "eval"
    plain = evaluate(searched, cache, out)
    sets = {tuple(sorted(r["removed"])) for r in plain["results"]}
    assert fine_tunes == [False] * 2 * len(sets)
    assert "distill" not in plain and all("distilled" not in r for r in plain["results"])
    plain_keys = score_keys(cache)
    pruned = len(sets) - 1  # the unpruned model is the teacher, not a student

    fine_tunes.clear()
    distilled = evaluate(searched, cache, out, "--distill", "--distill-alpha", "0.7")
    assert fine_tunes == [False] + [True] * 2 * pruned  # one teacher, then the students
    assert distilled["evaluations"] == {"computed": 2 * pruned, "cached": 0, "failed": 0}
    info = distilled["distill"]
    assert info["settings"] == {"alpha": 0.7, "temperature": 2.0, "hidden": False,
                                "teacher_seed": 0}  # fmt: skip
    assert info["teacher"]["fingerprint"] == plain["fingerprint"] == distilled["fingerprint"]
    assert info["fingerprint"] != plain["fingerprint"]
    # never one cache entry for both: the students have keys of their own
    student_keys = score_keys(cache) - plain_keys
    assert len(student_keys) == 2 * pruned
    assert all(k.split("/")[1] == info["fingerprint"] for k in student_keys)
    for old, new in zip(plain["results"], distilled["results"], strict=True):
        assert {k: new[k] for k in ("scores", "mean", "std")} == {
            k: old[k] for k in ("scores", "mean", "std")
        }  # the plain side, from the cache
        if not new["removed"]:
            assert "distilled" not in new
            continue
        assert len(new["distilled"]["scores"]) == 2 and new["distilled"]["failures"] == []

    fine_tunes.clear()  # again, and plain again: all from the cache, both shown
    assert (
        evaluate(searched, cache, out, "--distill", "--distill-alpha", "0.7")["results"]
        == (distilled["results"])
    )
    again = evaluate(searched, cache, out)
    assert fine_tunes == []
    assert [r.get("distilled") for r in again["results"]] == [
        r.get("distilled") for r in distilled["results"]
    ]
    assert again["evaluations"]["cached"] == 2 * len(sets)


def test_a_distilled_evaluate_before_any_plain_one_shows_plain_as_not_evaluated(
    searched, tmp_path, capsys
):
    cache, out = tmp_path / "cache", tmp_path / "eval"
    args = ["evaluate", "--from", str(searched), "--cache", str(cache), "--out", str(out)]
    assert main([*args, "--seeds", "1", "--distill", "--distill-hidden"]) == 0
    printed = capsys.readouterr().out
    record = json.loads((out / "evaluate.json").read_text())
    assert all(r["mean"] is None and r["scores"] == [] for r in record["results"])
    assert all(r["distilled"]["mean"] is not None for r in record["results"] if r["removed"])
    assert "not evaluated" in printed and "distilled -: the teacher" in printed


def test_distill_settings_without_distill_are_refused_in_one_line(searched, tmp_path, capsys):
    args = ["evaluate", "--from", str(searched), "--cache", str(tmp_path / "c")]
    refused = (
        ["--distill-hidden"],
        ["--distill-alpha", "0.3"],
        ["--distill", "--distill-alpha", "2"],
    )
    for extra in refused:
        assert main([*args, *extra]) == 2
        error = capsys.readouterr().err
        assert len(error.strip().splitlines()) == 1 and "--distill" in error
    assert not (tmp_path / "c").exists()


def test_export_finetune_distill_records_the_teacher_and_settings(searched, tmp_path, fine_tunes):
    cache, folder = tmp_path / "cache", tmp_path / "out"
    shutil.copytree(searched, folder)
    evaluated = evaluate(
        folder, cache, folder, "--seeds", "1", "--distill", "--distill-temperature", "3"
    )
    fine_tunes.clear()
    args = [
        "export", "--from", str(folder), "--layers-removed", "1", "--finetune", "--distill",
        "--distill-temperature", "3", "--cache", str(cache), "--out", str(tmp_path / "model"),
        "--quiet",
    ]  # fmt: skip
    assert main(args) == 0
    assert fine_tunes == [True]  # the student; the teacher of the evaluate is reused
    facts = json.loads((tmp_path / "model" / "glpsearch.json").read_text())
    # the card's dev score is the distilled one evaluate measured, with the same settings
    (entry,) = [r for r in evaluated["results"] if r["depth"] == 1]
    assert facts["scores"]["dev"]["pruned"]["mean"] == entry["distilled"]["mean"]
    assert facts["scores"]["dev"]["unpruned"] is None  # no plain evaluate
    distilled = facts["finetuned"]["distill"]
    assert (distilled["alpha"], distilled["temperature"], distilled["hidden"]) == (0.5, 3.0, False)
    assert distilled["teacher"]["seed"] == 0
    (teacher,) = (cache / "teachers").glob("*/0.pt")
    assert teacher.parent.name == distilled["teacher"]["fingerprint"]
    card = (tmp_path / "model" / "README.md").read_text()
    assert "| distilled | from the unpruned base model" in card and "temperature 3" in card


def test_export_distill_needs_finetune(searched, tmp_path, capsys):
    args = ["export", "--from", str(searched), "--layers-removed", "1", "--distill",
            "--out", str(tmp_path / "model")]  # fmt: skip
    assert main(args) == 2
    assert "--distill goes with --finetune" in capsys.readouterr().err


# A real process running glpsearch's main(), paused right after its n-th score is written, for
# the test to kill -9 it there (as tests/glpsearch/test_failures.py does).
PAUSED_AFTER_SCORES = """
import os, time
from pathlib import Path

import glpsearch.cli
from glpsearch.store.cache import Store

marker, at, calls = Path(os.environ["GLP_MARKER"]), int(os.environ["GLP_AT"]), []
put = Store.put


def written(self, kind, *args, **kwargs):
    put(self, kind, *args, **kwargs)
    if kind != "score":
        return
    calls.append(1)
    if len(calls) == at:
        marker.write_text("paused")
        time.sleep(600)


Store.put = written
glpsearch.cli.run()
"""


def test_a_killed_distilled_evaluate_resumes_without_redoing_finished_students(
    searched, tmp_path, fine_tunes
):
    cache, out = tmp_path / "cache", tmp_path / "eval"
    args = ["evaluate", "--from", str(searched), "--cache", str(cache), "--out", str(out),
            "--seeds", "2", "--distill", "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLP_MARKER": str(tmp_path / "paused"),
           "GLP_AT": "3"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSED_AFTER_SCORES, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not (tmp_path / "paused").exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the third student was not reached in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == -signal.SIGKILL
    finished = score_keys(cache)
    assert len(finished) == 3 and len(list((cache / "teachers").glob("*/*.pt"))) == 1

    record = evaluate(searched, cache, out, "--distill")  # the same command again
    students = 2 * (len({tuple(sorted(r["removed"])) for r in record["results"]}) - 1)
    assert fine_tunes == [True] * (students - 3)  # no teacher, no finished student again
    assert record["evaluations"] == {"computed": students - 3, "cached": 3, "failed": 0}
    assert finished < score_keys(cache)


def test_parallel_workers_build_the_same_students_of_the_same_teacher(tiny_model, task_file):
    from glpsearch.engine.parallel import Recipe

    spec = DataSpec(train=task_file)
    recipe = Recipe(str(tiny_model), spec, FAST, distill=KD, teachers=Path("/cache/teachers"))
    built = recipe.build("cpu")
    driver = Evaluator(str(tiny_model), load_task(spec), FAST, distill=KD)
    assert (built.fingerprint, built.distill) == (driver.fingerprint, KD)
    assert built.teachers == Path("/cache/teachers")
