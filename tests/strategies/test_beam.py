from __future__ import annotations

from math import comb

import pytest

from glpsearch.strategies.base import StrategyOptions, best
from glpsearch.strategies.beam import Beam, top
from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.exhaustive import Exhaustive
from glpsearch.strategies.greedy import Greedy


def beam(width: int) -> Beam:
    return Beam(StrategyOptions(beam_width=width))


# Layer 0 is the best single removal, but 1 and 2 are only redundant together.
PAIRS = {
    frozenset({0}): 0.9, frozenset({1}): 0.5, frozenset({2}): 0.4, frozenset({3}): 0.1,
    frozenset({0, 1}): 0.3, frozenset({0, 2}): 0.2, frozenset({0, 3}): 0.2,
    frozenset({1, 2}): 0.8, frozenset({1, 3}): 0.1, frozenset({2, 3}): 0.1,
}  # fmt: skip


def test_width_one_replays_greedy_exactly(scripted, rough_scores):
    greedy_evaluate, beam_evaluate = scripted(rough_scores), scripted(rough_scores)

    greedy = Greedy().run(8, 5, greedy_evaluate)
    result = beam(1).run(8, 5, beam_evaluate)

    assert beam_evaluate.calls == greedy_evaluate.calls
    assert result.steps == greedy.steps
    assert result.strategy == "beam"


def test_a_full_beam_finds_the_optimum_greedy_misses(scripted):
    greedy = Greedy().run(4, 2, scripted(PAIRS))
    exhaustive = Exhaustive().run(4, 2, scripted(PAIRS))
    result = beam(comb(4, 2)).run(4, 2, scripted(PAIRS))

    assert greedy.steps[-1].chosen == frozenset({0, 1})
    assert exhaustive.steps[-1].chosen == frozenset({1, 2})
    assert (result.steps[-1].chosen, result.steps[-1].score) == (frozenset({1, 2}), 0.8)


def test_expands_the_kept_sets_once_each_in_one_call_per_depth(scripted):
    evaluate = scripted(PAIRS)

    result = beam(2).run(4, 2, evaluate)

    # Depth 1 keeps {0} and {1}; {0, 1} grows from both but is asked for once.
    assert evaluate.calls == [
        [frozenset({0}), frozenset({1}), frozenset({2}), frozenset({3})],
        [frozenset({0, 1}), frozenset({0, 2}), frozenset({0, 3}), frozenset({1, 2}),
         frozenset({1, 3})],
    ]  # fmt: skip
    assert result.steps[1].chosen == frozenset({1, 2})


def test_the_best_set_may_not_extend_the_previous_best(scripted):
    result = beam(2).run(4, 2, scripted(PAIRS))

    assert [step.chosen for step in result.steps] == [frozenset({0}), frozenset({1, 2})]
    assert result.order is None


def test_failed_sets_are_never_kept(scripted):
    # Only {3} survives depth 1, so a table listing nothing else at depth 2 suffices.
    table = {
        frozenset({0}): None, frozenset({1}): None, frozenset({2}): None, frozenset({3}): 0.1,
        frozenset({0, 3}): 1.0, frozenset({1, 3}): 1.0, frozenset({2, 3}): 1.0,
    }  # fmt: skip
    evaluate = scripted(table)

    beam(3).run(4, 2, evaluate)

    assert evaluate.calls[1] == [frozenset({0, 3}), frozenset({1, 3}), frozenset({2, 3})]


def test_a_depth_where_everything_failed_ends_the_search(scripted):
    evaluate = scripted(lambda layers: None if len(layers) == 2 else 1.0)

    result = beam(2).run(4, 3, evaluate)

    assert len(evaluate.calls) == 2
    assert result.steps[-1].chosen is None


def test_rejects_an_empty_beam(scripted):
    evaluate = scripted(lambda layers: 1.0)

    with pytest.raises(ValueError, match="beam width must be at least 1"):
        beam(0).run(4, 2, evaluate)
    assert evaluate.calls == []


def test_top_ranks_like_best_and_drops_failures():
    scored = [
        (frozenset({0, 3}), 0.5),
        (frozenset({1, 2}), 0.5),
        (frozenset({2, 3}), None),
        (frozenset({0, 1}), 0.9),
        (frozenset({1, 3}), 0.5),
    ]

    assert top(scored, 1) == [best(scored)]
    assert top(scored, 3) == [
        (frozenset({0, 1}), 0.9),
        (frozenset({1, 3}), 0.5),
        (frozenset({0, 3}), 0.5),
    ]
    assert len(top(scored, 10)) == 4
    assert top([(frozenset({0}), None)], 2) == []


def test_an_empty_beam_is_refused_when_built():
    with pytest.raises(OptionError, match="beam width must be at least 1, got 0"):
        beam(0)
