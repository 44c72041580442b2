from __future__ import annotations

import pytest

from glpsearch.strategies.base import StrategyOptions
from glpsearch.strategies.block_influence import BlockInfluence
from glpsearch.strategies.errors import OptionError


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


@pytest.mark.parametrize("ranking", [(0, 1, 2, 2), (0, 1, 2, 4), (-1, 0, 1)])
def test_a_ranking_that_is_no_order_is_refused_when_built(ranking):
    with pytest.raises(OptionError, match="must list each of the"):
        BlockInfluence(StrategyOptions(ranking=ranking))


def test_check_refuses_a_ranking_of_another_model_or_none_without_running():
    BlockInfluence(StrategyOptions(ranking=(2, 0, 1))).check(3, 2)
    with pytest.raises(OptionError, match="must list each of the 6 layers once, got \\[2, 0, 1\\]"):
        BlockInfluence(StrategyOptions(ranking=(2, 0, 1))).check(6, 2)
    with pytest.raises(OptionError, match="block-influence needs a layer ranking"):
        BlockInfluence().check(6, 2)  # built without one: the commands measure it first
