"""Runs a strategy against an evaluator through the store.

A strategy only calls `evaluate(candidate sets) -> scores`. The engine de-duplicates the sets,
answers what the store already holds, claims and computes the rest, and writes each result
through the moment it exists, so a killed search loses at most the candidates in flight. Claims
(with expiry, kept alive by a heartbeat) let two searches share one cache without computing the
same candidate twice. With several seeds, each (set, seed) is a job cached on its own, so more
seeds can be added later; a set's score is the mean. A strategy may ask for more seeds of some
sets than the run's (racing: the first k of the run's seeds, continued one by one), answered
the same way. A strategy may ask for a partial
fine-tune (a `budget`, the fraction of the full run's steps): such jobs are cached and claimed
apart from full ones, leave a checkpoint in the store, and a longer job of the same (set, seed)
continues from the longest checkpoint below its budget; a job's `Plan` (glpsearch/scoring/plan.py)
carries all three to the evaluator. It knows nothing of torch or of any particular strategy.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from glpsearch.errors import UserError
from glpsearch.scoring.failures import EnvironmentFailure, environmental, reason
from glpsearch.scoring.plan import FULL, Plan
from glpsearch.scoring.score import Score
from glpsearch.store import Key, Store, StoreError
from glpsearch.strategies import Estimate, Examples, Layers, SearchResult, Strategy

CLAIM_SECONDS = 120.0  # a claim outlives its owner by at most this long
POLL_SECONDS = 0.5


class Scorer(Protocol):
    """What the engine needs of an evaluator (glpsearch.model.evaluator.Evaluator is one)."""

    fingerprint: str
    n_layers: int

    def describe(self) -> dict: ...

    def score(
        self,
        removed: Iterable[int],
        seed: int,
        progress: Callable[[int, int], None] | None,
        plan: Plan = FULL,
    ) -> Score:
        """Fine-tune as `plan` says; it is only passed when not `plain` (a partial or
        continued job), so a scorer that never trains partially may omit it."""
        ...


@dataclass(frozen=True)
class Job:
    """One fine-tune: a removed set trained with one seed as `plan` says. The unit of caching
    and claims: its identity is the set, the seed and the plan's budget (the plan's checkpoint
    paths say how it runs, not what it computes)."""

    removed: Layers
    seed: int
    plan: Plan = FULL

    @property
    def budget(self) -> float:
        """The fraction of the full run's steps it trains for."""
        return self.plan.budget

    def key(self, fingerprint: str) -> Key:
        """Its key in the store under an evaluator's `fingerprint` (checks the budget)."""
        return Key(fingerprint, self.seed, self.removed, self.budget)


@dataclass(frozen=True)
class Result:
    """A finished computation: a score, or the reason there is none. A failure of the
    `environment` (I/O, a dead worker, see glpsearch.scoring.failures) is not the candidate's: it is
    never cached."""

    job: Job
    score: Score | None
    failure: str | None
    seconds: float
    cached: bool = False
    environment: bool = False


JobProgress = Callable[[Job, int, int], None]


class Runner(Protocol):
    """Computes jobs, yielding each result as soon as it is done (any order)."""

    def run(self, jobs: Sequence[Job], progress: JobProgress) -> Iterator[Result]: ...

    @property
    def slots(self) -> int | None:
        """How many jobs to hand it at once; None: all of a batch."""

    def close(self) -> None:
        """Release workers or cluster connections."""


class InProcess:
    """Computes one job after another in this process."""

    slots = 1

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer

    def run(self, jobs: Sequence[Job], progress: JobProgress) -> Iterator[Result]:
        for job in jobs:
            yield compute(self.scorer, job, lambda s, t, j=job: progress(j, s, t))

    def close(self) -> None:
        pass


def compute(scorer: Scorer, job: Job, progress: Callable[[int, int], None] | None) -> Result:
    """Score one job; an exception is that candidate's failure, not the search's, unless it
    came from the environment (glpsearch.scoring.failures), which the result then says, or is the
    user's to fix (`UserError`: a model whose weights fail to load on the first fine-tune),
    which is raised."""
    start = time.perf_counter()
    partial = {} if job.plan.plain else {"plan": job.plan}
    try:
        score = scorer.score(job.removed, job.seed, progress, **partial)
    except UserError:  # the input is bad (weights that load only now): the run stops, in a line
        raise
    except Exception as exc:  # one bad candidate must not end a search of hours
        seconds = time.perf_counter() - start
        return Result(job, None, reason(exc), seconds, environment=environmental(exc))
    return Result(job, score, None, time.perf_counter() - start)


