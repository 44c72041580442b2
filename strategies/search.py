"""The depth loop every strategy shares, and `Strategy`, the base that runs it: a strategy is a
proposal (which sets to score at each depth) and a judge (how to score them and keep one)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import ClassVar

from glpsearch.strategies.base import (
    Evaluate,
    Layers,
    SearchResult,
    StepResult,
    StrategyOptions,
    best,
)
from glpsearch.strategies.racing import check_max_seeds, race

# The sets to score at a depth, given the previous step (None at depth 1).
Propose = Callable[[int, StepResult | None], Sequence[Layers]]


@dataclass
class Strategy(ABC):
    """A search: at each depth, its `proposal`'s sets, scored and one kept by its `judge`.

    It reads the StrategyOptions fields named in `reads` (the commands compute a costly one, the
    ranking, only for a strategy that reads it). Building it refuses an option it cannot run
    with, and `check` a model it cannot search (`errors.OptionError`, one line for the user):
    the commands do both before anything is scored, and `run` checks again."""

    options: StrategyOptions = field(default_factory=StrategyOptions)
    name: ClassVar[str]
    reads: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        """Refuse options every strategy shares (a subclass's own checks call this first)."""
        check_max_seeds(self.options.max_seeds)

    def check(self, n_layers: int, remove: int) -> None:
        """Refuse to remove 1..`remove` of `n_layers` layers where this strategy cannot; most
        can (the commands already keep `remove` under `n_layers`)."""
        return None

    @abstractmethod
    def proposal(self, n_layers: int) -> Propose:
        """What to score at each depth, for one run (a fresh one replays the same sets)."""

    def judge(self, depth: int, candidates: Sequence[Layers], evaluate: Evaluate) -> StepResult:
        """Score every candidate with the full fine-tune in a single `evaluate` call, which the
        engine parallelises, and keep the best; with `max_seeds`, race the near-tied over more
        seeds first (strategies.racing)."""
        scored = tuple(zip(candidates, evaluate(candidates), strict=True))
        if self.options.max_seeds is not None:
            raced = race(scored, evaluate, self.options.max_seeds)
            return StepResult(depth, raced.scored, raced.chosen, raced.score, race=raced.race)
        winner = best(scored)
        chosen, score = winner if winner is not None else (None, None)
        return StepResult(depth, scored, chosen, score)

    def run(self, n_layers: int, remove: int, evaluate: Evaluate) -> SearchResult:
        """Depths 1..remove, each proposed and judged in turn.

        A depth where every candidate failed ends the search: nested strategies have nothing
        sound to build on, and the independent ones follow the same rule so a result never has
        gaps.
        """
        self.check(n_layers, remove)
        propose = self.proposal(n_layers)
        result = SearchResult(self.name)
        previous: StepResult | None = None
        for depth in range(1, remove + 1):
            previous = self.judge(depth, list(propose(depth, previous)), evaluate)
            result.steps.append(previous)
            if previous.chosen is None:
                break
        return result


def grow(kept: Iterable[Layers], n_layers: int) -> list[Layers]:
    """Each kept set plus one more layer, once each, in a fixed order so a replay hits the cache."""
    grown = (base | {layer} for base in kept for layer in range(n_layers) if layer not in base)
    return list(dict.fromkeys(grown))


def subsets(n_layers: int, size: int) -> list[Layers]:
    """Every set of `size` layers, in lexicographic order."""
    return [frozenset(layers) for layers in combinations(range(n_layers), size)]
