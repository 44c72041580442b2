"""Racing over seeds against scripted evaluators that know each request's seeds: only the
near-tied get more, the cap stops a race, the paired noise decides where scores carry
per-example outputs, and greedy, beam and greedy-halving's last rung all race alike."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence

import pytest

from glpsearch.strategies import StrategyOptions, make
from glpsearch.strategies.base import Estimate, Examples, Layers
from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.halving import Halving

Score = float | None


class Seeded:
    """Scores each (set, seed) by a rule and answers, for the first k seeds (the run's one
    unless asked for more), the mean as the engine does: an Estimate with its seed error, its
    count, a held-out SE and, when given, per-example outputs. Records (sets, budget, k)."""

    def __init__(
        self,
        score: Callable[[Layers, int], Score],
        heldout: float = 0.02,
        examples: Callable[[Layers], Examples] | None = None,
    ) -> None:
        self.score = score
        self.heldout = heldout
        self.examples = examples
        self.calls: list[tuple[list[Layers], float, int]] = []

    def __call__(
        self, candidates: Sequence[Layers], budget: float = 1.0, seeds: int | None = None
    ) -> list[Score]:
        k = 1 if seeds is None else seeds
        self.calls.append((list(candidates), budget, k))
        answers: list[Score] = []
        for layers in candidates:
            values = [self.score(layers, seed) for seed in range(k)]
            if None in values:
                answers.append(None)
                continue
            std = statistics.stdev(values) if k > 1 else 0.0
            examples = None if self.examples is None else self.examples(layers)
            mean = statistics.fmean(values)
            answers.append(Estimate(mean, std / math.sqrt(k), None, k, self.heldout, examples))
        return answers

    def seeds_of(self, layers: Layers) -> int:
        """The most seeds `layers` was asked for."""
        return max(k for sets, _, k in self.calls if layers in sets)


def table(scores: dict[int, float]) -> Callable[[Layers, int], Score]:
    """Single-layer sets scored by layer, the same on every seed; larger sets by their sum."""
    return lambda layers, seed: sum(scores.get(layer, 0.6) for layer in layers) / len(layers)


ONE = [frozenset({i}) for i in range(6)]


def test_only_the_near_tied_get_more_seeds_up_to_the_cap_where_the_tie_rule_chooses():
    # {4} leads {5} by 0.005, inside the held-out SE of 0.02; every other set is 0.1 or more out
    evaluate = Seeded(table({4: 0.80, 5: 0.795, 3: 0.70}))
    result = make("greedy", StrategyOptions(max_seeds=3)).run(6, 1, evaluate)
    pair = [frozenset({4}), frozenset({5})]
    assert evaluate.calls == [(ONE, 1.0, 1), (pair, 1.0, 2), (pair, 1.0, 3)]
    step = result.steps[0]
    assert step.race == "cap"
    assert step.chosen == frozenset({5})  # tied at the cap: the highest layers, as the rule says
    assert dict(step.candidates)[frozenset({5})].seeds == 3  # the step keeps the final means
    assert dict(step.candidates)[frozenset({0})].seeds == 1


def test_without_a_cap_nothing_is_raced():
    evaluate = Seeded(table({4: 0.80, 5: 0.795, 3: 0.70}))
    result = make("greedy").run(6, 1, evaluate)
    assert evaluate.calls == [(ONE, 1.0, 1)]
    assert (result.steps[0].chosen, result.steps[0].race) == (frozenset({4}), None)


def test_a_lower_cap_stops_the_race_sooner():
    evaluate = Seeded(table({4: 0.80, 5: 0.795}))
    result = make("greedy", StrategyOptions(max_seeds=2)).run(6, 1, evaluate)
    assert [k for _, _, k in evaluate.calls] == [1, 2]
    assert result.steps[0].race == "cap"


def test_the_race_ends_once_the_lead_clears_the_noise():
    # on seed 1, {4} gains and {5} loses: means 0.82 and 0.77, 0.05 apart, the noise 0.02
    def score(layers: Layers, seed: int) -> Score:
        moved = {4: 0.80 + 0.04 * seed, 5: 0.79 - 0.04 * seed}
        return moved.get(min(layers), 0.6)

    evaluate = Seeded(score)
    step = make("greedy", StrategyOptions(max_seeds=3)).run(6, 1, evaluate).steps[0]
    assert [k for _, _, k in evaluate.calls] == [1, 2]
    assert (step.race, step.chosen) == ("lead", frozenset({4}))
    assert step.score == pytest.approx(0.82)


def test_a_set_that_fails_a_new_seed_is_out_of_the_race():
    def score(layers: Layers, seed: int) -> Score:
        if layers == frozenset({4}) and seed == 1:
            return None
        return {4: 0.80, 5: 0.795}.get(min(layers), 0.6)

    evaluate = Seeded(score)
    step = make("greedy", StrategyOptions(max_seeds=3)).run(6, 1, evaluate).steps[0]
    assert [k for _, _, k in evaluate.calls] == [1, 2]
    assert (step.race, step.chosen) == ("lead", frozenset({5}))
    assert dict(step.candidates)[frozenset({4})] is None


def _agreeing(correct: dict[int, int], n: int = 100) -> Callable[[Layers], Examples]:
    """Per-example correctness: set {i} right on the first correct[i] of n examples, so any two
    sets disagree only on the examples between their counts."""
    return lambda layers: Examples(tuple(float(j < correct[min(layers)]) for j in range(n)))


def test_the_paired_noise_decides_where_scores_carry_per_example_outputs():
    # 0.80 against 0.78: inside one candidate's binomial SE of 0.04, but the two disagree on
    # only 2 of 100 examples, a paired SE of sqrt((0.02 - 0.02^2) / 100) = 0.014: a clear lead
    scores = table({4: 0.80, 5: 0.78})
    counts = {i: 60 for i in range(4)} | {4: 80, 5: 78}
    unpaired = Seeded(scores, heldout=0.04)
    paired = Seeded(scores, heldout=0.04, examples=_agreeing(counts))
    options = StrategyOptions(max_seeds=3)
    assert make("greedy", options).run(6, 1, unpaired).steps[0].race == "cap"
    step = make("greedy", options).run(6, 1, paired).steps[0]
    assert (step.race, step.chosen) == ("lead", frozenset({4}))
    assert paired.calls == [(ONE, 1.0, 1)]


def test_a_set_left_behind_is_brought_level_before_the_leaders_get_more():
    # {3} is out after one seed, but the leader's second seed pulls it back inside the noise
    def score(layers: Layers, seed: int) -> Score:
        return {4: [0.80, 0.74, 0.74], 5: [0.79, 0.73, 0.73], 3: [0.75, 0.75, 0.75]}.get(
            min(layers), [0.5] * 3
        )[seed]

    evaluate = Seeded(score, heldout=0.02)
    make("greedy", StrategyOptions(max_seeds=3)).run(6, 1, evaluate)
    pair, trio = [frozenset({4}), frozenset({5})], [frozenset({4}), frozenset({5}), frozenset({3})]
    assert [(sorted(map(min, sets)), k) for sets, _, k in evaluate.calls[1:]] == [
        (sorted(map(min, pair)), 2),
        (sorted(map(min, trio)), 2),  # {3} caught up to two seeds; the others computed nothing
        (sorted(map(min, trio)), 3),
    ]


def test_beam_races_each_depth_and_greedy_halvings_last_rung_races():
    evaluate = Seeded(table({4: 0.80, 5: 0.795, 3: 0.70}))
    beam = make("beam", StrategyOptions(beam_width=2, max_seeds=2)).run(6, 1, evaluate)
    assert [k for _, _, k in evaluate.calls] == [1, 2]
    assert beam.steps[0].race == "cap"

    evaluate = Seeded(table({4: 0.80, 5: 0.795, 3: 0.70}))
    step = Halving(StrategyOptions(min_budget=0.5, max_seeds=3)).run(6, 1, evaluate).steps[0]
    finalists = [frozenset({4}), frozenset({5}), frozenset({3})]
    pair = [frozenset({4}), frozenset({5})]
    assert evaluate.calls == [(ONE, 0.5, 1), (finalists, 1.0, 1), (pair, 1.0, 2), (pair, 1.0, 3)]
    assert (step.race, step.chosen) == ("cap", frozenset({5}))
    assert step.budgets == (0.5, 0.5, 0.5, 1.0, 1.0, 1.0)


def test_fixed_orders_have_nothing_to_race():
    evaluate = Seeded(table({}))
    result = make("top-drop", StrategyOptions(max_seeds=3)).run(6, 2, evaluate)
    assert [k for _, _, k in evaluate.calls] == [1, 1]
    assert [s.race for s in result.steps] == [None, None]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_a_cap_racing_cannot_run_with_is_refused_when_built(bad):
    for name in ("greedy", "beam", "greedy-halving", "random"):
        with pytest.raises(OptionError, match="most seeds"):
            make(name, StrategyOptions(max_seeds=bad))
