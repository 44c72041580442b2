"""Options declared once: each is a field of a frozen dataclass, with its default, help and
constraint in the field's metadata (`option`). The value is checked where it is built: every
option dataclass calls `check(self)` from `__post_init__`, which refuses a bad value with an
`OptionError` carrying the field's name (scikit-learn's `_parameter_constraints` is the model).
The CLI builds its parser from the same fields (`add_arguments`, whose type functions convert
the text and apply the same checks, so argparse reports them), the API its keywords (`build`):
neither declares an option again, and an error names the option as its caller spelled it.

Stdlib only (and glpsearch.errors). Metadata is a plain dict of the keys `option` writes, so
`strategies/` (which imports nothing of glpsearch) declares its options the same way without
importing this.

Keys: help; kind (int, float, str, Path or bool: a switch); low, inclusive (a bound the value
must reach, checked with the kind), high (the most it may be, a relation checked once built:
"must be between low and high"); choices (a sequence, or a function giving one when asked);
noun (what a choice is, in messages); listed (a comma list: a tuple of items of the kind;
blanks: keep empty items); words (names allowed besides numbers, e.g. auto); nonblank (an empty
text is refused); flag (the CLI's name when not --field-name), aliases (older flags, also
keywords), metavar, required (the CLI asks for it).
"""

from __future__ import annotations

import argparse
import dataclasses
import keyword
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from glpsearch.errors import UserError


class OptionError(UserError):
    """A bad option value: `name` (the field), `value` and `message` (without the name), so each
    caller spells the option its own way (`--epochs` from the shell, `epochs=` from Python)."""

    def __init__(self, name: str, value: Any, message: str) -> None:
        super().__init__(f"{name}={value!r}: {message}")
        self.name, self.value, self.message = name, value, message


T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Given(Generic[T]):
    """The options of dataclass `cls` a caller gave (`values`), checked when made; those not
    given come from a base known later (the task's defaults, a --from record's settings)."""

    cls: type[T]
    values: Mapping[str, Any]

    def __post_init__(self) -> None:
        self.cls(**self.values)

    def over(self, base: T | None = None) -> T:
        """`base` (else the defaults) with the values given."""
        if base is None:
            return self.cls(**self.values)
        return dataclasses.replace(base, **self.values)  # type: ignore[type-var]


def option(default: Any = None, help: str = "", **constraint: Any) -> Any:
    """A dataclass field that is an option: its default, help and constraint (the keys above)."""
    if "kind" not in constraint:
        constraint["kind"] = bool if isinstance(default, bool) else str
    return dataclasses.field(default=default, metadata={"help": help, **constraint})


def declared(cls: Any) -> Iterator[dataclasses.Field]:
    """The fields of `cls` that are options (those with help metadata)."""
    return (f for f in dataclasses.fields(cls) if "help" in f.metadata)


def flags(spec: dataclasses.Field) -> list[str]:
    """The option's CLI flags: its own, then its old names."""
    return [spec.metadata.get("flag", "--" + spec.name.replace("_", "-")),
            *spec.metadata.get("aliases", ())]  # fmt: skip


def keywords(spec: dataclasses.Field) -> list[str]:
    """The option's keyword names from Python: the field's, and those its flags spell."""
    spelled = [flag.removeprefix("--").replace("-", "_") for flag in flags(spec)]
    spelled = [k for k in spelled if not k.startswith("no_") and not keyword.iskeyword(k)]
    return list(dict.fromkeys([spec.name, *spelled]))


# -- checks ------------------------------------------------------------------------------------
def check(instance: Any) -> None:
    """Refuse a bad option value of `instance` (OptionError naming the field); a whole number
    given where a float is declared becomes that float (a fingerprint hashes 2.0, not 2)."""
    for spec in declared(instance):
        value = getattr(instance, spec.name)
        if value is None:
            continue
        try:
            value = _checked(spec.metadata, value)
        except ValueError as exc:
            raise OptionError(spec.name, value, str(exc)) from None
        high = spec.metadata.get("high")
        if high is not None and value > high:
            low = spec.metadata.get("low", 0)
            raise OptionError(spec.name, value, f"must be between {low} and {high}")
        object.__setattr__(instance, spec.name, value)


