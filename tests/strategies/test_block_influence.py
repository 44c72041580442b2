from __future__ import annotations

import pytest

from glpsearch.strategies.base import StrategyOptions
from glpsearch.strategies.block_influence import BlockInfluence


def test_removes_the_least_influential_layers_first(scripted):
    evaluate = scripted(lambda layers: 1.0)
    ranking = (3, 0, 5, 1, 4, 2)

    result = BlockInfluence(StrategyOptions(ranking=ranking)).run(6, 3, evaluate)

    assert evaluate.calls == [[frozenset({3})], [frozenset({0, 3})], [frozenset({0, 3, 5})]]
    assert result.order == [3, 0, 5]
    assert result.strategy == "block-influence"


@pytest.mark.parametrize(
    ("ranking", "message"),
    [
        (None, "block-influence needs a layer ranking"),
        ((0, 1, 2, 3, 4), "must list each of the 6 layers once"),
        ((0, 1, 2, 3, 4, 4), "must list each of the 6 layers once"),
        ((0, 1, 2, 3, 4, 6), "must list each of the 6 layers once"),
    ],
)
def test_needs_a_ranking_of_every_layer(scripted, ranking, message):
    evaluate = scripted(lambda layers: 1.0)

    with pytest.raises(ValueError, match=message):
        BlockInfluence(StrategyOptions(ranking=ranking)).run(6, 2, evaluate)
    assert evaluate.calls == []
