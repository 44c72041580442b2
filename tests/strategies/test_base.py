from __future__ import annotations

from glpsearch.strategies.base import Estimate, SearchResult, StepResult, best


def step(depth: int, chosen: set[int] | None) -> StepResult:
    layers = None if chosen is None else frozenset(chosen)
    return StepResult(depth, (), layers, None if layers is None else 1.0)


def test_order_of_nested_steps():
    result = SearchResult("x", [step(1, {4}), step(2, {1, 4}), step(3, {1, 2, 4})])

    assert result.order == [4, 1, 2]


def test_order_stops_at_a_failed_step():
    result = SearchResult("x", [step(1, {4}), step(2, None)])

    assert result.order == [4]


def test_no_order_when_a_step_does_not_grow_the_previous_one():
    swapped = SearchResult("x", [step(1, {4}), step(2, {1, 2})])
    jumped = SearchResult("x", [step(1, {4}), step(2, {1, 2, 4})])

    assert swapped.order is None
    assert jumped.order is None


def test_best_skips_failures_and_breaks_ties_towards_high_layers():
    scored = [(frozenset({1, 2}), 0.5), (frozenset({0, 3}), 0.5), (frozenset({2, 3}), None)]

    assert best(scored) == (frozenset({0, 3}), 0.5)
    assert best([(frozenset({0}), None)]) is None


def test_means_within_the_best_standard_error_tie_and_the_highest_layers_win():
    low, high, far = frozenset({1}), frozenset({4}), frozenset({5})
    scored = [(low, Estimate(0.80, 0.01)), (high, Estimate(0.795, 0.02)), (far, Estimate(0.7, 0.0))]
    assert best(scored) == (high, 0.795)  # 0.005 behind, inside the best's error of 0.01
    assert best([(low, Estimate(0.80, 0.004)), (high, Estimate(0.795, 0.02))]) == (low, 0.80)


def test_an_estimate_behaves_as_its_mean():
    estimate = Estimate(0.75, 0.01)
    assert estimate == 0.75 and estimate - 0.25 == 0.5 and f"{estimate:.2f}" == "0.75"
    assert estimate.error == 0.01
