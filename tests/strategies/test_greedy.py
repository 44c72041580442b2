from __future__ import annotations

from glpsearch.strategies.greedy import Greedy

A, B, C, D = 0, 1, 2, 3


def test_follows_the_best_removal_at_each_depth(scripted):
    table = {
        frozenset({A}): 0.1, frozenset({B}): 0.7, frozenset({C}): 0.3, frozenset({D}): 0.5,
        frozenset({A, B}): 0.2, frozenset({B, C}): 0.4, frozenset({B, D}): 0.6,
        frozenset({A, B, D}): 0.5, frozenset({B, C, D}): 0.1,
    }  # fmt: skip
    evaluate = scripted(table)

    result = Greedy().run(4, 3, evaluate)

    assert result.strategy == "greedy"
    assert result.order == [B, D, A]
    assert [(step.depth, step.chosen, step.score) for step in result.steps] == [
        (1, frozenset({B}), 0.7),
        (2, frozenset({B, D}), 0.6),
        (3, frozenset({A, B, D}), 0.5),
    ]
    # One call per depth, each with every extension of the kept set in layer order.
    assert evaluate.calls == [
        [frozenset({A}), frozenset({B}), frozenset({C}), frozenset({D})],
        [frozenset({A, B}), frozenset({B, C}), frozenset({B, D})],
        [frozenset({A, B, D}), frozenset({B, C, D})],
    ]
    assert result.steps[1].candidates == (
        (frozenset({A, B}), 0.2),
        (frozenset({B, C}), 0.4),
        (frozenset({B, D}), 0.6),
    )


def test_equal_scores_go_to_the_highest_layer(scripted):
    evaluate = scripted(lambda layers: 1.0)

    result = Greedy().run(5, 3, evaluate)

    assert result.order == [4, 3, 2]


def test_a_failed_candidate_is_skipped(scripted):
    # {2} would win the tie with {0} and {1} had it not failed.
    table = {
        frozenset({0}): 0.2, frozenset({1}): 0.2, frozenset({2}): None,
        frozenset({0, 1}): 0.5, frozenset({1, 2}): None,
    }  # fmt: skip
    evaluate = scripted(table)

    result = Greedy().run(3, 2, evaluate)

    assert result.steps[0].candidates[2] == (frozenset({2}), None)
    assert result.steps[0].chosen == frozenset({1})
    assert evaluate.calls[1] == [frozenset({0, 1}), frozenset({1, 2})]
    assert result.order == [1, 0]


def test_a_depth_where_everything_failed_ends_the_search(scripted):
    evaluate = scripted(lambda layers: 1.0 if len(layers) == 1 else None)

    result = Greedy().run(4, 3, evaluate)

    assert len(evaluate.calls) == 2
    assert [step.chosen for step in result.steps] == [frozenset({3}), None]
    assert result.steps[1].score is None
    assert len(result.steps[1].candidates) == 3
    assert result.order == [3]
