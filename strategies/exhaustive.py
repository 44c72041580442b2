"""Exhaustive search (the GLP paper code's "optimal"): every set of each size 1..k.

It is the optimum the other strategies approximate, at a cost of sum C(n, d) evaluations that
grows fast with n, so it refuses to start when that total exceeds `max_evaluations` (a total
here, unlike random's count per depth).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

from glpsearch.strategies.errors import BudgetExceeded
from glpsearch.strategies.search import Propose, Strategy, subsets


@dataclass
class Exhaustive(Strategy):
    name = "exhaustive"
    reads = frozenset({"max_evaluations", "max_seeds"})

    def check(self, n_layers: int, remove: int) -> None:
        needed = sum(comb(n_layers, depth) for depth in range(1, remove + 1))
        most = self.options.max_evaluations
        if most is not None and needed > most:
            raise BudgetExceeded(
                f"exhaustive search needs {needed} evaluations, more than --max-evaluations "
                f"{most}; raise --max-evaluations or choose another strategy"
            )

    def proposal(self, n_layers: int) -> Propose:
        return lambda depth, _: subsets(n_layers, depth)
