"""Runs a strategy against an evaluator through the store.

A strategy only calls `evaluate(candidate sets) -> scores`. The engine de-duplicates the sets,
answers what the store already holds, computes the rest, and writes each result through the
moment it exists, so a killed search loses at most the candidate in flight. It knows nothing of
torch or of any particular strategy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from glpsearch.score import Score
from store import Store
from strategies import Layers, SearchResult, Strategy


class Scorer(Protocol):
    """What the engine needs of an evaluator (glpsearch.evaluator.Evaluator is one)."""

    fingerprint: str
    n_layers: int

    def describe(self) -> dict: ...

    def evaluate(
        self, removed: Iterable[int], seed: int, progress: Callable[[int, int], None] | None
    ) -> Score: ...


@dataclass(frozen=True)
class Outcome:
    """What this run learned about one removed set, and whether it cost a fine-tune."""

    removed: Layers
    score: Score | None
    failure: str | None
    cached: bool
    seconds: float

    @property
    def value(self) -> float | None:
        return None if self.score is None else self.score.value


# -- events for a display; the engine works the same with no one listening ------------------
@dataclass(frozen=True)
class BatchStarted:
    depth: int  # layers removed by the largest candidate: a greedy step's number
    size: int
    cached: int


@dataclass(frozen=True)
class CandidateStarted:
    removed: Layers


@dataclass(frozen=True)
class TrainingProgress:
    removed: Layers
    step: int
    total: int


@dataclass(frozen=True)
class CandidateFinished:
    outcome: Outcome


Event = BatchStarted | CandidateStarted | TrainingProgress | CandidateFinished


class Engine:
    def __init__(
        self,
        scorer: Scorer,
        store: Store,
        seed: int = 0,
        on_event: Callable[[Event], None] | None = None,
        retry_failed: bool = False,
    ) -> None:
        self.scorer = scorer
        self.store = store
        self.seed = seed
        self.on_event = on_event or (lambda event: None)
        self.retry_failed = retry_failed
        self.outcomes: dict[Layers, Outcome] = {}
        store.describe(scorer.fingerprint, scorer.describe())

    def run(self, strategy: Strategy, remove: int) -> tuple[Outcome, SearchResult]:
        """The unpruned model's score (the reference) and the strategy's search."""
        baseline = self.lookup([frozenset()])[0]
        return baseline, strategy.run(self.scorer.n_layers, remove, self.evaluate)

    def evaluate(self, candidates: Sequence[Layers]) -> list[float | None]:
        return [outcome.value for outcome in self.lookup(candidates)]

    def lookup(self, candidates: Sequence[Layers]) -> list[Outcome]:
        """Outcomes for `candidates`, in order: from this run, the store, or a fresh fine-tune."""
        unique = list(dict.fromkeys(frozenset(c) for c in candidates))
        known = {c: self._from_store(c) for c in unique if c not in self.outcomes}
        cached = sum(1 for c in unique if c in self.outcomes or known[c])
        self.on_event(BatchStarted(max(map(len, unique), default=0), len(unique), cached))
        for removed in unique:
            if removed in self.outcomes:
                outcome = self.outcomes[removed]
            else:
                outcome = known[removed] or self._compute(removed)
                self.outcomes[removed] = outcome
            self.on_event(CandidateFinished(outcome))
        return [self.outcomes[frozenset(c)] for c in candidates]

    @property
    def counts(self) -> dict[str, int]:
        outcomes = self.outcomes.values()
        return {
            "computed": sum(not o.cached for o in outcomes),
            "cached": sum(o.cached for o in outcomes),
            "failed": sum(o.failure is not None for o in outcomes),
        }

    def _from_store(self, removed: Layers) -> Outcome | None:
        fingerprint = self.scorer.fingerprint
        record = self.store.get_score(fingerprint, self.seed, removed)
        if record is not None:
            return Outcome(removed, Score.from_record(record), None, True, 0.0)
        failure = (
            None if self.retry_failed else self.store.get_failure(fingerprint, self.seed, removed)
        )
        if failure is not None:
            return Outcome(removed, None, failure["reason"], True, 0.0)
        return None

    def _compute(self, removed: Layers) -> Outcome:
        self.on_event(CandidateStarted(removed))
        start = time.perf_counter()

        def progress(step: int, total: int) -> None:
            self.on_event(TrainingProgress(removed, step, total))

        fingerprint = self.scorer.fingerprint
        try:
            score = self.scorer.evaluate(removed, self.seed, progress)
        except Exception as exc:  # one bad candidate must not end a search of hours
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            self.store.put_failure(fingerprint, self.seed, removed, {"reason": reason})
            return Outcome(removed, None, reason, False, time.perf_counter() - start)
        self.store.put_score(fingerprint, self.seed, removed, score.to_record())
        return Outcome(removed, score, None, False, time.perf_counter() - start)
