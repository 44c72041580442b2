"""Greedy-layer Pruning (Peer et al., 2022): each step drops the layer whose removal scores best."""

from __future__ import annotations

from dataclasses import dataclass

from glpsearch.strategies.base import Layers, StepResult
from glpsearch.strategies.search import Propose, Strategy, grow


@dataclass
class Greedy(Strategy):
    name = "greedy"
    reads = frozenset({"max_seeds"})

    def proposal(self, n_layers: int) -> Propose:
        """The previous step's choice plus each other layer (greedy-halving's proposal too)."""

        def propose(depth: int, previous: StepResult | None) -> list[Layers]:
            removed = previous.chosen if previous is not None else None
            return grow([removed or frozenset()], n_layers)

        return propose
