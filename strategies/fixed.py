"""Fixed removal orders after Sajjad et al., "On the Effect of Dropping Layers of Pre-trained
Transformer Models": baselines that cost one evaluation per depth.

Layers are 0-indexed and n = n_layers; depth d removes the first d layers of the order:

- top-drop:       n-1, n-2, ..., 0
- bottom-drop:    0, 1, ..., n-1
- alternate:      n-2, n-4, ... (the paper's odd-alternate: 1-indexed 11, 9, 7, ... of 12), then
                  the remaining layers from the top: n-1, n-3, ...
- alternate-even: n-1, n-3, ... (1-indexed 12, 10, 8, ...), then n-2, n-4, ...
- symmetric:      nearest the middle first, the upper of two equally near ones first. Depth d
                  thus removes layers c .. c+d-1 with c = ceil((n-d)/2): when the n-d kept layers
                  cannot split evenly the bottom keeps the extra one, as lower layers matter more.

Every order keeps at least one layer, so d <= n-1.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.search import Propose, Strategy


@dataclass
class FixedOrder(Strategy):
    """A strategy whose removal order is known before any evaluation."""

    @abstractmethod
    def order(self, n_layers: int) -> list[int]:
        """Every layer, first to remove first."""

    def check(self, n_layers: int, remove: int) -> None:
        if remove > n_layers - 1:
            raise OptionError(
                f"{self.name} keeps at least one layer: remove at most {n_layers - 1}, got {remove}"
            )

    def proposal(self, n_layers: int) -> Propose:
        order = self.order(n_layers)
        return lambda depth, _: [frozenset(order[:depth])]


@dataclass
class TopDrop(FixedOrder):
    name = "top-drop"

    def order(self, n_layers: int) -> list[int]:
        return list(range(n_layers - 1, -1, -1))


@dataclass
class BottomDrop(FixedOrder):
    name = "bottom-drop"

    def order(self, n_layers: int) -> list[int]:
        return list(range(n_layers))


def alternating(first: int, then: int) -> list[int]:
    """Every other layer down from `first`, then every other layer down from `then`."""
    return [*range(first, -1, -2), *range(then, -1, -2)]


@dataclass
class Alternate(FixedOrder):
    name = "alternate"

    def order(self, n_layers: int) -> list[int]:
        return alternating(n_layers - 2, n_layers - 1)


@dataclass
class AlternateEven(FixedOrder):
    name = "alternate-even"

    def order(self, n_layers: int) -> list[int]:
        return alternating(n_layers - 1, n_layers - 2)


@dataclass
class Symmetric(FixedOrder):
    name = "symmetric"

    def order(self, n_layers: int) -> list[int]:
        return sorted(range(n_layers), key=lambda layer: (abs(2 * layer - (n_layers - 1)), -layer))
