"""Greedy-layer Pruning (Peer et al., 2022): each step drops the layer whose removal scores best."""

from __future__ import annotations

from dataclasses import dataclass, field

from glpsearch.strategies.base import Evaluate, Layers, SearchResult, Step, StrategyOptions
from glpsearch.strategies.search import grow, search


@dataclass
class Greedy:
    options: StrategyOptions = field(default_factory=StrategyOptions)
    name: str = "greedy"

    def run(self, n_layers: int, remove: int, evaluate: Evaluate) -> SearchResult:
        def propose(depth: int, previous: Step | None) -> list[Layers]:
            removed = previous.chosen if previous is not None else None
            return grow([removed or frozenset()], n_layers)

        return search(self.name, remove, propose, evaluate)
