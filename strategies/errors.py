"""Errors strategies raise for choices the user can change."""

from __future__ import annotations


class BudgetExceeded(ValueError):
    """The search would need more evaluations than --budget allows; raised before any of them."""
