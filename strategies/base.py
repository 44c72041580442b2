"""What every strategy receives and returns.

A strategy is pure Python: it proposes removed-layer sets and asks `evaluate` for their scores
(higher is better; None for a candidate that failed). It never sees the cache, torch or progress.
Deterministic given its options (seed included), so re-running it replays the cached evaluations
exactly: that is how a killed search resumes, with no strategy state to persist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

Layers = frozenset[int]
Evaluate = Callable[[Sequence[Layers]], list[float | None]]


@dataclass(frozen=True)
class Step:
    """One depth of a search: what was tried, and what was kept."""

    depth: int
    candidates: tuple[tuple[Layers, float | None], ...]
    chosen: Layers | None
    score: float | None


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
    """Options a user may give any strategy; each strategy reads those it needs."""

    seed: int = 0
    beam_width: int = 2
    budget: int | None = None
    # Layers from least to most influential, measured on the evaluator side for block-influence.
    ranking: tuple[int, ...] | None = None


class Strategy(Protocol):
    name: str

    def run(self, n_layers: int, remove: int, evaluate: Evaluate) -> SearchResult: ...


def best(scored: Sequence[tuple[Layers, float | None]]) -> tuple[Layers, float] | None:
    """The best-scoring candidate; ties go to the set with the highest layer indices.

    The rule is explicit because near-ties are common. It matches the GLP paper's code, which
    keeps the last (highest-index) layer among equal scores: upper layers are the ones most
    often redundant.
    """
    valid = [(layers, score) for layers, score in scored if score is not None]
    if not valid:
        return None
    return max(valid, key=lambda item: (item[1], sorted(item[0], reverse=True)))
