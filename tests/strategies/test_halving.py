"""greedy-halving against scripted evaluators that know the budget of each request."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from glpsearch.strategies import StrategyOptions, make
from glpsearch.strategies.base import Estimate, Layers
from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.greedy import Greedy
from glpsearch.strategies.halving import MIN_RUNG_STEPS, Halving, floor_budget, rungs

Score = float | None


class Budgeted:
    """Scores a set at a budget by a rule; records each call as (candidates, budget)."""

    def __init__(self, score: Callable[[Layers, float], Score]) -> None:
        self.score = score
        self.calls: list[tuple[list[Layers], float]] = []

    def __call__(self, candidates: Sequence[Layers], budget: float = 1.0) -> list[Score]:
        self.calls.append((list(candidates), budget))
        return [self.score(layers, budget) for layers in candidates]


def full(layers: Layers) -> float:
    """Distinct full scores: upper layers matter least, with a twist so orders are not trivial."""
    return 0.9 - 0.01 * len(layers) + sum((i * 7) % 11 for i in layers) / 1000


def test_rungs_go_down_from_the_full_budget_by_eta():
    assert rungs(0.25, 2) == [0.25, 0.5, 1.0]
    assert rungs(0.3, 2) == [0.5, 1.0]
    assert rungs(0.1, 3) == [1 / 9, 1 / 3, 1.0]
    assert rungs(1.0, 2) == [1.0]


@pytest.mark.parametrize(
    ("min_budget", "eta", "total_steps", "floored"),
    [
        (0.25, 2, 1000, 0.25),  # 250 steps: enough
        (0.25, 2, 107, 0.5),  # 27 steps are too few, 54 are enough
        (0.25, 2, 214, 0.25),  # 53.5 rounds to 54
        (0.1, 3, 500, 1 / 9),
        (0.1, 3, 200, 1 / 3),
        (0.25, 2, 60, 1.0),  # no rung has 50 steps: every candidate gets the full fine-tune
    ],
)
def test_the_floor_raises_the_shortest_rung_to_enough_steps(min_budget, eta, total_steps, floored):
    assert floor_budget(min_budget, eta, total_steps) == pytest.approx(floored)
    assert MIN_RUNG_STEPS == 50


@pytest.mark.parametrize(
    ("min_budget", "eta", "match"),
    [(0.0, 2, "minimum budget"), (1.5, 2, "minimum budget"), (0.25, 1, "eta"), (0.25, 2.5, "eta")],
)
def test_bad_options_are_refused_before_any_evaluation(min_budget, eta, match):
    evaluate = Budgeted(lambda layers, budget: 0.0)
    with pytest.raises(ValueError, match=match):
        Halving(StrategyOptions(min_budget=min_budget, eta=eta)).run(6, 2, evaluate)
    assert evaluate.calls == []


@pytest.mark.parametrize(
    ("min_budget", "eta", "match"),
    [(0.0, 2, "minimum budget"), (1.5, 2, "minimum budget"), (0.25, 1, "eta"), (0.25, 2.5, "eta")],
)
def test_bad_options_are_refused_when_built(min_budget, eta, match):
    with pytest.raises(OptionError, match=match):
        Halving(StrategyOptions(min_budget=min_budget, eta=eta))


def test_it_is_greedys_proposal_with_a_halving_judge(scripted):
    assert issubclass(Halving, Greedy) and Halving.proposal is Greedy.proposal
    assert Halving.judge is not Greedy.judge
    one_rung = Halving(StrategyOptions(min_budget=1.0))  # every candidate fully: greedy itself
    greedy, halving = scripted(full), Budgeted(lambda layers, budget: full(layers))

    def kept(steps: list) -> list:
        return [(step.candidates, step.chosen, step.score) for step in steps]

    assert kept(one_rung.run(8, 3, halving).steps) == kept(Greedy().run(8, 3, greedy).steps)
    assert [(candidates, 1.0) for candidates in greedy.calls] == halving.calls


def test_each_rung_keeps_the_better_half_in_one_call():
    evaluate = Budgeted(lambda layers, budget: full(layers) * budget)
    result = make("greedy-halving").run(8, 1, evaluate)
    assert [(len(c), b) for c, b in evaluate.calls] == [(8, 0.25), (4, 0.5), (2, 1.0)]
    step = result.steps[0]
    assert sorted(step.budgets) == [0.25] * 4 + [0.5] * 2 + [1.0] * 2
    reached = dict(zip((c for c, _ in step.candidates), step.budgets, strict=True))
    for layers, score in step.candidates:  # each score is the one at the budget it reached
        assert score == pytest.approx(full(layers) * reached[layers])


def test_a_lone_survivor_goes_straight_to_the_full_budget():
    evaluate = Budgeted(lambda layers, budget: full(layers) * budget)
    make("greedy-halving").run(3, 1, evaluate)
    assert [(len(c), b) for c, b in evaluate.calls] == [(3, 0.25), (1, 1.0)]


def test_it_picks_greedys_layers_when_short_fine_tunes_rank_like_full_ones(scripted):
    halving = Budgeted(lambda layers, budget: full(layers) - (1 - budget))
    greedy = scripted(full)
    expected = make("greedy").run(12, 6, greedy)
    result = make("greedy-halving").run(12, 6, halving)
    assert result.order == expected.order
    assert [s.score for s in result.steps] == [s.score for s in expected.steps]
    # 12 candidates -> 6 at 1/2 -> 3 in full at depth 1, ..., 7 -> 3 -> 1 at depth 6
    full_fine_tunes = sum(len(c) for c, b in halving.calls if b == 1.0)
    assert (full_fine_tunes, len(greedy.evaluated)) == (3 + 2 + 2 + 2 + 2 + 1, 57)


def test_it_misses_greedys_choice_when_short_fine_tunes_mislead():
    """A late bloomer (layer 0 removed: worst after a quarter, best in full) is dropped at the
    first rung, so the step keeps a set greedy would not: the price of halving, recorded."""

    def misleading(layers: Layers, budget: float) -> float:
        return full(layers) + (0.2 if 0 in layers else 0.0) * (1 if budget == 1.0 else -1)

    evaluate = Budgeted(misleading)
    step = make("greedy-halving").run(6, 1, evaluate).steps[0]
    greedy = make("greedy").run(6, 1, lambda sets: [misleading(s, 1.0) for s in sets])
    assert greedy.steps[0].chosen == frozenset({0})
    assert step.chosen != frozenset({0})
    reached = dict(zip((c for c, _ in step.candidates), step.budgets, strict=True))
    assert reached[frozenset({0})] == 0.25


def test_short_fine_tunes_are_ranked_by_held_out_loss_when_every_score_has_one():
    """Short fine-tunes all at the majority class (equal metric) differ in loss; the survivors
    are the lowest losses, and the full rung still chooses by the metric."""

    def scored(layers: Layers, budget: float) -> Estimate:
        if budget < 1.0:
            return Estimate(0.59, 0.0, loss=0.7 - 0.01 * min(layers))  # low layers: lower loss
        return Estimate(full(layers), 0.0, loss=0.3 + 0.01 * min(layers))  # loss says 0, metric 4

    evaluate = Budgeted(scored)
    step = make("greedy-halving").run(6, 1, evaluate).steps[0]
    assert evaluate.calls[1] == ([frozenset({5}), frozenset({4}), frozenset({3})], 0.5)
    assert evaluate.calls[2][1] == 1.0
    [finalist] = evaluate.calls[2][0]
    assert step.chosen == finalist == frozenset({5})  # rung 0.5 kept the lowest loss: {5}


def test_a_rung_where_some_score_has_no_loss_is_ranked_by_the_metric():
    """Records from before losses were kept must not be compared with ones that have them."""

    def metric(layers: Layers, budget: float) -> float:
        return (full(layers) + (0.1 if 0 in layers else 0.0)) * budget  # {0} survives every rung

    def scored(layers: Layers, budget: float) -> Estimate:
        loss = None if 0 in layers else 0.7 - 0.01 * max(layers)  # would favour high layers
        return Estimate(metric(layers, budget), 0.0, loss=loss)

    mixed = make("greedy-halving").run(6, 1, Budgeted(scored))
    assert mixed == make("greedy-halving").run(6, 1, Budgeted(metric))
    assert mixed.steps[0].chosen == frozenset({0})


def test_failed_candidates_never_survive_and_a_rung_where_all_fail_ends_the_search():
    def score(layers: Layers, budget: float) -> Score:
        return None if budget < 1.0 and 5 in layers else full(layers) * budget

    result = make("greedy-halving").run(6, 2, Budgeted(score))
    assert frozenset({5}) != result.steps[0].chosen
    dead = make("greedy-halving").run(6, 2, Budgeted(lambda layers, budget: None))
    assert len(dead.steps) == 1 and dead.steps[0].chosen is None


def test_a_rerun_asks_for_the_same_sets_at_the_same_budgets(rough_scores):
    def noisy(layers: Layers, budget: float) -> Score:
        score = rough_scores(layers)
        return None if score is None else score * budget

    first, second = Budgeted(noisy), Budgeted(noisy)
    options = StrategyOptions(min_budget=0.1, eta=3)
    assert Halving(options).run(12, 5, first) == Halving(options).run(12, 5, second)
    assert first.calls == second.calls
