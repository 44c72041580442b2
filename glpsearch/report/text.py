"""How tables and the live display write removed sets, scores and partial fine-tunes."""

from __future__ import annotations

from glpsearch.store import canonical

NOTHING = "learned nothing"  # the mark of a score at the constant predictor's level


def layers_text(removed: frozenset[int]) -> str:
    return "{" + canonical(removed).replace(",", ", ") + "}" if removed else "none"


def score_text(value: float | None, std: float | None) -> str:
    """A score, with ± its spread over seeds when there was more than one."""
    if value is None:
        return "failed"
    return f"{value:.4f}" if not std else f"{value:.4f} ± {std:.4f}"


def budget_text(budget: float) -> str:
    """How much of the full fine-tune a partial one got; nothing for a full one."""
    return "" if budget == 1.0 else f" at {budget:.0%}"