@dataclass(frozen=True)
class Outcome:
    """What this run learned about one removed set: one result per seed of the engine."""

    removed: Layers
    results: tuple[Result, ...]

    @property
    def budget(self) -> float:
        """The fraction of the full fine-tune its scores were measured after."""
        return self.results[0].job.budget

    @property
    def scores(self) -> tuple[Score, ...]:
        return tuple(r.score for r in self.results if r.score is not None)

    @property
    def failure(self) -> str | None:
        """A set fails when any of its seeds does: an unstable set is no pick."""
        return next((r.failure for r in self.results if r.score is None), None)

    @property
    def computed(self) -> int:
        """Fine-tunes this run paid for; the rest the cache answered."""
        return sum(not r.cached for r in self.results)

    @property
    def cached(self) -> bool:
        return self.computed == 0

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    @property
    def value(self) -> float | None:
        """The mean over seeds (what strategies compare), or None when it failed."""
        if self.failure is not None:
            return None
        return statistics.fmean(s.value for s in self.scores)

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds: 0 with one seed, None when it failed."""
        if self.failure is not None:
            return None
        values = [s.value for s in self.scores]
        return statistics.stdev(values) if len(values) > 1 else 0.0

    @property
    def loss(self) -> float | None:
        """The mean held-out loss over seeds; None when it failed or a record predates losses."""
        losses = [s.loss for s in self.scores]
        if self.failure is not None or None in losses:
            return None
        return statistics.fmean(losses)

    @property
    def se(self) -> float | None:
        """The metric's standard error over held-out examples (the mean over seeds); None when
        it failed or a record predates it."""
        errors = [s.se for s in self.scores]
        if self.failure is not None or None in errors:
            return None
        return statistics.fmean(errors)

    @property
    def examples(self) -> Examples | None:
        """Its held-out outputs example by example (the mean over seeds), which pair its score
        with another set's (glpsearch.strategies.noise); None when it failed or a seed's score
        was cached before they were kept."""
        each = [score.per_example() for score in self.scores]
        if self.failure is not None or not each or None in each:
            return None
        kinds = {e.bootstrap for e in each if e is not None}
        lengths = {len(e.values) for e in each if e is not None}
        if len(kinds) > 1 or len(lengths) > 1:
            return None
        if len(each) == 1:
            return each[0]
        columns = zip(*(e.values for e in each if e is not None), strict=True)
        return Examples(tuple(map(statistics.fmean, columns)), kinds.pop())

    def estimate(self) -> Estimate | None:
        """What a strategy sees: the mean, carrying its standard error over seeds to judge
        near-ties, its held-out one and its per-example outputs to pair it with another's."""
        if self.value is None or self.std is None:
            return None
        seeds = len(self.results)
        error = self.std / math.sqrt(seeds)
        return Estimate(self.value, error, self.loss, seeds, self.se, self.examples)


# -- events for a display; the engine works the same with no one listening ------------------
@dataclass(frozen=True)
class BatchStarted:
    depth: int  # layers removed by the largest candidate: a greedy step's number
    size: int
    cached: int
    budget: float = 1.0
    seeds: int = 1  # how many seeds each candidate of the batch gets


@dataclass(frozen=True)
class CandidateStarted:
    job: Job


@dataclass(frozen=True)
class TrainingProgress:
    job: Job
    step: int
    total: int


@dataclass(frozen=True)
class CandidateWaiting:
    """Another process holds the claim on this job; its result will be reused."""

    job: Job


@dataclass(frozen=True)
class CandidateFinished:
    """Every seed of a set is done."""

    outcome: Outcome


Event = BatchStarted | CandidateStarted | TrainingProgress | CandidateWaiting | CandidateFinished


