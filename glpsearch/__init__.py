"""glpsearch: remove whole encoder layers from a transformer, chosen by a cached search.

From Python: one function per command, `glpsearch.search(model, dataset, remove=3, ...)`,
`compare`, `evaluate(from_dir, ...)`, `speed`, `pick` and `export` (see `glpsearch.api`). They
load on first use, so `import glpsearch` stays light (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from glpsearch.errors import GLPSearchError
from glpsearch.version import __version__

if TYPE_CHECKING:
    from glpsearch.api import (
        Candidate,
        CompareRun,
        Evaluation,
        Exported,
        Picked,
        SearchRun,
        Speeds,
        Step,
        compare,
        evaluate,
        export,
        pick,
        search,
        speed,
    )

__all__ = [
    "Candidate",
    "CompareRun",
    "Evaluation",
    "Exported",
    "GLPSearchError",
    "Picked",
    "SearchRun",
    "Speeds",
    "Step",
    "__version__",
    "compare",
    "evaluate",
    "export",
    "pick",
    "search",
    "speed",
]

_API = set(__all__) - {"GLPSearchError", "__version__"}


def __getattr__(name: str) -> Any:
    """The API's names, imported on first use."""
    if name not in _API:
        raise AttributeError(f"module 'glpsearch' has no attribute {name!r}")
    from glpsearch import api

    globals().update({public: getattr(api, public) for public in _API})
    return globals()[name]
