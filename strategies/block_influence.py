"""Block-influence pruning: remove the layers that change their input least, as ranked once.

The ranking (e.g. ShortGPT's Block Influence, Men et al., 2024) is measured on the evaluator side
and arrives as `options.ranking`, least to most influential; depth d removes its first d layers.
One evaluation per depth, like the fixed orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.fixed import FixedOrder


@dataclass
class BlockInfluence(FixedOrder):
    name = "block-influence"
    reads = frozenset({"ranking"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.options.ranking is not None:
            self._refuse_unless_ranks(len(self.options.ranking))

    def check(self, n_layers: int, remove: int) -> None:
        if self.options.ranking is None:  # the commands measure it: this strategy reads it
            raise OptionError("block-influence needs a layer ranking")
        self._refuse_unless_ranks(n_layers)
        super().check(n_layers, remove)

    def order(self, n_layers: int) -> list[int]:
        return list(self.options.ranking or ())

    def _refuse_unless_ranks(self, n_layers: int) -> None:
        ranking = list(self.options.ranking or ())
        if sorted(ranking) != list(range(n_layers)):
            raise OptionError(
                f"block-influence ranking must list each of the {n_layers} layers once, "
                f"got {ranking}"
            )
