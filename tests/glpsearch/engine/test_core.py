"""The engine against a scripted scorer: the fine-tune is the slow part, so it is the fake."""

from __future__ import annotations

import dataclasses
import random
import statistics

import pytest

from glpsearch.engine.core import BatchStarted, CandidateFinished, Engine
from glpsearch.errors import UserError
from glpsearch.scoring.score import Score, pack, unpack
from glpsearch.store import Key, Store
from glpsearch.strategies import StrategyOptions, make


class CountingScorer:
    """Scores a set by a fixed rule and counts the fine-tunes it is asked for."""

    fingerprint = "f" * 20
    n_layers = 6

    def __init__(self, fail: frozenset[int] | None = None, interrupt_after: int | None = None):
        self.calls: list[frozenset[int]] = []
        self.fail = fail
        self.interrupt_after = interrupt_after

    def describe(self) -> dict:
        return {"model": "scripted"}

    def score(self, removed, seed, progress=None) -> Score:
        removed = frozenset(removed)
        if self.interrupt_after is not None and len(self.calls) == self.interrupt_after:
            raise KeyboardInterrupt
        self.calls.append(removed)
        if progress is not None:
            progress(1, 1)
        if removed == self.fail:
            raise RuntimeError("out of memory")
        value = 0.9 - 0.01 * len(removed) + 0.001 * sum(removed) + 0.0001 * seed
        return Score(value, "accuracy", 0.1, 0.01, 100, 20)


def test_duplicates_are_computed_once_and_answers_keep_request_order(store):
    scorer = CountingScorer()
    engine = Engine(scorer, store)
    scores = engine.evaluate([frozenset({2, 1}), frozenset({1, 2}), frozenset({0})])
    assert scores[0] == scores[1] == pytest.approx(0.883)
    assert scores[2] == pytest.approx(0.89)
    assert scorer.calls == [frozenset({1, 2}), frozenset({0})]


def test_scores_are_written_through_and_reused_by_a_new_engine(store):
    Engine(CountingScorer(), store).evaluate([frozenset({3})])
    again = CountingScorer()
    engine = Engine(again, store)
    assert engine.evaluate([frozenset({3})]) == [pytest.approx(0.893)]
    assert again.calls == []
    assert engine.counts == {"computed": 0, "cached": 1, "failed": 0}


def test_the_seed_is_part_of_the_key(store):
    Engine(CountingScorer(), store, seeds=(0,)).evaluate([frozenset({3})])
    other = CountingScorer()
    Engine(other, store, seeds=(1,)).evaluate([frozenset({3})])
    assert other.calls == [frozenset({3})]


def test_an_interrupted_search_resumes_computing_only_what_is_missing(store):
    full_run = CountingScorer()
    with Store(store.directory.parent / "reference") as reference:
        _, expected = Engine(full_run, reference).run(make("greedy"), 3)

    interrupted = CountingScorer(interrupt_after=8)
    with pytest.raises(KeyboardInterrupt):
        Engine(interrupted, store).run(make("greedy"), 3)
    assert len(interrupted.calls) == 8  # each one written the moment it finished

    resumed = CountingScorer()
    _, result = Engine(resumed, store).run(make("greedy"), 3)
    assert result.order == expected.order
    assert len(resumed.calls) == len(full_run.calls) - 8
    assert not set(resumed.calls) & set(interrupted.calls)


def test_extending_a_search_computes_only_the_new_depth(store):
    Engine(CountingScorer(), store).run(make("greedy"), 2)
    extended = CountingScorer()
    _, result = Engine(extended, store).run(make("greedy"), 3)
    assert len(result.steps) == 3
    assert len(extended.calls) == 4  # the 4 candidates of depth 3; depths 0-2 are replayed


def test_a_failed_candidate_is_recorded_skipped_and_retried_on_request(store):
    broken = frozenset({5})
    engine = Engine(CountingScorer(fail=broken), store)
    _, result = engine.run(make("greedy"), 1)
    assert result.steps[0].chosen == frozenset({4})  # {5} would have won but failed
    assert store.get("failure", Key(CountingScorer.fingerprint, 0, broken))["reason"] == (
        "RuntimeError: out of memory"
    )
    assert engine.counts["failed"] == 1

    replay = CountingScorer()
    Engine(replay, store).run(make("greedy"), 1)
    assert replay.calls == []  # the failure is remembered, not recomputed

    retry = CountingScorer()
    _, retried = Engine(retry, store, retry_failed=True).run(make("greedy"), 1)
    assert retry.calls == [broken]
    assert retried.steps[0].chosen == broken
    assert store.get("failure", Key(CountingScorer.fingerprint, 0, broken)) is None


