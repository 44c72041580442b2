"""glpsearch: remove whole encoder layers from a transformer, chosen by a cached search.

From Python: `glpsearch.search(model, dataset, remove=3, ...)` and `glpsearch.compare(...)`
(see `glpsearch.api`). They load on first use, so `import glpsearch` stays light (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glpsearch.errors import GLPSearchError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from glpsearch.api import Candidate, CompareRun, SearchRun, Step, compare, search

__all__ = [
    "Candidate",
    "CompareRun",
    "GLPSearchError",
    "SearchRun",
    "Step",
    "__version__",
    "compare",
    "search",
]

_API = {"Candidate", "CompareRun", "SearchRun", "Step", "compare", "search"}


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use."""
    if name not in _API:
        raise AttributeError(f"module 'glpsearch' has no attribute {name!r}")
    from glpsearch import api

    globals().update({public: getattr(api, public) for public in _API})
    return globals()[name]
