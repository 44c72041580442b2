"""How a task's label column reads, and the labels refused because they cannot mean what the
user thinks: missing or "NaN", classes that differ only by surrounding spaces, numbers that look
like scores without --regression, a regression target that is no finite number."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from glpsearch.errors import UserError

MAX_NUMERIC_CLASSES = 20  # more distinct numbers than this look like scores, not classes


@dataclass(frozen=True)
class Labels:
    """A source's label column: `names` None for a regression target, [] for classes named by
    the strings found (checked by `class_names`); `coded`: the values are indices into `names`
    (a `datasets` ClassLabel); `numbered`: a class is written as its name or as its id (GLUE's
    files write `0` for sst2's `negative`, as the hub's loading script reads them)."""

    names: list[str] | None
    coded: bool = False
    numbered: bool = False

    def index(self, names: list[str] | None) -> dict[str, int]:
        """Each way a class is written, to its id."""
        names = names or []
        index = {name: i for i, name in enumerate(names)}
        if self.numbered:
            index.update({str(i): i for i in range(len(names)) if str(i) not in index})
        return index


REGRESSION = Labels(None)
INFERRED = Labels([])


def class_names(rows: list[dict], column: str, name: str, told: bool | None) -> list[str]:
    """The classes of a label column read as strings, refusing labels that cannot mean what
    the user thinks: missing or "NaN", names that differ only by spaces, numbers that look like
    scores (unless told: spec.regression is False)."""
    found: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        raw = row.get(column)
        text = "" if raw is None else str(raw)
        if not text.strip():  # a short row, or an empty field: no class
            raise UserError(f"{name}: row {number} has no label in column {column!r}")
        if text.strip().lower() == "nan":
            raise UserError(
                f"{name}: row {number} has label {text!r}, which reads as a missing value; "
                "fix or drop that row"
            )
        found.setdefault(text, number)
    stripped: dict[str, str] = {}
    for text in sorted(found):
        other = stripped.setdefault(text.strip(), text)
        if other != text:
            raise UserError(
                f"{name}: labels {other!r} and {text!r} differ only by surrounding spaces; "
                "fix the labels so each class is written one way"
            )
    numbers = numbers_of(found)
    if told is None and numbers is not None:
        odd = [t for t, v in numbers.items() if v != int(v)]
        if odd or len(numbers) > MAX_NUMERIC_CLASSES:
            sample = ", ".join(sorted(odd or numbers, key=numbers.__getitem__)[:3])
            raise UserError(
                f"the labels of {name} are {len(numbers)} numbers (e.g. {sample}): give "
                "--regression for a score, or --no-regression if each number is a class"
            )
    return sorted(found)


def numbers_of(texts: dict[str, int]) -> dict[str, float] | None:
    values = {}
    for text in texts:
        try:
            values[text] = float(text)
        except ValueError:
            return None
    return values if all(map(math.isfinite, values.values())) else None


def read_label(
    raw: Any,
    number: int,
    column: str,
    names: list[str] | None,
    index: dict[str, int],
    coded: bool,
    name: str,
) -> Any:
    """Row `number`'s label: a class id, or a float for regression (names None)."""
    if coded:
        if raw is None or not 0 <= raw < len(index):  # the hub's unlabelled splits hold -1
            raise UserError(f"{name}: row {number} has no label (class id {raw})")
        return raw
    if raw is None or str(raw).strip() == "":  # a short row, or an empty field: no class
        raise UserError(f"{name}: row {number} has no label in column {column!r}")
    if names is None:
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise UserError(f"{name}: row {number} has a non-numeric regression label {raw!r}")
        return value
    if str(raw) in index:
        return index[str(raw)]
    raise UserError(f"{name}: row {number} has label {raw!r}, not one of {', '.join(index)}")
