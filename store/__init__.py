"""Persistence of evaluation results: canonical keys and a crash-safe on-disk store.

Knows nothing of search strategies or of torch; values are plain JSON-able dicts.
"""

from __future__ import annotations

from glpsearch.store.cache import Store, StoreError
from glpsearch.store.keys import Key, canonical, parse_canonical

__all__ = ["Key", "Store", "StoreError", "canonical", "parse_canonical"]
