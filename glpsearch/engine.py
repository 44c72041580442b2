"""Runs a strategy against an evaluator through the store.

A strategy only calls `evaluate(candidate sets) -> scores`. The engine de-duplicates the sets,
answers what the store already holds, claims and computes the rest, and writes each result
through the moment it exists, so a killed search loses at most the candidates in flight. Claims
(with expiry, kept alive by a heartbeat) let two searches share one cache without computing the
same candidate twice. It knows nothing of torch or of any particular strategy.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from glpsearch.score import Score
from store import Store
from strategies import Layers, SearchResult, Strategy

CLAIM_SECONDS = 120.0  # a claim outlives its owner by at most this long
POLL_SECONDS = 0.5


class Scorer(Protocol):
    """What the engine needs of an evaluator (glpsearch.evaluator.Evaluator is one)."""

    fingerprint: str
    n_layers: int

    def describe(self) -> dict: ...

    def evaluate(
        self, removed: Iterable[int], seed: int, progress: Callable[[int, int], None] | None
    ) -> Score: ...


@dataclass(frozen=True)
class Result:
    """A finished computation: a score, or the reason there is none."""

    removed: Layers
    score: Score | None
    failure: str | None
    seconds: float


Progress = Callable[[Layers, int, int], None]


class Runner(Protocol):
    """Computes candidates, yielding each result as soon as it is done (any order)."""

    def run(
        self, candidates: Sequence[Layers], seed: int, progress: Progress
    ) -> Iterator[Result]: ...

    @property
    def slots(self) -> int | None:
        """How many candidates to hand it at once; None: all of a batch."""

    def close(self) -> None:
        """Release workers or cluster connections."""


class InProcess:
    """Computes one candidate after another in this process."""

    slots = 1

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer

    def run(self, candidates: Sequence[Layers], seed: int, progress: Progress) -> Iterator[Result]:
        for removed in candidates:
            yield compute(self.scorer, removed, seed, lambda s, t, r=removed: progress(r, s, t))

    def close(self) -> None:
        pass


def compute(
    scorer: Scorer, removed: Layers, seed: int, progress: Callable[[int, int], None] | None
) -> Result:
    """Score one candidate; any exception is that candidate's failure, not the search's."""
    start = time.perf_counter()
    try:
        score = scorer.evaluate(removed, seed, progress)
    except Exception as exc:  # one bad candidate must not end a search of hours
        text = str(exc).strip()  # MemoryError() has no message: no "MemoryError: " then
        reason = (f"{type(exc).__name__}: {text}" if text else type(exc).__name__).splitlines()
        return Result(removed, None, reason[0][:500], time.perf_counter() - start)
    return Result(removed, score, None, time.perf_counter() - start)


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
class CandidateWaiting:
    """Another process holds the claim on this candidate; its result will be reused."""

    removed: Layers


@dataclass(frozen=True)
class CandidateFinished:
    outcome: Outcome


Event = BatchStarted | CandidateStarted | TrainingProgress | CandidateWaiting | CandidateFinished


class Engine:
    def __init__(
        self,
        scorer: Scorer,
        store: Store,
        seed: int = 0,
        on_event: Callable[[Event], None] | None = None,
        retry_failed: bool = False,
        runner: Runner | None = None,
    ) -> None:
        self.scorer = scorer
        self.store = store
        self.seed = seed
        self.on_event = on_event or (lambda event: None)
        self.retry_failed = retry_failed
        self.runner = runner or InProcess(scorer)
        self.outcomes: dict[Layers, Outcome] = {}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # see _dead
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
        for removed in unique:
            if removed not in self.outcomes and (known := self._from_store(removed)):
                self.outcomes[removed] = known
        pending = [c for c in unique if c not in self.outcomes]
        depth = max(map(len, unique), default=0)
        self.on_event(BatchStarted(depth, len(unique), len(unique) - len(pending)))
        for removed in unique:
            if removed in self.outcomes:
                self.on_event(CandidateFinished(self.outcomes[removed]))
        waiting: set[Layers] = set()
        while pending:
            mine = self._claim_some(pending)
            if mine:
                self._compute(mine)
            else:  # every pending set is being computed elsewhere
                self._wait_for_any(pending, waiting)
            pending = [c for c in pending if c not in self.outcomes]
        return [self.outcomes[frozenset(c)] for c in candidates]

    @property
    def counts(self) -> dict[str, int]:
        outcomes = self.outcomes.values()
        return {
            "computed": sum(not o.cached for o in outcomes),
            "cached": sum(o.cached for o in outcomes),
            "failed": sum(o.failure is not None for o in outcomes),
        }

    # -- plumbing -------------------------------------------------------------------------
    def _claim(self, removed: Layers) -> bool:
        fingerprint = self.scorer.fingerprint
        if not self.store.claim(fingerprint, self.seed, removed, self.owner, CLAIM_SECONDS):
            holder = self.store.claim_owner(fingerprint, self.seed, removed)
            if holder is None or not _dead(holder):
                return False
            if not self.store.take_over(
                fingerprint, self.seed, removed, holder, self.owner, CLAIM_SECONDS
            ):
                return False
        if known := self._from_store(removed):  # finished by another process meanwhile
            self.store.release(fingerprint, self.seed, removed)
            self._finish(known)
            return False
        return True

    def _compute(self, mine: list[Layers]) -> None:
        fingerprint = self.scorer.fingerprint
        in_flight = set(mine)
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(CLAIM_SECONDS / 4):
                for removed in list(in_flight):
                    self.store.refresh(fingerprint, self.seed, removed, CLAIM_SECONDS)

        def progress(removed: Layers, step: int, total: int) -> None:
            self.on_event(TrainingProgress(removed, step, total))

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            for removed in mine:
                self.on_event(CandidateStarted(removed))
            for result in self.runner.run(mine, self.seed, progress):
                if result.score is None:
                    reason = result.failure or "unknown failure"
                    self.store.put_failure(
                        fingerprint, self.seed, result.removed, {"reason": reason}
                    )
                else:
                    self.store.put_score(
                        fingerprint, self.seed, result.removed, result.score.to_record()
                    )
                self.store.release(fingerprint, self.seed, result.removed)
                in_flight.discard(result.removed)
                self._finish(
                    Outcome(result.removed, result.score, result.failure, False, result.seconds)
                )
        finally:
            stop.set()
            for removed in in_flight:  # interrupted: let others (or a resume) take them now
                self.store.release(fingerprint, self.seed, removed)

    def _claim_some(self, pending: list[Layers]) -> list[Layers]:
        """Claim as many sets as the runner computes at once (one, in process), so that two
        processes on one step share its candidates instead of one waiting for the other."""
        mine: list[Layers] = []
        for removed in pending:
            if self.runner.slots is not None and len(mine) == self.runner.slots:
                break
            if self._claim(removed):
                mine.append(removed)
        return mine

    def _wait_for_any(self, theirs: list[Layers], announced: set[Layers]) -> None:
        """Wait until another process finishes one of `theirs` or abandons its claim."""
        for removed in set(theirs) - announced:
            self.on_event(CandidateWaiting(removed))
            announced.add(removed)
        fingerprint = self.scorer.fingerprint
        while True:
            for removed in theirs:
                if known := self._from_store(removed):
                    self._finish(known)
                    return
                holder = self.store.claim_owner(fingerprint, self.seed, removed)
                if holder is None or _dead(holder):
                    return
            time.sleep(POLL_SECONDS)

    def _finish(self, outcome: Outcome) -> None:
        self.outcomes[outcome.removed] = outcome
        self.on_event(CandidateFinished(outcome))

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


def _dead(owner: str) -> bool:
    """Whether a claim's owner is a process of this machine that no longer runs.

    Such a claim (left by kill -9) is taken over at once instead of after it expires; claims of
    other machines, or of live processes, are honoured until they expire.
    """
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
