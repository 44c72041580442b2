"""The result of fine-tuning and scoring one candidate (torch-free, so the engine can use it)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from glpsearch.strategies import Examples


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
    # The standard error of `value` over the held-out examples (glpsearch.scoring.reference): what a
    # lead must clear to be more than noise. None in records written before it was kept.
    se: float | None = None
    # What pairs this score with another candidate's on the same held-out examples
    # (glpsearch.strategies.noise): for accuracy, each example's correctness as bits (`pack`);
    # otherwise the metric on each of the fixed bootstrap resamples (glpsearch.scoring.reference).
    # None in records written before it was kept.
    examples: str | tuple[float, ...] | None = None

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Score:
        fields = {name: record[name] for name in cls.__dataclass_fields__ if name in record}
        if isinstance(fields.get("examples"), list):  # JSON has no tuples
            fields["examples"] = tuple(fields["examples"])
        return cls(**fields)

    def per_example(self) -> Examples | None:
        """`examples` as a strategy pairs them, or None when the record predates them."""
        if self.examples is None:
            return None
        if isinstance(self.examples, str):
            return Examples(unpack(self.examples, self.n_eval))
        return Examples(tuple(map(float, self.examples)), bootstrap=True)


def pack(correct: Sequence[bool]) -> str:
    """Flags as base64 of their bits, eight to a byte, the first flag in the highest bit: a
    held-out example's correctness in an eighth of a byte (and a third more for base64)."""
    packed = bytearray((len(correct) + 7) // 8)
    for i, flag in enumerate(correct):
        if flag:
            packed[i // 8] |= 0x80 >> (i % 8)
    return base64.b64encode(bytes(packed)).decode("ascii")


def unpack(text: str, n: int) -> tuple[float, ...]:
    """The first `n` flags `pack` wrote, as 0.0 and 1.0."""
    packed = base64.b64decode(text, validate=True)
    bits = format(int.from_bytes(packed, "big"), f"0{8 * len(packed)}b") if packed else ""
    return tuple(1.0 if bit == "1" else 0.0 for bit in bits[:n])  # two shared floats, not n


def _readable_examples(record: dict) -> bool:
    """No `examples` (an older row), bits for exactly its `n_eval` examples, or numbers."""
    examples = record.get("examples")
    if examples is None:
        return True
    if isinstance(examples, list):
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in examples)
    if not isinstance(examples, str):
        return False
    try:
        packed = base64.b64decode(examples, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(packed) == (record["n_eval"] + 7) // 8


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
        and _readable_examples(record)
    )


class CandidateFailed(Exception):
    """A candidate could not be scored (diverged, out of memory, ...); the search goes on."""
