"""The hash of a JSON-able value: fingerprints, the data's digest and the memo's file names.

Each is a cache key users hold, so its form (sha256 of the JSON text, hex) must never drift
between the places that make one: they all call this. No torch.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def json_sha256(value: Any, sort_keys: bool = True) -> str:
    """sha256 of `json.dumps(value)` in hex; `sort_keys=False` only where a digest was made
    without it (the data's), which sorting would change."""
    return hashlib.sha256(json.dumps(value, sort_keys=sort_keys).encode()).hexdigest()
