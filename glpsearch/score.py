"""The result of fine-tuning and scoring one candidate (torch-free, so the engine can use it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Score:
    value: float
    metric: str
    train_seconds: float
    eval_seconds: float
    n_train: int
    n_eval: int

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Score:
        return cls(**{name: record[name] for name in cls.__dataclass_fields__})


class CandidateFailed(Exception):
    """A candidate could not be scored (diverged, out of memory, ...); the search goes on."""