class Engine:
    def __init__(
        self,
        scorer: Scorer,
        store: Store,
        seeds: Sequence[int] = (0,),
        on_event: Callable[[Event], None] | None = None,
        retry_failed: bool = False,
        runner: Runner | None = None,
        checkpoint_space: int | None = None,
    ) -> None:
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct and at least one, got {seeds!r}")
        self.scorer = scorer
        self.store = store
        self.seeds = tuple(seeds)
        self.on_event = on_event or (lambda event: None)
        self.retry_failed = retry_failed
        self.runner = runner or InProcess(scorer)
        self.checkpoint_space = checkpoint_space  # bytes checkpoints may take; None: no bound
        # every (set, budget, seeds) known; the seeds are always a prefix of `seeds_for`'s
        self.settled: dict[tuple[Layers, float, tuple[int, ...]], Outcome] = {}
        self._asked = self.seeds  # the seeds the lookup in progress waits for
        # Each set's outcome at the highest budget this run reached (the full fine-tune's,
        # unless a strategy stopped short of it), with the most seeds (what a record shows).
        self.outcomes: dict[Layers, Outcome] = {}
        self.results: dict[Job, Result] = {}  # every seed's result this run has seen
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"  # see _dead
        store.describe(scorer.fingerprint, scorer.describe())

    def run(self, strategy: Strategy, remove: int) -> tuple[Outcome, SearchResult]:
        """The unpruned model's score (the reference) and the strategy's search."""
        baseline = self.lookup([frozenset()])[0]
        return baseline, strategy.run(self.scorer.n_layers, remove, self.evaluate)

    def evaluate(
        self, candidates: Sequence[Layers], budget: float = 1.0, seeds: int | None = None
    ) -> list[Estimate | None]:
        """What strategies call (strategies.Evaluate): each set's Estimate over `seeds_for`."""
        return [outcome.estimate() for outcome in self.lookup(candidates, budget, seeds)]

    def seeds_for(self, count: int | None = None) -> tuple[int, ...]:
        """The first `count` seeds of this run's sequence: its own seeds, continued one by one
        after the largest (--seed, --seed + 1, ...); its own for None."""
        if count is None:
            return self.seeds
        if count < 1:
            raise ValueError(f"at least one seed, got {count}")
        after = max(self.seeds) + 1
        return (*self.seeds, *range(after, after + count - len(self.seeds)))[:count]

    def lookup(
        self, candidates: Sequence[Layers], budget: float = 1.0, seeds: int | None = None
    ) -> list[Outcome]:
        """Outcomes for `candidates` over `seeds_for(seeds)`, in order: from this run, the
        store, or fresh fine-tunes."""
        chosen = self._asked = self.seeds_for(seeds)
        unique = list(dict.fromkeys(frozenset(c) for c in candidates))
        jobs = [Job(removed, seed, Plan(budget)) for removed in unique for seed in chosen]
        for job in jobs:
            if job not in self.results and (known := self._from_store(job)):
                self.results[job] = known
        pending = [job for job in jobs if job not in self.results]
        waiting = {job.removed for job in pending}
        depth = max(map(len, unique), default=0)
        cached = len(unique) - len(waiting)
        self.on_event(BatchStarted(depth, len(unique), cached, budget, len(chosen)))
        for removed in unique:
            if removed not in waiting:
                self._settle(removed, budget)
        announced: set[Job] = set()
        while pending:
            mine = self._claim_some(pending)
            if mine:
                self._compute(mine)
            else:  # every pending job is being computed elsewhere
                self._wait_for_any(pending, announced)
            pending = [job for job in pending if job not in self.results]
        return [self.settled[frozenset(c), budget, chosen] for c in candidates]

    @property
    def counts(self) -> dict[str, int]:
        """Fine-tunes computed and cached, and sets failed, each (set, budget) counted once at
        the most seeds it got (its outcomes with fewer hold a part of those results)."""
        widest: dict[tuple[Layers, float], Outcome] = {}
        for (removed, budget, _), outcome in self.settled.items():
            known = widest.get((removed, budget))
            if known is None or len(outcome.results) > len(known.results):
                widest[removed, budget] = outcome
        return tally(widest.values())

    # -- plumbing -------------------------------------------------------------------------
    def _key(self, job: Job) -> Key:
        return job.key(self.scorer.fingerprint)

    def _claim(self, job: Job) -> bool:
        key = self._key(job)
        if not self.store.claim(key, self.owner, CLAIM_SECONDS):
            holder = self.store.claim_owner(key)
            if holder is None or not _dead(holder):
                return False
            if not self.store.take_over(key, holder, self.owner, CLAIM_SECONDS):
                return False
        if known := self._from_store(job):  # finished by another process meanwhile
            self.store.release(key)
            self._record(known)
            return False
        return True

    def _compute(self, mine: list[Job]) -> None:
        in_flight = set(mine)
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(CLAIM_SECONDS / 4):
                for job in list(in_flight):
                    # a failed refresh (full disk) costs little: the next write says why
                    with contextlib.suppress(StoreError):
                        self.store.refresh(self._key(job), CLAIM_SECONDS)

        def progress(job: Job, step: int, total: int) -> None:
            self.on_event(TrainingProgress(job, step, total))

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            for job in mine:
                self.on_event(CandidateStarted(job))
            for result in self.runner.run([self._with_checkpoints(job) for job in mine], progress):
                job = result.job
                key = self._key(job)
                if result.environment:  # not the candidate's: cache nothing, stop the run
                    raise EnvironmentFailure(_environment_line(job, result.failure))
                if result.score is None:
                    reason = result.failure or "unknown failure"
                    self.store.put("failure", key, {"reason": reason})
                else:
                    self.store.put("score", key, result.score.to_record())
                if job.budget == 1.0:  # the full result is final: no run continues this one
                    self.store.drop_checkpoints(key)
                elif result.score is not None:  # only the longest checkpoint is ever continued
                    self.store.drop_checkpoints(key, below=job.budget)
                    if self.checkpoint_space is not None:
                        self.store.trim_checkpoints(self.checkpoint_space)
                self.store.release(key)
                in_flight.discard(job)
                self._record(result)
        finally:
            stop.set()
            for job in in_flight:  # interrupted: let others (or a resume) take them now
                with contextlib.suppress(StoreError):  # a full disk: the claim expires anyway
                    self.store.release(self._key(job))

    def _with_checkpoints(self, job: Job) -> Job:
        """The job continuing the longest checkpoint of its (set, seed) below its budget, and,
        when partial, leaving its own for a longer run to continue."""
        key = self._key(job)
        shorter = [path for b, path in self.store.checkpoints(key).items() if b < job.budget]
        resume = str(shorter[-1]) if shorter else None
        save = None if job.budget == 1.0 else str(self.store.checkpoint_path(key))
        return replace(job, plan=replace(job.plan, resume=resume, save=save))

    def _claim_some(self, pending: list[Job]) -> list[Job]:
        """Claim as many jobs as the runner computes at once (one, in process), so that two
        processes on one step share its candidates instead of one waiting for the other."""
        mine: list[Job] = []
        for job in pending:
            if self.runner.slots is not None and len(mine) == self.runner.slots:
                break
            if self._claim(job):
                mine.append(job)
        return mine

    def _wait_for_any(self, theirs: list[Job], announced: set[Job]) -> None:
        """Wait until another process finishes one of `theirs` or abandons its claim."""
        for job in set(theirs) - announced:
            self.on_event(CandidateWaiting(job))
            announced.add(job)
        while True:
            for job in theirs:
                if known := self._from_store(job):
                    self._record(known)
                    return
                holder = self.store.claim_owner(self._key(job))
                if holder is None or _dead(holder):
                    return
            time.sleep(POLL_SECONDS)

    def _record(self, result: Result) -> None:
        self.results[result.job] = result
        self._settle(result.job.removed, result.job.budget)

    def _settle(self, removed: Layers, budget: float) -> None:
        """Once every seed asked for of `removed` is known, its outcome is final: report it."""
        seeds = self._asked
        mine = [self.results.get(Job(removed, seed, Plan(budget))) for seed in seeds]
        if any(result is None for result in mine) or (removed, budget, seeds) in self.settled:
            return
        outcome = Outcome(removed, tuple(r for r in mine if r is not None))
        self.settled[removed, budget, seeds] = outcome
        known = self.outcomes.get(removed)
        if known is None or (known.budget, len(known.results)) < (budget, len(seeds)):
            self.outcomes[removed] = outcome
        self.on_event(CandidateFinished(outcome))

    def _from_store(self, job: Job) -> Result | None:
        return stored(self.store, self.scorer.fingerprint, job, failures=not self.retry_failed)


