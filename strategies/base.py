"""What every strategy receives and returns.

A strategy is pure Python: it proposes removed-layer sets and asks `evaluate` for their scores
(higher is better; None for a candidate that failed), optionally after only a fraction of the
fine-tune (`budget`). It never sees the cache, torch or progress.
Deterministic given its options (seed included), so re-running it replays the cached evaluations
exactly: that is how a killed search resumes, with no strategy state to persist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

Layers = frozenset[int]


class Evaluate(Protocol):
    """Scores of `candidates`, each fine-tuned for the first `budget` fraction of the full run's
    steps; budget 1.0 (what most strategies ask for) is the full fine-tune."""

    def __call__(self, candidates: Sequence[Layers], budget: float = 1.0) -> list[float | None]: ...


class Estimate(float):
    """A score as the engine measures it: it compares, adds and prints as its mean over seeds,
    and carries that mean's standard error (`error`, which `best` uses to judge near-ties) and
    the mean held-out loss (`loss`, None when unknown), which ranks short fine-tunes better than
    a metric still stuck on the majority class."""

    error: float
    loss: float | None

    def __new__(cls, mean: float, error: float = 0.0, loss: float | None = None) -> Estimate:
        estimate = super().__new__(cls, mean)
        estimate.error = error
        estimate.loss = loss
        return estimate


@dataclass(frozen=True)
class Step:
    """One depth of a search: what was tried, and what was kept."""

    depth: int
    candidates: tuple[tuple[Layers, float | None], ...]
    chosen: Layers | None
    score: float | None
    # The budget each candidate's score was measured at, in the order of `candidates`; empty
    # when every candidate had the full fine-tune (every strategy but greedy-halving).
    budgets: tuple[float, ...] = ()


@dataclass
class SearchResult:
    strategy: str
    steps: list[Step] = field(default_factory=list)

    @property
    def order(self) -> list[int] | None:
        """The removal order (a GLP layer file), when each step's set grows the previous one."""
        order: list[int] = []
        previous: Layers = frozenset()
        for step in self.steps:
            if step.chosen is None:
                break
            added = step.chosen - previous
            if not previous <= step.chosen or len(added) != 1:
                return None
            order.append(next(iter(added)))
            previous = step.chosen
        return order


@dataclass(frozen=True)
class StrategyOptions:
    """Options a user may give any strategy; each strategy declares those it reads (`reads`).

    The metadata declares the user's options for the commands and the API (glpsearch/options.py
    reads its keys; a plain dict, so this package imports nothing of glpsearch). `seed` and
    `min_budget` are the run's options (glpsearch/config.py `Run`), `ranking` is measured."""

    seed: int = 0
    beam_width: int = field(
        default=2,
        metadata={"help": "sets beam keeps per depth (default: 2)", "kind": int, "low": 1},
    )
    # A count of evaluations: random's sets per depth, exhaustive's most in all (not `Evaluate`'s
    # `budget`, a fraction of one fine-tune).
    max_evaluations: int | None = field(
        default=None,
        metadata={
            "help": "random: sets per depth (default: the number of layers); exhaustive: refuse "
            "to start above N evaluations in all (default: no limit)",
            "kind": int,
            "low": 1,
            "aliases": ("--budget",),  # its old name, kept for the scripts that use it
            "metavar": "N",
        },
    )
    # Layers from least to most influential, measured on the evaluator side for block-influence.
    ranking: tuple[int, ...] | None = None
    # greedy-halving: the smallest fraction of a fine-tune a candidate gets, and how many
    # candidates compete for each one that goes on to `eta` times the budget.
    min_budget: float = 0.25
    eta: int = field(
        default=2,
        metadata={
            "help": "greedy-halving: 1 in ETA candidates goes on to ETA times the budget "
            "(default: 2)",
            "kind": int,
            "low": 2,
        },
    )


def best(scored: Sequence[tuple[Layers, float | None]]) -> tuple[Layers, float] | None:
    """The best-scoring candidate; ties go to the set with the highest layer indices.

    The rule is explicit because near-ties are common. It matches the GLP paper's code, which
    keeps the last (highest-index) layer among equal scores: upper layers are the ones most
    often redundant. Scores averaged over seeds (`Estimate`) tie when they lie within the top
    score's standard error of it: the data cannot tell those apart, so the same rule decides.
    """
    valid = [(layers, score) for layers, score in scored if score is not None]
    if not valid:
        return None
    top = max(score for _, score in valid)
    margin = getattr(max(valid, key=lambda item: item[1])[1], "error", 0.0)
    tied = [item for item in valid if top - item[1] <= margin]
    return max(tied, key=lambda item: (sorted(item[0], reverse=True), item[1]))


def top(scored: Sequence[tuple[Layers, float | None]], n: int) -> list[tuple[Layers, float]]:
    """The n best valid candidates, best first.

    Picked by repeated `best` so ties break exactly as in every other strategy.
    """
    remaining = list(scored)
    kept: list[tuple[Layers, float]] = []
    while len(kept) < n and (winner := best(remaining)) is not None:
        kept.append(winner)
        remaining = [item for item in remaining if item[0] != winner[0]]
    return kept
