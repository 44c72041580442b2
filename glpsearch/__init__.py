"""glpsearch: remove whole encoder layers from a transformer, chosen by a cached search."""

from __future__ import annotations

__version__ = "0.1.0"
