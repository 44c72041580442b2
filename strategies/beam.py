"""Beam search: greedy pruning that keeps the W best removed-sets per depth instead of one.

A wider beam recovers pairs of layers that are only redundant together, which greedy misses when
neither looks best alone. With W = 1 it asks for exactly greedy's candidates, so it replays
greedy's cache. The best set of a depth need not extend the previous depth's best, so
`SearchResult.order` may be None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from glpsearch.strategies.base import Evaluate, Layers, SearchResult, Step, StrategyOptions, top
from glpsearch.strategies.search import grow, search


@dataclass
class Beam:
    options: StrategyOptions = field(default_factory=StrategyOptions)
    name: str = "beam"

    def run(self, n_layers: int, remove: int, evaluate: Evaluate) -> SearchResult:
        width = self.options.beam_width
        if width < 1:
            raise ValueError(f"beam width must be at least 1, got {width}")

        def propose(depth: int, previous: Step | None) -> list[Layers]:
            if previous is None:
                return grow([frozenset()], n_layers)
            return grow([layers for layers, _ in top(previous.candidates, width)], n_layers)

        return search(self.name, remove, propose, evaluate)