class UnloadableScorer(CountingScorer):
    """Its weights are read on the first fine-tune, and do not load."""

    def score(self, removed, seed, progress=None) -> Score:
        raise UserError("cannot load a classification model from /models/x: bad file")


def test_a_user_error_in_a_fine_tune_stops_the_run_and_caches_nothing(store):
    with pytest.raises(UserError, match="cannot load"):
        Engine(UnloadableScorer(), store).evaluate([frozenset({1})])
    assert store.get("failure", Key(UnloadableScorer.fingerprint, 0, {1})) is None
    assert store.claim_owner(Key(UnloadableScorer.fingerprint, 0, {1})) is None


def test_events_report_cached_counts_and_every_candidate(store):
    Engine(CountingScorer(), store).evaluate([frozenset({0})])
    events = []
    Engine(CountingScorer(), store, on_event=events.append).evaluate(
        [frozenset({0}), frozenset({1})]
    )
    assert events[0] == BatchStarted(depth=1, size=2, cached=1)
    finished = [e.outcome for e in events if isinstance(e, CandidateFinished)]
    assert [(o.removed, o.cached) for o in finished] == [
        (frozenset({0}), True),
        (frozenset({1}), False),
    ]


# -- several seeds ------------------------------------------------------------------------------
class NoisyScorer(CountingScorer):
    """Each seed moves the score, as fine-tuning noise does."""

    def score(self, removed, seed, progress=None) -> Score:
        base = super().score(removed, seed, progress).value
        return Score(base + 0.01 * ((seed * 7 + sum(removed)) % 3 - 1), "accuracy", 0.1, 0, 1, 1)


def test_seeds_are_each_cached_and_a_set_scores_their_mean(store):
    scorer = NoisyScorer()
    engine = Engine(scorer, store, seeds=(0, 1, 2))
    outcome = engine.lookup([frozenset({3})])[0]
    values = [s.value for s in outcome.scores]
    assert len(set(values)) == 3  # the noise is real, so the mean means something
    assert outcome.value == pytest.approx(statistics.fmean(values))
    assert outcome.std == pytest.approx(statistics.stdev(values))
    assert engine.counts == {"computed": 3, "cached": 0, "failed": 0}
    for seed, value in zip((0, 1, 2), values, strict=True):
        assert store.get("score", Key(scorer.fingerprint, seed, {3}))["value"] == value


def test_more_seeds_later_compute_only_the_new_ones(store):
    Engine(NoisyScorer(), store, seeds=(0,)).evaluate([frozenset({3}), frozenset({4})])
    grown = NoisyScorer()
    engine = Engine(grown, store, seeds=(0, 1, 2))
    engine.evaluate([frozenset({3}), frozenset({4})])
    assert sorted(grown.calls, key=sorted) == [frozenset({3})] * 2 + [frozenset({4})] * 2
    assert engine.counts == {"computed": 4, "cached": 2, "failed": 0}
    assert not engine.outcomes[frozenset({3})].cached  # partly computed is not cached


def test_a_strategy_sees_the_mean_with_its_standard_error(store):
    engine = Engine(NoisyScorer(), store, seeds=(0, 1, 2))
    [estimate] = engine.evaluate([frozenset({3})])
    outcome = engine.outcomes[frozenset({3})]
    assert estimate == pytest.approx(outcome.value)
    assert estimate.error == pytest.approx(outcome.std / 3**0.5)
    assert estimate.loss is None  # the scorer reports no loss
    one_seed = Engine(NoisyScorer(), store, seeds=(0,)).evaluate([frozenset({3})])[0]
    assert one_seed.error == 0.0  # one seed: exact ties only


def test_a_strategy_sees_the_mean_held_out_loss(store):
    class LossScorer(NoisyScorer):
        def score(self, removed, seed, progress=None) -> Score:
            score = super().score(removed, seed, progress)
            return dataclasses.replace(score, loss=0.5 + 0.1 * seed)

    [estimate] = Engine(LossScorer(), store, seeds=(0, 1, 2)).evaluate([frozenset({3})])
    assert estimate.loss == pytest.approx(0.6)
    assert store.get("score", Key(LossScorer().fingerprint, 2, {3}))["loss"] == pytest.approx(0.7)


