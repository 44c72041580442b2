"""What every strategy receives and returns.

A strategy is pure Python: it proposes removed-layer sets and asks `evaluate` for their scores
(higher is better; None for a candidate that failed), optionally after only a fraction of the
fine-tune (`budget`) or over more seeds than the run's (`seeds`, for racing). It never sees the
cache, torch or progress.
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
    steps; budget 1.0 (what most strategies ask for) is the full fine-tune. `seeds`, when given,
    asks for the mean over the first `seeds` seeds of the run's sequence (--seed, --seed + 1,
    ...: racing adds seeds to near-tied candidates); by default, the run's own seeds."""

    def __call__(
        self, candidates: Sequence[Layers], budget: float = 1.0, seeds: int | None = None
    ) -> list[float | None]: ...


@dataclass(frozen=True)
class Examples:
    """A score's held-out outputs, in an order shared by every candidate of a search (the same
    examples, the same bootstrap resamples), so that two candidates' scores pair: each held-out
    example's correctness (0 or 1; the mean over seeds), or, for metrics that are not a mean
    over examples, the metric on each of a fixed list of bootstrap resamples (`bootstrap`)."""

    values: tuple[float, ...]
    bootstrap: bool = False


class Estimate(float):
    """A score as the engine measures it: it compares, adds and prints as its mean over seeds,
    and carries that mean's standard error over seeds (`error`, std/sqrt(seeds), which `best`
    uses to judge near-ties), how many `seeds` it is the mean of, the mean held-out loss
    (`loss`, None when unknown; it ranks short fine-tunes better than a metric still stuck on
    the majority class), the metric's standard error over held-out examples (`heldout`) and the
    per-example outputs that pair it with another candidate's (`examples`, see
    strategies.noise); both None when unknown (a score cached before they were kept)."""

    error: float
    loss: float | None
    seeds: int
    heldout: float | None
    examples: Examples | None

    def __new__(
        cls,
        mean: float,
        error: float = 0.0,
        loss: float | None = None,
        seeds: int = 1,
        heldout: float | None = None,
        examples: Examples | None = None,
    ) -> Estimate:
        estimate = super().__new__(cls, mean)
        estimate.error = error
        estimate.loss = loss
        estimate.seeds = seeds
        estimate.heldout = heldout
        estimate.examples = examples
        return estimate


@dataclass(frozen=True)
class StepResult:
    """One depth of a search: what was tried, and what was kept."""

    depth: int
    candidates: tuple[tuple[Layers, float | None], ...]
    chosen: Layers | None
    score: float | None
    # The budget each candidate's score was measured at, in the order of `candidates`; empty
    # when every candidate had the full fine-tune (every strategy but greedy-halving).
    budgets: tuple[float, ...] = ()
    # How a raced step (options.max_seeds, strategies.racing) was decided: "lead" (the best led
    # every rival by more than the noise), "cap" (some stayed inside it at max_seeds seeds: the
    # tie rule chose among them); None when the step was not raced.
    race: str | None = None


@dataclass
class SearchResult:
    strategy: str
    steps: list[StepResult] = field(default_factory=list)

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
    # Racing over seeds (strategies.racing): candidates start with the run's seeds, and those
    # inside the noise of the step's best get one more each, up to this many; None: no racing.
    max_seeds: int | None = field(
        default=None,
        metadata={
            "help": "race over seeds: a step's candidates start with --seeds seeds, and while "
            "the best and a rival are inside the noise the near-tied get one more each, up to N "
            "(--seeds auto: 1 seed, up to 3) (default: no racing)",
            "kind": int,
            "low": 1,
            "metavar": "N",
        },
    )


DEFAULT_MAX_SEEDS = 3  # the cap of `--seeds auto`


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
    return tie_rule([item for item in valid if top - item[1] <= margin])


def tie_rule(tied: Sequence[tuple[Layers, float]]) -> tuple[Layers, float]:
    """Of candidates the scores cannot tell apart, the set with the highest layer indices."""
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
