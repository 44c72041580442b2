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
    # The mean held-out loss (cross-entropy, or squared error for regression). It varies
    # smoothly where the metric does not, so it can rank short fine-tunes whose predictions
    # are still all one class. None in records written before it was kept.
    loss: float | None = None
    # The standard error of `value` over the held-out examples (glpsearch.reference): what a
    # lead must clear to be more than noise. None in records written before it was kept.
    se: float | None = None

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Score:
        return cls(**{name: record[name] for name in cls.__dataclass_fields__ if name in record})


def readable(kind: str, record: dict) -> bool:
    """Whether a cached "score" or "failure" record has the fields its reader needs: what the
    store is opened with (`Store(cache, readable)`), so a hand-edited row is computed again."""
    if kind == "failure":
        return isinstance(record.get("reason"), str)
    if kind != "score":
        return True
    numbers = ("value", "train_seconds", "eval_seconds", "n_train", "n_eval")
    return (
        isinstance(record.get("metric"), str)
        and all(
            isinstance(record.get(name), int | float) and not isinstance(record.get(name), bool)
            for name in numbers
        )
        and (record.get("loss") is None or isinstance(record["loss"], int | float))
    )


class CandidateFailed(Exception):
    """A candidate could not be scored (diverged, out of memory, ...); the search goes on."""
