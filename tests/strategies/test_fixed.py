from __future__ import annotations

from math import ceil

import pytest

from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.fixed import Alternate, AlternateEven, BottomDrop, Symmetric, TopDrop

ORDERS = {
    (TopDrop, 12): [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1],
    (TopDrop, 6): [5, 4, 3, 2, 1],
    (BottomDrop, 12): [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    (BottomDrop, 6): [0, 1, 2, 3, 4],
    # Sajjad et al.'s odd-alternate, 1-indexed 11, 9, 7, ...
    (Alternate, 12): [10, 8, 6, 4, 2, 0, 11, 9, 7, 5, 3],
    (Alternate, 6): [4, 2, 0, 5, 3],
    (AlternateEven, 12): [11, 9, 7, 5, 3, 1, 10, 8, 6, 4, 2],
    (AlternateEven, 6): [5, 3, 1, 4, 2],
    (Symmetric, 12): [6, 5, 7, 4, 8, 3, 9, 2, 10, 1, 11],
    (Symmetric, 6): [3, 2, 4, 1, 5],
}


@pytest.mark.parametrize(("strategy", "n_layers"), list(ORDERS))
def test_removes_the_documented_sets_one_per_depth(scripted, strategy, n_layers):
    expected = ORDERS[strategy, n_layers]
    evaluate = scripted(lambda layers: 1.0)

    result = strategy().run(n_layers, n_layers - 1, evaluate)

    assert evaluate.calls == [[frozenset(expected[:depth])] for depth in range(1, n_layers)]
    assert result.order == expected


@pytest.mark.parametrize("n_layers", range(2, 17))
def test_symmetric_keeps_the_extra_layer_at_the_bottom(scripted, n_layers):
    evaluate = scripted(lambda layers: 1.0)

    Symmetric().run(n_layers, n_layers - 1, evaluate)

    for depth, (removed,) in enumerate(evaluate.calls, start=1):
        bottom = ceil((n_layers - depth) / 2)
        assert removed == frozenset(range(bottom, bottom + depth))


@pytest.mark.parametrize("strategy", [TopDrop, BottomDrop, Alternate, AlternateEven, Symmetric])
def test_keeps_at_least_one_layer(scripted, strategy):
    evaluate = scripted(lambda layers: 1.0)

    with pytest.raises(ValueError, match="remove at most 5, got 6"):
        strategy().run(6, 6, evaluate)
    assert evaluate.calls == []


def test_a_failed_depth_ends_the_search(scripted):
    evaluate = scripted(lambda layers: None if len(layers) == 2 else 1.0)

    result = TopDrop().run(6, 4, evaluate)

    assert [(step.chosen, step.score) for step in result.steps] == [
        (frozenset({5}), 1.0),
        (None, None),
    ]
    assert result.steps[1].candidates == ((frozenset({4, 5}), None),)


@pytest.mark.parametrize("strategy", [TopDrop, BottomDrop, Alternate, AlternateEven, Symmetric])
def test_check_refuses_removing_every_layer_without_running(strategy):
    strategy().check(6, 5)
    with pytest.raises(OptionError, match="keeps at least one layer: remove at most 5, got 6"):
        strategy().check(6, 6)
