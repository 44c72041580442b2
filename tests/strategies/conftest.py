"""A scripted evaluator: scores come from a table or a function of the removed set."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence

import pytest

from glpsearch.strategies.base import Layers

Score = float | None


class Scripted:
    """Records every call, so tests can count evaluations and check one call per depth.

    A table raises KeyError for a set it does not list: an unexpected candidate fails the test.
    """

    def __init__(self, scores: Mapping[Layers, Score] | Callable[[Layers], Score]) -> None:
        self.score = scores.__getitem__ if isinstance(scores, Mapping) else scores
        self.calls: list[list[Layers]] = []

    def __call__(self, candidates: Sequence[Layers]) -> list[Score]:
        self.calls.append(list(candidates))
        return [self.score(layers) for layers in candidates]

    @property
    def evaluated(self) -> list[Layers]:
        return [layers for call in self.calls for layers in call]


@pytest.fixture
def scripted() -> type[Scripted]:
    return Scripted


def rough(layers: Layers) -> Score:
    """A fixed pseudo-random score with frequent ties and some failures, to stress tie rules."""
    draw = random.Random(str(sorted(layers))).random()
    return None if draw < 0.1 else round(draw * 4) / 4


@pytest.fixture
def rough_scores() -> Callable[[Layers], Score]:
    return rough
