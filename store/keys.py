"""Canonical text form of a removed-layer set.

A set's key must not depend on the order its layers were found in, so it is the sorted indices
joined by commas ("0,7,11"; "" is the unpruned model). Never a pickled frozenset, whose bytes
depend on insertion order and Python version.
"""

from __future__ import annotations

from collections.abc import Iterable


def canonical(removed: Iterable[int]) -> str:
    layers = set(removed)
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or layer < 0:
            raise ValueError(f"layer indices must be non-negative integers, got {layer!r}")
    return ",".join(str(i) for i in sorted(layers))


def parse_canonical(text: str) -> frozenset[int]:
    return frozenset(int(part) for part in text.split(",")) if text else frozenset()
