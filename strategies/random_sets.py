"""Random search: the chance baseline a guided strategy must beat at equal cost.

Each depth samples `budget` distinct sets of that size, independently of the other depths, from a
single `random.Random(seed)`, so a seed replays the same sets and hits the cache. The budget is
per depth (default n_layers, greedy's first-step cost); where it reaches C(n, d) every set of that
size is taken instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from math import comb

from glpsearch.strategies.base import Evaluate, Layers, SearchResult, Step, StrategyOptions
from glpsearch.strategies.search import search, subsets


@dataclass
class RandomSets:
    options: StrategyOptions = field(default_factory=StrategyOptions)
    name: str = "random"

    def run(self, n_layers: int, remove: int, evaluate: Evaluate) -> SearchResult:
        budget = n_layers if self.options.budget is None else self.options.budget
        if budget < 1:
            raise ValueError(f"random search needs at least 1 set per depth, got --budget {budget}")
        rng = random.Random(self.options.seed)

        def propose(depth: int, previous: Step | None) -> list[Layers]:
            if budget >= comb(n_layers, depth):
                return subsets(n_layers, depth)
            sampled: dict[Layers, None] = {}  # a set that keeps the draw order
            while len(sampled) < budget:
                sampled[frozenset(rng.sample(range(n_layers), depth))] = None
            return list(sampled)

        return search(self.name, remove, propose, evaluate)
