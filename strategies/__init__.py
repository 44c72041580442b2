"""Search strategies: which removed-layer sets to evaluate, and which to keep.

Pure Python by design (no torch): see `strategies.base` for what they receive and return,
`strategies.search.Strategy` for what each is.
"""

from __future__ import annotations

from collections.abc import Iterable

from glpsearch.strategies.base import (
    DEFAULT_MAX_SEEDS,
    Estimate,
    Evaluate,
    Examples,
    Layers,
    SearchResult,
    StepResult,
    StrategyOptions,
)
from glpsearch.strategies.beam import Beam
from glpsearch.strategies.block_influence import BlockInfluence
from glpsearch.strategies.errors import BudgetExceeded, OptionError
from glpsearch.strategies.exhaustive import Exhaustive
from glpsearch.strategies.fixed import Alternate, AlternateEven, BottomDrop, Symmetric, TopDrop
from glpsearch.strategies.greedy import Greedy
from glpsearch.strategies.halving import Halving
from glpsearch.strategies.random_sets import RandomSets
from glpsearch.strategies.search import Strategy

REGISTRY: dict[str, type[Strategy]] = {
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
    """Build a strategy by name (OptionError for an option it cannot run with); KeyError names
    the known ones."""
    if name not in REGISTRY:
        raise KeyError(f"unknown strategy {name!r}; choose from {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name](options or StrategyOptions())


def reading(option: str, names: Iterable[str]) -> list[str]:
    """Those of the named strategies that read `option` (a StrategyOptions field): what the
    commands ask instead of knowing strategies by name."""
    return [name for name in names if option in REGISTRY[name].reads]


__all__ = [
    "DEFAULT_MAX_SEEDS",
    "REGISTRY",
    "BudgetExceeded",
    "Estimate",
    "Evaluate",
    "Examples",
    "Layers",
    "OptionError",
    "SearchResult",
    "StepResult",
    "Strategy",
    "StrategyOptions",
    "make",
    "reading",
]
