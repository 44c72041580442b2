from __future__ import annotations

from itertools import combinations
from math import comb

import pytest

from glpsearch.strategies.base import StrategyOptions, best
from glpsearch.strategies.errors import BudgetExceeded, OptionError
from glpsearch.strategies.exhaustive import Exhaustive


def test_scores_every_set_of_each_size_in_one_call_per_depth(scripted, rough_scores):
    evaluate = scripted(rough_scores)

    result = Exhaustive().run(6, 3, evaluate)

    assert [len(set(call)) for call in evaluate.calls] == [comb(6, 1), comb(6, 2), comb(6, 3)]
    for depth, call in enumerate(evaluate.calls, start=1):
        assert all(len(layers) == depth for layers in call)
    every_triple = [frozenset(layers) for layers in combinations(range(6), 3)]
    assert sorted(map(sorted, evaluate.calls[2])) == sorted(map(sorted, every_triple))
    last = result.steps[-1]
    assert (last.chosen, last.score) == best([(s, rough_scores(s)) for s in every_triple])


def test_equal_scores_go_to_the_set_with_the_highest_layers(scripted):
    evaluate = scripted(lambda layers: 1.0 if layers in ({0, 3}, {1, 2}) else 0.0)

    result = Exhaustive().run(4, 2, evaluate)

    assert result.steps[1].chosen == frozenset({0, 3})


def test_refuses_over_budget_before_evaluating(scripted):
    evaluate = scripted(lambda layers: 1.0)

    with pytest.raises(BudgetExceeded) as raised:
        Exhaustive(StrategyOptions(max_evaluations=100)).run(12, 6, evaluate)

    assert str(raised.value) == (
        "exhaustive search needs 2509 evaluations, more than --max-evaluations 100; "
        "raise --max-evaluations or choose another strategy"
    )
    assert isinstance(raised.value, ValueError)
    assert evaluate.calls == []


def test_runs_when_the_budget_is_exactly_enough(scripted):
    evaluate = scripted(lambda layers: 1.0)

    Exhaustive(StrategyOptions(max_evaluations=4 + 6)).run(4, 2, evaluate)

    assert len(evaluate.evaluated) == 10


def test_the_model_it_cannot_afford_is_refused_by_check_without_running():
    exhaustive = Exhaustive(StrategyOptions(max_evaluations=9))  # building needs no model

    exhaustive.check(4, 1)
    with pytest.raises(BudgetExceeded, match="needs 10 evaluations, more than --max-evaluations 9"):
        exhaustive.check(4, 2)
    assert isinstance(BudgetExceeded("x"), OptionError)
