"""What names one fine-tune in the store: its `Key`, and the canonical text of a removed set.

A set's key must not depend on the order its layers were found in, so it is the sorted indices
joined by commas ("0,7,11"; "" is the unpruned model). Never a pickled frozenset, whose bytes
depend on insertion order and Python version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def canonical(removed: Iterable[int]) -> str:
    layers = set(removed)
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
            raise ValueError(f"layer indices must be non-negative integers, got {layer!r}")
    return ",".join(str(i) for i in sorted(layers))


def parse_canonical(text: str) -> frozenset[int]:
    return frozenset(int(part) for part in text.split(",")) if text else frozenset()


@dataclass(frozen=True)
class Key:
    """One fine-tune's identity: the evaluator's fingerprint, the seed, the removed set and the
    fraction `budget` of the full run's steps. Checked once, here, where it is made."""

    fingerprint: str
    seed: int
    removed: frozenset[int]
    budget: float = 1.0

    def __init__(
        self, fingerprint: str, seed: int, removed: Iterable[int], budget: float = 1.0
    ) -> None:
        layers = frozenset(removed)
        canonical(layers)  # refuses negative or non-integer layers
        if not 0.0 < budget <= 1.0:
            raise ValueError(f"a budget is a fraction of the fine-tune in (0, 1], got {budget!r}")
        object.__setattr__(self, "fingerprint", fingerprint)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "removed", layers)
        object.__setattr__(self, "budget", budget)

    def text(self, kind: str) -> str:
        """The row's key under `kind`: "<kind>/<fingerprint>/<seed>/<layers>". The full
        fine-tune's has no budget, so results from before budgets existed, and every strategy
        that trains fully, share it; a partial one's ends in "@<budget>"."""
        partial = "" if self.budget == 1.0 else f"@{float(self.budget)!r}"
        return f"{kind}/{self.fingerprint}/{self.seed}/{canonical(self.removed)}{partial}"