def test_a_set_fails_when_any_of_its_seeds_fails(store):
    class FailsOnSeed1(NoisyScorer):
        def score(self, removed, seed, progress=None) -> Score:
            if seed == 1:
                raise RuntimeError("diverged")
            return super().score(removed, seed, progress)

    engine = Engine(FailsOnSeed1(), store, seeds=(0, 1))
    outcome = engine.lookup([frozenset({2})])[0]
    assert (outcome.value, outcome.std, outcome.failure) == (None, None, "RuntimeError: diverged")
    assert engine.evaluate([frozenset({2})]) == [None]
    assert engine.counts == {"computed": 2, "cached": 0, "failed": 1}


def test_seeds_must_be_distinct(store):
    with pytest.raises(ValueError, match="distinct"):
        Engine(CountingScorer(), store, seeds=(0, 0))


# -- racing over seeds ----------------------------------------------------------------------------
class RacingScorer(CountingScorer):
    """Accuracy on 200 held-out examples, each example's correctness kept as the evaluator keeps
    it: layers 4 and 5 are as good as each other (the same examples right on seed 0, near ties
    after), every other set far worse. Records each (set, seed) fine-tuned."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[tuple[frozenset[int], int]] = []

    def score(self, removed, seed, progress=None) -> Score:
        removed = frozenset(removed)
        self.jobs.append((removed, seed))
        strong = bool(removed) and removed <= {4, 5}
        stream = random.Random(f"{seed}" if strong and seed == 0 else f"{sorted(removed)}-{seed}")
        right = [stream.random() < (0.85 if strong or not removed else 0.5) for _ in range(200)]
        value = sum(right) / 200
        se = (value * (1 - value) / 200) ** 0.5
        return Score(value, "accuracy", 0.1, 0.01, 100, 200, se=se, examples=pack(right))


def test_racing_adds_seeds_only_to_the_near_tied_and_replays_from_the_cache(store):
    options = StrategyOptions(max_seeds=3)
    scorer = RacingScorer()
    engine = Engine(scorer, store)
    _, result = engine.run(make("greedy", options), 1)
    later = {removed for removed, seed in scorer.jobs if seed > 0}
    assert later == {frozenset({4}), frozenset({5})}  # the rest were out after one seed
    assert sorted(seed for removed, seed in scorer.jobs if removed == frozenset({4})) == [0, 1, 2]
    assert result.steps[0].race == "cap"
    assert result.steps[0].chosen == frozenset({5})  # tied at the cap: the tie rule's pick
    assert engine.counts == {"computed": len(scorer.jobs), "cached": 0, "failed": 0}
    assert len(engine.outcomes[frozenset({4})].results) == 3  # the record shows the most seeds

    replay = RacingScorer()
    engine = Engine(replay, store)
    _, again = engine.run(make("greedy", options), 1)
    assert replay.jobs == []
    assert engine.counts["computed"] == 0
    assert again.steps == result.steps


def test_more_seeds_of_some_sets_continue_the_runs_sequence(store):
    engine = Engine(NoisyScorer(), store, seeds=(3,))
    assert engine.seeds_for(None) == (3,)
    assert engine.seeds_for(3) == (3, 4, 5)
    [estimate] = engine.evaluate([frozenset({1})], seeds=3)
    assert estimate.seeds == 3
    assert {seed for seed in (3, 4, 5) if store.get("score", Key("f" * 20, seed, {1}))} == {3, 4, 5}
    with pytest.raises(ValueError, match="at least one seed"):
        engine.seeds_for(0)


def test_a_strategy_sees_the_per_example_outputs_averaged_over_seeds(store):
    [estimate] = Engine(RacingScorer(), store, seeds=(0, 1)).evaluate([frozenset({2})])
    first, second = (
        unpack(store.get("score", Key("f" * 20, seed, {2}))["examples"], 200) for seed in (0, 1)
    )
    assert estimate.examples is not None and not estimate.examples.bootstrap
    assert estimate.examples.values == tuple(
        (a + b) / 2 for a, b in zip(first, second, strict=True)
    )
    assert statistics.fmean(estimate.examples.values) == pytest.approx(estimate)
    assert estimate.heldout is not None
