"""The shape of the records glpsearch writes (search.json, compare.json, evaluate.json,
speed.json), checked once where a record is read, so that a hand-edited or partial record is one
line naming what is wrong instead of a traceback deep in a command.

A shape is a type (`float` also takes an int, `int` never takes a bool), None (null), a tuple of
shapes (any of them), a list of one shape (a list of such items) or a dict of named shapes (an
object with those fields; a name ending in "?" may be missing). Fields not named are not checked.
No torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glpsearch.errors import UserError

NUMBER = (float, None)
# What every reader of a search or compare record needs: each strategy's depths and scores.
STEP = {"depth": int, "chosen": ([int], None), "score": NUMBER}
ENTRY = {"strategy": str, "steps": [STEP], "order?": ([int], None)}
HEADER = {
    "model": str,
    "task": str,
    "metric": str,
    "n_layers": int,
    "baseline": {"score": NUMBER},
    "settings?": dict,
    "data?": dict,
}
SEARCH = {**HEADER, **ENTRY}
COMPARE = {**HEADER, "strategies": [ENTRY]}
# What `report` adds: every candidate's outcome and the run's counts, for its table and CSV.
CANDIDATE = {
    "removed": [int],
    "score": NUMBER,
    "failure": (str, None),
    "cached": bool,
    "seconds": float,
}
TRIED = {"steps": [{"candidates": [CANDIDATE]}]}
COUNTED = {
    "baseline": {"failure": (str, None), "cached": bool, "seconds": float},
    "evaluations": {"computed": int, "cached": int, "failed": int},
}
SEARCH_TABLE = {**COUNTED, **TRIED}
COMPARE_TABLE = {**COUNTED, "strategies": [TRIED]}
EVALUATE = {
    "results": [{"strategy": str, "depth": int, "removed": [int], "mean": NUMBER, "std": NUMBER}],
}
TIMING = {"device": str, "batch_size": int, "latency_ms": float, "speedup": float}
SPEED = {
    "seq_length": int,
    "models": [{"removed": [int], "timings": [TIMING]}],
}


def check(record: Any, shape: Any, path: Path, fix: str = "restore it") -> None:
    """Raise UserError naming the first field of `record` (read from `path`) not of `shape`,
    and `fix`, what to do about it."""
    problem = _mismatch(record, shape, "")
    if problem is not None:
        where, what = problem
        raise UserError(
            f"{path} is not a glpsearch record it can read ({where or 'the record'}: {what}); {fix}"
        )


def _mismatch(value: Any, shape: Any, where: str) -> tuple[str, str] | None:
    if isinstance(shape, tuple):
        found = [_mismatch(value, option, where) for option in shape]
        return None if None in found else found[0]
    if shape is None:
        return None if value is None else (where, f"{_name(value)}, not null")
    if isinstance(shape, list):
        if not isinstance(value, list):
            return where, f"{_name(value)}, not a list"
        for i, item in enumerate(value):
            if (problem := _mismatch(item, shape[0], f"{where}[{i}]")) is not None:
                return problem
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return where, f"{_name(value)}, not an object"
        for name, field in shape.items():
            key = name.removesuffix("?")
            inner = f"{where}.{key}" if where else key
            if key not in value:
                if name.endswith("?"):
                    continue
                return inner, "missing"
            if (problem := _mismatch(value[key], field, inner)) is not None:
                return problem
        return None
    kinds = (int, float) if shape is float else (shape,)
    if isinstance(value, kinds) and (shape is bool or not isinstance(value, bool)):
        return None
    return where, f"{_name(value)}, not {'a number' if shape is float else _name_of(shape)}"


def _name(value: Any) -> str:
    if value is None:
        return "null"
    name = _name_of(type(value))
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _name_of(kind: type) -> str:
    names = {str: "string", int: "whole number", float: "number", bool: "true/false",
             list: "list", dict: "object"}  # fmt: skip
    return names.get(kind, kind.__name__)
