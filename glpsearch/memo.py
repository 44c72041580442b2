"""Small facts a re-run would pay seconds of imports to learn again, kept in the cache folder.

A run the cache answers entirely trains nothing, yet checking the model (its config, its
tokenizer, and a weightless copy that finds the layer list and the forward's inputs) imports
transformers and the model's code, and the 85/15 split imports scikit-learn: over three seconds
of a re-run that otherwise takes four. Both are pure functions of what they are keyed by (the
model's file hash, its labels and the library versions; the labels, the fraction and the seed),
so their answers are kept as JSON files under `<cache>/memo/`.

Only a run whose store has opened writes what it learned (`save`): a run refused on bad input
leaves the cache folder as it was. A folder that is not yet a glpsearch cache is neither read
nor written, and a file that cannot be read is learned again, never trusted. Code that asks
(`recall`) outside `Memo.active` (worker processes, the library's own tests) just computes.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from glpsearch.atomic import atomic_write
from glpsearch.errors import UserError
from glpsearch.hashing import json_sha256

T = TypeVar("T")

_active: contextvars.ContextVar[Memo | None] = contextvars.ContextVar("memo", default=None)


@dataclass
class Memo:
    cache: Path  # the run's cache folder
    learned: dict[Path, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path | None:
        """Where facts live: only inside a folder the store already made a cache."""
        cache = self.cache.expanduser()
        return cache / "memo" if (cache / "cache.db").is_file() else None

    @contextlib.contextmanager
    def active(self) -> Iterator[Memo]:
        """`recall` consults this memo inside the block."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    def save(self) -> None:
        """Write what this run learned (call when it succeeded); a failed write costs only the
        seconds the next run spends learning it again."""
        folder = self.folder
        if folder is None:
            return
        for path, value in self.learned.items():
            with contextlib.suppress(OSError, UserError):
                folder.mkdir(exist_ok=True)
                atomic_write(folder / path, json.dumps(value))
        self.learned.clear()


def recall(kind: str, key: Callable[[], Any], learn: Callable[[], T]) -> T:
    """`learn()`, or what it returned before for the same JSON-able `key()` (called only
    inside an active memo: a key may cost a hash). The value must be JSON-able too, and is
    read back as JSON: lists, not tuples or sets."""
    memo = _active.get()
    if memo is None:
        return learn()
    digest = json_sha256([kind, key()])
    name = Path(f"{kind}-{digest[:24]}.json")
    folder = memo.folder
    if folder is not None:
        try:
            return json.loads((folder / name).read_text())
        except (OSError, ValueError):
            pass
    value = learn()
    memo.learned[name] = value
    return value
