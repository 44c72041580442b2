"""The depth loop every strategy shares: propose a depth's sets, score them in one call."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import combinations

from glpsearch.strategies.base import Evaluate, Layers, SearchResult, Step, best

# The sets to score at a depth, given the previous step (None at depth 1).
Propose = Callable[[int, Step | None], Sequence[Layers]]
# How a depth's candidates are scored and one chosen: the step that records it.
Judge = Callable[[int, Sequence[Layers], Evaluate], Step]


def judge_fully(depth: int, candidates: Sequence[Layers], evaluate: Evaluate) -> Step:
    """Score every candidate with the full fine-tune in a single `evaluate` call, which the
    engine parallelises, and keep the best."""
    scored = tuple(zip(candidates, evaluate(candidates), strict=True))
    winner = best(scored)
    chosen, score = winner if winner is not None else (None, None)
    return Step(depth, scored, chosen, score)


def search(
    name: str, remove: int, propose: Propose, evaluate: Evaluate, judge: Judge = judge_fully
) -> SearchResult:
    """Propose and judge each depth's candidates in turn.

    A depth where every candidate failed ends the search: nested strategies have nothing sound to
    build on, and the independent ones follow the same rule so a result never has gaps.
    """
    result = SearchResult(name)
    previous: Step | None = None
    for depth in range(1, remove + 1):
        previous = judge(depth, list(propose(depth, previous)), evaluate)
        result.steps.append(previous)
        if previous.chosen is None:
            break
    return result


def grow(kept: Iterable[Layers], n_layers: int) -> list[Layers]:
    """Each kept set plus one more layer, once each, in a fixed order so a replay hits the cache."""
    grown = (base | {layer} for base in kept for layer in range(n_layers) if layer not in base)
    return list(dict.fromkeys(grown))


def subsets(n_layers: int, size: int) -> list[Layers]:
    """Every set of `size` layers, in lexicographic order."""
    return [frozenset(layers) for layers in combinations(range(n_layers), size)]