def stored(store: Store, fingerprint: str, job: Job, failures: bool = True) -> Result | None:
    """The job's result the store holds under `fingerprint` (its failure too, with
    `failures`), or None."""
    key = job.key(fingerprint)
    record = store.get("score", key)
    if record is not None:
        return Result(job, Score.from_record(record), None, 0.0, cached=True)
    failure = store.get("failure", key) if failures else None
    if failure is not None:
        return Result(job, None, failure["reason"], 0.0, cached=True)
    return None


def tally(outcomes: Iterable[Outcome]) -> dict[str, int]:
    """Fine-tunes computed and answered by the cache (one per seed), and sets that failed."""
    every = list(outcomes)
    return {
        "computed": sum(o.computed for o in every),
        "cached": sum(len(o.results) - o.computed for o in every),
        "failed": sum(o.failure is not None for o in every),
    }


def _environment_line(job: Job, failure: str | None) -> str:
    """The one line a run stops with when the environment failed one of its fine-tunes."""
    layers = ",".join(map(str, sorted(job.removed)))
    what = f"layers {layers} removed" if job.removed else "no layers removed"
    return (
        f"the fine-tune of the model with {what} (seed {job.seed}) failed outside the candidate "
        f"({failure}); nothing was cached for it: fix the cause and run the same command again "
        "(every finished result is cached)"
    )


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
