"""Random search: the chance baseline a guided strategy must beat at equal cost.

Each depth samples `max_evaluations` distinct sets of that size, independently of the other
depths, from a single `random.Random(seed)`, so a seed replays the same sets and hits the cache.
The count is per depth (default n_layers, greedy's first-step cost); where it reaches C(n, d)
every set of that size is taken instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from math import comb

from glpsearch.strategies.base import Layers, StepResult
from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.search import Propose, Strategy, subsets


@dataclass
class RandomSets(Strategy):
    name = "random"
    reads = frozenset({"seed", "max_evaluations", "max_seeds"})

    def __post_init__(self) -> None:
        super().__post_init__()
        count = self.options.max_evaluations
        if count is not None and count < 1:
            raise OptionError(
                f"random search needs at least 1 set per depth, got --max-evaluations {count}"
            )

    def proposal(self, n_layers: int) -> Propose:
        count = n_layers if self.options.max_evaluations is None else self.options.max_evaluations
        rng = random.Random(self.options.seed)  # one per run: a rerun draws the same sets

        def propose(depth: int, previous: StepResult | None) -> list[Layers]:
            if count >= comb(n_layers, depth):
                return subsets(n_layers, depth)
            sampled: dict[Layers, None] = {}  # a set that keeps the draw order
            while len(sampled) < count:
                sampled[frozenset(rng.sample(range(n_layers), depth))] = None
            return list(sampled)

        return propose