def _checked(meta: Mapping[str, Any], value: Any) -> Any:
    """The value, of the option's kind and within its bounds; ValueError says why not."""
    if meta.get("listed"):
        if isinstance(value, str):
            return _listed(meta, value)
        if not isinstance(value, list | tuple):
            raise ValueError(f"{str(value)!r} is not a list")
        items = tuple(_item(meta, item, str(item)) for item in value)
        if not items:
            raise ValueError(_empty(meta, ""))
        return tuple(dict.fromkeys(items)) if meta.get("choices") else items
    return _item(meta, value, str(value))


def _item(meta: Mapping[str, Any], value: Any, shown: str) -> Any:
    kind = meta["kind"]
    if value in meta.get("words", ()):
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError("give True or False")
        return value
    if isinstance(value, bool) or not _of_kind(value, kind):
        if meta.get("words"):
            raise ValueError(f"{shown!r} is neither a count nor {' or '.join(meta['words'])}")
        raise ValueError(f"{shown!r} is not a {kind.__name__}")
    if kind is float:
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"{shown} is not a finite number")
    low = meta.get("low")
    if low is not None and (value < low or (value == low and not meta.get("inclusive", True))):
        raise ValueError(f"{shown} must be {'>=' if meta.get('inclusive', True) else '>'} {low}")
    if meta.get("nonblank") and not str(value).strip():
        raise ValueError("an empty name is not a folder; name one")
    known = choices(meta)
    if known is not None and value not in known:
        if meta.get("listed"):
            raise ValueError(f"unknown {meta['noun']} {value!r}; choose from {', '.join(known)}")
        raise ValueError(f"choose from {', '.join(map(str, known))}")
    return value


def _of_kind(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, int | float)
    if kind is Path:
        return isinstance(value, str | os.PathLike)
    return isinstance(value, kind)


def choices(meta: Mapping[str, Any]) -> list | None:
    """The option's choices as they are now (the strategy registry may grow)."""
    known = meta.get("choices")
    return list(known() if callable(known) else known) if known is not None else None


def _empty(meta: Mapping[str, Any], text: str) -> str:
    known = choices(meta)
    if known is not None:
        return f"name at least one {meta['noun']}, of {', '.join(known)}"
    return f"{text!r} names no {'number' if meta['kind'] in (int, float) else 'value'}"


def _listed(meta: Mapping[str, Any], text: str) -> tuple:
    parts = [part.strip() for part in text.split(",")]
    parts = parts if meta.get("blanks") else [part for part in parts if part]
    if not parts:
        raise ValueError(_empty(meta, text))
    items = tuple(_item(meta, _parse(meta["kind"], part, meta), part) for part in parts)
    return tuple(dict.fromkeys(items)) if meta.get("choices") else items


def _parse(kind: type, text: str, meta: Mapping[str, Any]) -> Any:
    """The CLI's text as a value of the kind (left as text when it is not one: `_item` says so)."""
    if text in meta.get("words", ()) or kind in (str, bool):
        return text
    if kind is Path:
        return Path(text)
    try:
        return kind(text)
    except ValueError:
        return text


