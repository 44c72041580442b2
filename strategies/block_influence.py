"""Block-influence pruning: remove the layers that change their input least, as ranked once.

The ranking (e.g. ShortGPT's Block Influence, Men et al., 2024) is measured on the evaluator side
and arrives as `options.ranking`, least to most influential; depth d removes its first d layers.
One evaluation per depth, like the fixed orders.
"""

from __future__ import annotations

from dataclasses import dataclass

from glpsearch.strategies.fixed import FixedOrder


@dataclass
class BlockInfluence(FixedOrder):
    name: str = "block-influence"

    def order(self, n_layers: int) -> list[int]:
        ranking = self.options.ranking
        if ranking is None:
            raise ValueError("block-influence needs a layer ranking")
        if sorted(ranking) != list(range(n_layers)):
            raise ValueError(
                f"block-influence ranking must list each of the {n_layers} layers once, "
                f"got {list(ranking)}"
            )
        return list(ranking)
