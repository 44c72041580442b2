"""Exhaustive search (the GLP paper code's "optimal"): every set of each size 1..k.

It is the optimum the other strategies approximate, at a cost of sum C(n, d) evaluations that
grows fast with n, so it refuses to start when that total exceeds `budget` (a total here, unlike
random's per-depth budget).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import comb

from glpsearch.strategies.base import Evaluate, SearchResult, StrategyOptions
from glpsearch.strategies.errors import BudgetExceeded
from glpsearch.strategies.search import search, subsets


@dataclass
class Exhaustive:
    options: StrategyOptions = field(default_factory=StrategyOptions)
    name: str = "exhaustive"

    def run(self, n_layers: int, remove: int, evaluate: Evaluate) -> SearchResult:
        needed = sum(comb(n_layers, depth) for depth in range(1, remove + 1))
        budget = self.options.budget
        if budget is not None and needed > budget:
            raise BudgetExceeded(
                f"exhaustive search needs {needed} evaluations, more than --budget {budget}; "
                "raise --budget or choose another strategy"
            )
        return search(self.name, remove, lambda depth, _: subsets(n_layers, depth), evaluate)
