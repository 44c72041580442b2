"""Errors strategies raise for choices the user can change."""

from __future__ import annotations


class OptionError(ValueError):
    """An option a strategy cannot run with, found when it is built or checked against the model
    (before any evaluation): its message is one line the user can act on."""


class BudgetExceeded(OptionError):
    """The search would need more evaluations than --max-evaluations allows."""
