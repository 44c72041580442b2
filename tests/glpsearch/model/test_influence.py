"""Block influence against a direct computation from each layer's own input and output."""

from __future__ import annotations

import math

import pytest
import torch

from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.model import surgery
from glpsearch.model.evaluator import Evaluator
from glpsearch.model.influence import block_influence, ranking

FAST = TrainSettings(epochs=1, lr=3e-3, batch_size=8, max_length=32, eval_batch_size=16)


@pytest.fixture(scope="module")
def task(task_file):
    return load_task(DataSpec(train=task_file))


@pytest.fixture(scope="module")
def evaluator(tiny_model, task):
    return Evaluator(str(tiny_model), task, FAST)


@torch.inference_mode()
def one_by_one(evaluator: Evaluator, count: int) -> list[float]:
    """1 - cos between what each layer module receives and returns, hooked, one example at a
    time so there is no padding at all: independent of hidden_states and of the masking."""
    model = evaluator.build(frozenset(), seed=0).eval()
    _, _, layers = surgery.layer_list(model)
    seen: dict[int, list[torch.Tensor]] = {}

    def hook(index: int):
        def record(module, args, kwargs, output):
            entering = args[0] if args else kwargs["hidden_states"]
            leaving = output[0] if isinstance(output, tuple) else output
            seen[index] = [entering[0], leaving[0]]

        return record

    for index, layer in enumerate(layers):
        layer.register_forward_hook(hook(index), with_kwargs=True)
    totals = [0.0] * len(layers)
    tokens = 0
    for features in evaluator.train_features[:count]:
        inputs = {k: torch.tensor([v]) for k, v in features.items() if k != "labels"}
        model(**inputs)
        for index, (entering, leaving) in seen.items():
            for a, b in zip(entering, leaving, strict=True):
                totals[index] += 1 - float(a @ b) / float(a.norm() * b.norm())
        tokens += len(features["input_ids"])
    return [total / tokens for total in totals]


def test_influence_is_one_minus_the_cosine_of_each_layers_input_and_output(evaluator):
    count = 24  # more than one padded batch of 16
    measured = block_influence(evaluator, max_examples=count)
    expected = one_by_one(evaluator, count)
    assert measured == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert len(set(measured)) == len(measured)  # the layers really differ: a real check


def test_influence_is_deterministic_one_value_per_layer_in_range(evaluator):
    values = block_influence(evaluator)
    assert len(values) == evaluator.n_layers == 4
    assert all(0.0 <= v <= 2.0 and math.isfinite(v) for v in values)
    assert block_influence(evaluator) == values


@pytest.mark.parametrize("arch", ["roberta", "distilbert", "electra"])
def test_every_supported_architecture_reports_each_layer(tiny_models, task, arch):
    values = block_influence(Evaluator(str(tiny_models[arch]), task, FAST), max_examples=16)
    assert len(values) == 4 and all(0.0 <= v <= 2.0 for v in values)


def test_ranking_is_least_influential_first_ties_to_the_higher_layer():
    assert ranking([0.3, 0.1, 0.3, 0.05]) == (3, 1, 2, 0)
    assert ranking([0.2, 0.2, 0.2]) == (2, 1, 0)