def parse_text(meta: Mapping[str, Any]) -> Callable[[str], Any]:
    """The argparse type of an option: its text converted and checked as `check` checks it."""

    def parse(text: str) -> Any:
        try:
            if meta.get("listed"):
                return _listed(meta, text)
            if meta.get("nonblank") and not text.strip():
                raise ValueError("an empty name is not a folder; name one")
            return _item(meta, _parse(meta["kind"], text, meta), text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


# -- the CLI's arguments -----------------------------------------------------------------------
def add_arguments(
    group: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: Any,
    only: tuple[str, ...] | None = None,
    **changed: Mapping[str, Any],
) -> None:
    """An argument per option of `cls` (those named in `only`, in that order), its value None
    unless given: the command keeps the dataclass's default for it. `changed`: per field, what a
    command says otherwise (help, default, required)."""
    specs = {spec.name: spec for spec in declared(cls)}
    for name in only or tuple(specs):
        spec = specs[name]
        meta = {**spec.metadata, **changed.get(name, {})}
        extra = {k: meta[k] for k in ("default", "required", "metavar") if k in meta}
        extra.setdefault("default", None)
        names = flags(spec)
        if meta["kind"] is bool and spec.default is None:  # --regression / --no-regression
            group.add_argument(*names, dest=name, action=argparse.BooleanOptionalAction,
                               help=meta["help"], **extra)  # fmt: skip
        elif meta["kind"] is bool:
            action = "store_false" if names[0].startswith("--no-") else "store_true"
            group.add_argument(*names, dest=name, action=action, help=meta["help"], **extra)
        else:
            known = None if meta.get("listed") else choices(meta)
            kind = None if known is not None and meta["kind"] is str else parse_text(meta)
            group.add_argument(*names, dest=name, type=kind, choices=known, help=meta["help"],
                               **extra)  # fmt: skip


def given(args: argparse.Namespace, cls: Any) -> dict[str, Any]:
    """The options of `cls` the parsed arguments give (not None)."""
    values = {spec.name: getattr(args, spec.name, None) for spec in declared(cls)}
    return {name: value for name, value in values.items() if value is not None}


def flag_of(cls: Any, name: str) -> str:
    """The CLI flag of field `name` of `cls`."""
    return flags(next(spec for spec in declared(cls) if spec.name == name))[0]


# -- the API's keywords ------------------------------------------------------------------------
def split(
    classes: Mapping[str, Any],
    values: Mapping[str, Any],
    command: str,
    extra: tuple[str, ...],
    hidden: tuple[str, ...] = (),
) -> dict[str, dict[str, tuple[str, Any]]]:
    """Keyword arguments sorted to the dataclasses (by a key each) whose options they name:
    `budget=` is `max_evaluations`, `text_column=` is `text_columns`. An unknown keyword is
    refused naming those known (with `extra`, the function's own arguments); `hidden` fields
    are no keywords (the caller sets them)."""
    owner: dict[str, tuple[str, str]] = {}
    for key, cls in classes.items():
        for spec in declared(cls):
            for spelled in keywords(spec) if spec.name not in hidden else ():
                owner.setdefault(spelled, (key, spec.name))
    sorted_out: dict[str, dict[str, Any]] = {key: {} for key in classes}
    for spelled, value in values.items():
        if spelled not in owner:
            allowed = ", ".join(sorted({*extra, *owner}))
            raise UserError(f"{command}() has no option {spelled!r}; the options are: {allowed}")
        if value is not None:
            key, name = owner[spelled]
            sorted_out[key][name] = (spelled, value)
    return sorted_out


def build(cls: Any, values: Mapping[str, tuple[str, Any]], given: bool = False) -> Any:
    """`cls` of the values given as `split` sorted them (`given`: only those, as a `Given`), a
    path's ~ expanded; an error names the keyword as the caller spelled it."""
    kinds = {spec.name: spec.metadata["kind"] for spec in declared(cls)}
    plain = {
        name: _expanded(value) if kinds.get(name) is Path else value
        for name, (_, value) in values.items()
    }
    try:
        built = Given(cls, plain) if given else cls(**plain)
        if not given:
            check(built)  # also of a dataclass that does not check itself (StrategyOptions)
        return built
    except OptionError as exc:
        spelled, value = values.get(exc.name, (exc.name, exc.value))
        raise OptionError(spelled, value, exc.message) from None


def _expanded(value: Any) -> Any:
    if isinstance(value, str | os.PathLike) and not isinstance(value, bool):
        return Path(os.path.expanduser(os.fspath(value)))
    return value
