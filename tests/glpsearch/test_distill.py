"""Distillation from the fine-tuned unpruned model (glpsearch/distill.py), on tiny models: the
teacher is fine-tuned once and reused, its logits are computed once, distilled fine-tunes are
cached apart from plain ones, hidden-state matching pairs each kept layer with its source."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from glpsearch import distill
from glpsearch.config import DataSpec, DistillSettings, TrainSettings
from glpsearch.data import load_task
from glpsearch.evaluator import Evaluator

FAST = TrainSettings(epochs=1, lr=3e-3, batch_size=8, max_length=32)
KD = DistillSettings(alpha=0.5, temperature=2.0)


@pytest.fixture(scope="module")
def task(task_file):
    return load_task(DataSpec(train=task_file))


@pytest.fixture
def fine_tunes(monkeypatch) -> list[bool]:
    """Every fine-tune of this test, True where a student's (it has an objective)."""
    calls: list[bool] = []
    real = Evaluator._fine_tune

    def counted(self, model, seed, progress, *rest, **kwargs):
        objective = kwargs.get("objective", rest[3] if len(rest) > 3 else None)
        calls.append(objective is not None)
        return real(self, model, seed, progress, *rest, **kwargs)

    monkeypatch.setattr(Evaluator, "_fine_tune", counted)
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
    score = evaluator.evaluate({0, 2}, seed=0)
    assert 0 <= score.value <= 1
    assert seen and all(pairs == [(0, 1), (1, 3)] for pairs in seen)


# -- the teacher: fine-tuned once, logits once, reused ----------------------------------------
def test_the_teacher_is_fine_tuned_once_and_reused_by_students_and_later_runs(
    tiny_model, task, tmp_path, fine_tunes
):
    teachers = tmp_path / "teachers"
    evaluator = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=teachers)
    evaluator.evaluate({1}, seed=0)
    evaluator.evaluate({1, 2}, seed=1)
    assert fine_tunes == [False, True, True]  # the teacher, then two students
    (saved,) = teachers.glob("*/*.pt")
    assert saved == distill.teacher_path(teachers, evaluator.plain_fingerprint, 0)

    fine_tunes.clear()  # a later run (a new process builds a new evaluator) reads it
    again = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=teachers)
    again.evaluate({3}, seed=0)
    assert fine_tunes == [True]
    # other distill settings: other students, the same teacher
    fine_tunes.clear()
    hotter = Evaluator(
        str(tiny_model), task, FAST, distill=dataclasses.replace(KD, temperature=4.0),
        teachers=teachers,
    )  # fmt: skip
    hotter.evaluate({3}, seed=0)
    assert fine_tunes == [True]


def test_teacher_logits_are_computed_once_with_dropout_off(tiny_model, task, tmp_path):
    evaluator = Evaluator(str(tiny_model), task, FAST, distill=KD, teachers=tmp_path)
    teacher = evaluator.teacher()
    assert teacher.logits.shape == (len(task.train), 2)
    model = evaluator.build((), 0)
    model.load_state_dict(teacher.state)
    model.eval()
    with torch.no_grad():
        for chunk, batch in evaluator._batches(evaluator._train):
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
    score = evaluator.evaluate({1}, seed=0)
    assert score.metric == "spearman" and score.value == score.value  # not nan
