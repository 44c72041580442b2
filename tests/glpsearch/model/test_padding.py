"""Batches padded up to length buckets (bench/gpu_step.py --buckets): attention masks keep
held-out scoring and the training gradient to float noise, but dropout draws its masks by
tensor shape, so a fine-tune with buckets is a different random run: off by default, it keeps
every fingerprint's meaning."""

from __future__ import annotations

import pytest
import torch

from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.model.evaluator import Evaluator

SETTINGS = TrainSettings(epochs=1, lr=3e-3, batch_size=8, max_length=32)
BUCKETS = (16, 32)  # the task's examples are 7 tokens long: every batch gets 9 more of padding


@pytest.fixture(scope="module")
def evaluator(tiny_model, task_file):
    return Evaluator(str(tiny_model), load_task(DataSpec(train=task_file)), SETTINGS)


@pytest.fixture
def buckets(evaluator):
    yield lambda lengths: setattr(evaluator, "length_buckets", lengths)
    evaluator.__dict__.pop("length_buckets", None)  # back to the class's default


def _gradient(evaluator, model, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    _, batch = next(evaluator.batches(evaluator.train_features))
    model.zero_grad()
    model(**batch).loss.backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_buckets_are_off_by_default(evaluator):
    _, batch = next(evaluator.batches(evaluator.train_features))
    assert batch["input_ids"].shape[1] == max(len(f["input_ids"]) for f in evaluator.train_features)


def test_a_bucket_pads_up_to_the_shortest_that_holds_the_batch(evaluator, buckets):
    buckets(BUCKETS)
    _, batch = next(evaluator.batches(evaluator.train_features))
    assert batch["input_ids"].shape[1] == 16
    assert batch["attention_mask"][:, 7:].sum() == 0  # padding is masked


def test_held_out_scores_are_the_same_padded_to_buckets(evaluator, buckets):
    model = evaluator.build({1}, 0)
    plain = evaluator._score(model, evaluator._heldout, evaluator.task.heldout)
    buckets(BUCKETS)
    padded = evaluator._score(model, evaluator._heldout, evaluator.task.heldout)
    assert padded[0] == plain[0]
    assert padded[1] == pytest.approx(plain[1], abs=1e-6)


def test_padding_changes_training_only_through_dropout(evaluator, buckets):
    model = evaluator.build({1}, 0).train()
    plain = _gradient(evaluator, model)
    buckets(BUCKETS)
    padded = _gradient(evaluator, model)
    assert (plain - padded).abs().max() > 1e-4  # other dropout masks: another random run
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    buckets(())
    plain = _gradient(evaluator, model)
    buckets(BUCKETS)
    assert torch.allclose(_gradient(evaluator, model), plain, rtol=0, atol=1e-6)
