"""Search strategies: which removed-layer sets to evaluate, and which to keep.

Pure Python by design (no torch): see `strategies.base` for the contract.
"""

from __future__ import annotations

from collections.abc import Callable

from glpsearch.strategies.base import (
    Estimate,
    Evaluate,
    Layers,
    SearchResult,
    Step,
    Strategy,
    StrategyOptions,
)
from glpsearch.strategies.beam import Beam
from glpsearch.strategies.block_influence import BlockInfluence
from glpsearch.strategies.errors import BudgetExceeded
from glpsearch.strategies.exhaustive import Exhaustive
from glpsearch.strategies.fixed import Alternate, AlternateEven, BottomDrop, Symmetric, TopDrop
from glpsearch.strategies.greedy import Greedy
from glpsearch.strategies.halving import Halving
from glpsearch.strategies.random_sets import RandomSets

REGISTRY: dict[str, Callable[[StrategyOptions], Strategy]] = {
    "greedy": Greedy,
    "greedy-halving": Halving,
    "beam": Beam,
    "random": RandomSets,
    "exhaustive": Exhaustive,
    "top-drop": TopDrop,
    "bottom-drop": BottomDrop,
    "alternate": Alternate,
    "alternate-even": AlternateEven,
    "symmetric": Symmetric,
    "block-influence": BlockInfluence,
}


def make(name: str, options: StrategyOptions | None = None) -> Strategy:
    """Build a strategy by name; KeyError names the known ones."""
    if name not in REGISTRY:
        raise KeyError(f"unknown strategy {name!r}; choose from {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](options or StrategyOptions())


__all__ = [
    "REGISTRY",
    "BudgetExceeded",
    "Estimate",
    "Evaluate",
    "Layers",
    "SearchResult",
    "Step",
    "Strategy",
    "StrategyOptions",
    "make",
]
