"""Beam search: greedy pruning that keeps the W best removed-sets per depth instead of one.

A wider beam recovers pairs of layers that are only redundant together, which greedy misses when
neither looks best alone. With W = 1 it asks for exactly greedy's candidates, so it replays
greedy's cache. The best set of a depth need not extend the previous depth's best, so
`SearchResult.order` may be None.
"""

from __future__ import annotations

from dataclasses import dataclass

from glpsearch.strategies.base import Layers, StepResult, top
from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.search import Propose, Strategy, grow


@dataclass
class Beam(Strategy):
    name = "beam"
    reads = frozenset({"beam_width", "max_seeds"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.options.beam_width < 1:
            raise OptionError(f"beam width must be at least 1, got {self.options.beam_width}")

    def proposal(self, n_layers: int) -> Propose:
        width = self.options.beam_width

        def propose(depth: int, previous: StepResult | None) -> list[Layers]:
            if previous is None:
                return grow([frozenset()], n_layers)
            return grow([layers for layers, _ in top(previous.candidates, width)], n_layers)

        return propose
