from __future__ import annotations

from math import comb

import pytest

from glpsearch.strategies.base import StrategyOptions, best
from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.random_sets import RandomSets


def run(scripted, scores, n_layers: int, remove: int, **options):
    evaluate = scripted(scores)
    return RandomSets(StrategyOptions(**options)).run(n_layers, remove, evaluate), evaluate


def test_samples_distinct_sets_of_each_size_within_budget(scripted, rough_scores):
    result, evaluate = run(scripted, rough_scores, 12, 4, max_evaluations=20)

    assert [len(call) for call in evaluate.calls] == [12, 20, 20, 20]
    for depth, call in enumerate(evaluate.calls, start=1):
        assert len(set(call)) == len(call)
        assert all(len(layers) == depth and layers <= set(range(12)) for layers in call)
    assert result.strategy == "random"


def test_the_default_budget_is_n_layers_per_depth(scripted, rough_scores):
    _, evaluate = run(scripted, rough_scores, 6, 3)

    assert [len(call) for call in evaluate.calls] == [6, 6, 6]


def test_takes_every_set_where_the_budget_covers_them(scripted, rough_scores):
    _, evaluate = run(scripted, rough_scores, 5, 3, max_evaluations=10)

    assert [len(set(call)) for call in evaluate.calls] == [comb(5, 1), comb(5, 2), comb(5, 3)]


def test_the_same_seed_replays_and_another_seed_differs(scripted, rough_scores):
    first, first_evaluate = run(scripted, rough_scores, 12, 3, seed=7)
    again, again_evaluate = run(scripted, rough_scores, 12, 3, seed=7)
    _, other_evaluate = run(scripted, rough_scores, 12, 3, seed=8)

    assert again_evaluate.calls == first_evaluate.calls
    assert again.steps == first.steps
    assert other_evaluate.calls[1:] != first_evaluate.calls[1:]


def test_chooses_the_best_sampled_set_per_depth(scripted, rough_scores):
    result, evaluate = run(scripted, rough_scores, 10, 3, seed=3)

    for step, call in zip(result.steps, evaluate.calls, strict=True):
        assert (step.chosen, step.score) == best([(s, rough_scores(s)) for s in call])


def test_rejects_an_empty_budget(scripted):
    with pytest.raises(ValueError, match="at least 1 set per depth"):
        run(scripted, lambda layers: 1.0, 6, 2, max_evaluations=0)


def test_no_sets_per_depth_is_refused_when_built():
    with pytest.raises(OptionError, match="at least 1 set per depth, got --max-evaluations 0"):
        RandomSets(StrategyOptions(max_evaluations=0))
