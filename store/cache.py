"""The on-disk store of scores and failures, backed by diskcache (SQLite in WAL mode).

Each result is committed the moment it is written (synchronous=FULL), so a kill -9 or a power
cut after `put` returns never loses it; SQLite's locking lets several processes share one
store. Nothing is ever evicted: a cached fine-tune can cost an hour.

A result may be for a partial fine-tune (a `budget`, the fraction of the full run's steps, below
1): it is keyed apart from the full one, and its checkpoint, so that a longer run can continue it,
is a file under `checkpoints/` whose path the store hands out and deletes but never opens.
Checkpoints, unlike results, may be deleted to bound their disk space (`trim_checkpoints`):
losing one only means a longer run starts its fine-tune over, to the same result.

Nothing read is trusted: a row that is not a JSON object of the shape its reader needs (the
`readable` the store is opened with) is reported once and treated as missing, so its result is
computed again; `damaged` lists such rows and `drop` deletes them. A failed write (a full disk)
is a StoreError naming the cache, and what was committed before stays.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import diskcache

from glpsearch.store.keys import Key, canonical

FORMAT = 1
_MARKER = "meta/format"
_CHECKPOINTS = "checkpoints"
_SUFFIX = ".ckpt"


def teacher_folder(directory: str | os.PathLike[str]) -> Path:
    """Where the teachers of distilled fine-tunes live in the cache folder `directory`: files
    the evaluator writes and reads, like checkpoints (open the Store first: it makes the folder
    a cache, and refuses a folder that holds other files)."""
    return Path(directory).expanduser() / "teachers"


class StoreError(Exception):
    """The store cannot be opened or written; the message says why and what to do."""


@dataclass(frozen=True)
class FingerprintSummary:
    fingerprint: str
    info: dict
    scores: int
    failures: int
    unreadable: int = 0  # score or failure rows that cannot be read (status --check lists them)


class Store:
    def __init__(
        self,
        directory: str | os.PathLike[str],
        readable: Callable[[str, dict], bool] | None = None,
    ) -> None:
        """`readable(kind, record)` says whether a "score" or "failure" record has the shape its
        reader needs (the store itself only asks for a JSON object): a row that does not is
        unreadable, reported and computed again like broken JSON."""
        self.directory = Path(directory).expanduser()
        self._readable = readable or (lambda kind, record: True)
        self._damaged: set[str] = set()  # unreadable rows met so far (reported once)
        _check_directory(self.directory)
        if _foreign(self.directory):  # found by reading: opening it would rewrite its settings
            raise StoreError(
                f"{self.directory} is not a glpsearch cache (a database of another program or "
                "version); choose another --cache folder"
            )
        try:
            self._cache = diskcache.Cache(
                str(self.directory),
                timeout=120,
                eviction_policy="none",
                size_limit=2**62,
                sqlite_synchronous=2,
            )
            with self._cache.transact():  # mark only a new cache, or one of glpsearch's rows
                found = self._cache.get(_MARKER)  # alone (its marker lost): never adopt another's
                if found is None and all(map(_ours, self._cache.iterkeys())):
                    self._cache.set(_MARKER, FORMAT)
                    found = FORMAT
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"cannot open the cache at {self.directory}: {exc}") from None
        if found != FORMAT:
            self._cache.close()
            raise StoreError(
                f"{self.directory} is a diskcache of another program or version; "
                "choose another --cache folder"
            )

    # -- scores and failures: `kind` "score" or "failure" ----------------------------------
    def get(self, kind: str, key: Key) -> dict | None:
        return self._get(key.text(_result(kind)))

    def put(self, kind: str, key: Key, record: dict) -> None:
        """Write a result; a score replaces the failure of the same key (a retry that worked)."""
        self._set(key.text(_result(kind)), record)
        if kind == "score":
            with self._writing():
                self._cache.delete(key.text("failure"))

    # -- claims: who is computing what, so two searches on one cache do not both do it ----
    def claim(self, key: Key, owner: str, ttl: float) -> bool:
        """Atomically claim a candidate for `ttl` seconds; False while another owner holds it.

        A claim expires unless refreshed, so one left by a killed process blocks no one for long.
        """
        with self._writing():
            if self._cache.add(key.text("claim"), owner, expire=ttl):
                return True
            return self._cache.get(key.text("claim")) == owner

    def take_over(self, key: Key, stale: str, owner: str, ttl: float) -> bool:
        """Replace a claim whose owner is known to be dead; False if it changed meanwhile."""
        with self._writing(), self._cache.transact():
            if self._cache.get(key.text("claim")) != stale:
                return False
            self._cache.set(key.text("claim"), owner, expire=ttl)
            return True

    def refresh(self, key: Key, ttl: float) -> None:
        with self._writing():
            self._cache.touch(key.text("claim"), expire=ttl)

    def release(self, key: Key) -> None:
        with self._writing():
            self._cache.delete(key.text("claim"))

    def claim_owner(self, key: Key) -> str | None:
        with self._reading():
            return self._cache.get(key.text("claim"))

    # -- checkpoints of partial fine-tunes: files the evaluator writes and reads ----------
    def checkpoint_path(self, key: Key) -> Path:
        """Where the checkpoint of a fine-tune stopped at the key's budget belongs (its folder
        exists)."""
        folder = self._checkpoint_folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{key.budget!r}{_SUFFIX}"

    def checkpoints(self, key: Key) -> dict[float, Path]:
        """The finished checkpoints of the key's (set, seed), at any budget, by budget
        (temporary files are skipped)."""
        folder = self._checkpoint_folder(key)
        if not folder.is_dir():
            return {}
        found = {}
        for path in folder.iterdir():
            if path.suffix == _SUFFIX and not path.name.startswith("."):
                found[float(path.name.removesuffix(_SUFFIX))] = path
        return dict(sorted(found.items()))

    def drop_checkpoints(self, key: Key, below: float = math.inf) -> None:
        """Delete the checkpoints of the key's (set, seed) with a budget under `below` (all by
        default): a longer run continues from the longest one, and the full result needs none."""
        for budget, path in self.checkpoints(key).items():
            if budget < below:
                path.unlink(missing_ok=True)
        if below == math.inf:
            shutil.rmtree(self._checkpoint_folder(key), ignore_errors=True)

    def checkpoint_bytes(self) -> int:
        """The disk space finished checkpoints take (`glpsearch status` shows it)."""
        return sum(size for _, _, size, _ in self._checkpoint_files())

    def trim_checkpoints(self, limit: int) -> int:
        """Delete checkpoints until they take at most `limit` bytes; the bytes freed.

        The smallest removed sets go first, the oldest among equals: a greedy search continues
        only the sets of its current step, which are the largest. One checkpoint per set of
        bert-base's size is 1.3 GB, so a 12-layer search would otherwise leave tens of GB.
        """
        found = self._checkpoint_files()
        total = sum(item[2] for item in found)
        freed = 0
        for _, _, nbytes, path in sorted(found):
            if total - freed <= limit:
                break
            path.unlink(missing_ok=True)
            freed += nbytes
            with contextlib.suppress(OSError):  # the set's folder, once empty
                path.parent.rmdir()
        return freed

    # -- what a fingerprint stands for, for `glpsearch status` ---------------------------
    def describe(self, fingerprint: str, info: dict) -> None:
        self._set(f"meta/fingerprint/{fingerprint}", info)

    def summaries(self) -> list[FingerprintSummary]:
        """Full scores and failures per fingerprint (partial fine-tunes are steps towards them)."""
        damaged = set(self.damaged())
        counts: dict[str, list[int]] = {}
        for key in self._keys():
            kind, _, rest = key.partition("/")
            if kind in ("score", "failure"):
                slot = counts.setdefault(rest.split("/", 1)[0], [0, 0, 0])
                if key in damaged:
                    slot[2] += 1
                elif "@" not in rest:  # partial fine-tunes aside
                    slot[kind == "failure"] += 1
        for key in self._keys():
            if key.startswith("meta/fingerprint/"):
                counts.setdefault(key.rsplit("/", 1)[1], [0, 0, 0])
        return [
            FingerprintSummary(fp, self._load(f"meta/fingerprint/{fp}") or {}, *n)
            for fp, n in sorted(counts.items())
        ]

    def damaged(self) -> list[str]:
        """The keys of every score, failure or fingerprint row that cannot be read (broken
        JSON, the wrong shape): `glpsearch status --check` lists them."""
        return [
            key
            for key in self._keys()
            if key.startswith(_CHECKED) and self._load(key) is None and self._exists(key)
        ]

    def drop(self, keys: Iterable[str]) -> None:
        """Delete rows (`glpsearch status --check --fix` drops the damaged ones): their results
        are computed again when next asked for."""
        with self._writing():
            for key in keys:
                self._cache.delete(key)

    def close(self) -> None:
        self._cache.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------
    def _checkpoint_folder(self, key: Key) -> Path:
        layers = canonical(key.removed) or "none"
        return self.directory / _CHECKPOINTS / key.fingerprint / str(key.seed) / layers

    def _checkpoint_files(self) -> list[tuple[int, float, int, Path]]:
        """(layers removed, modified time, bytes, path) of every finished checkpoint."""
        found = []
        for path in (self.directory / _CHECKPOINTS).glob(f"*/*/*/*{_SUFFIX}"):
            if path.name.startswith("."):  # being written
                continue
            try:
                info = path.stat()
            except FileNotFoundError:  # another search dropped it meanwhile
                continue
            layers = path.parent.name
            size = 0 if layers == "none" else len(layers.split(","))
            found.append((size, info.st_mtime, info.st_size, path))
        return found

    def _keys(self) -> Iterator[str]:
        return (k for k in self._cache.iterkeys() if isinstance(k, str))

    def _load(self, key: str) -> dict | None:
        """The row's record; None when there is none or it is unreadable."""
        with self._reading():
            text = self._cache.get(key)
        if text is None:
            return None
        try:
            record = json.loads(text)
        except (TypeError, ValueError):
            return None
        kind = key.partition("/")[0]
        if not isinstance(record, dict) or not self._readable(kind, record):
            return None
        return record

    def _exists(self, key: str) -> bool:
        with self._reading():
            return key in self._cache

    def _get(self, key: str) -> dict | None:
        """The row's record; None when there is none, or when it is unreadable (then it is
        reported once, and its result is computed again, never used)."""
        record = self._load(key)
        if record is None and key not in self._damaged and self._exists(key):
            self._damaged.add(key)
            if len(self._damaged) == 1:  # one warning per run, however many rows
                print(
                    f"glpsearch: warning: the cache at {self.directory} has an unreadable row "
                    f"({key}); it is computed again (glpsearch status --check --fix drops such "
                    "rows)",
                    file=sys.stderr,
                )
        return record

    def _set(self, key: str, record: dict) -> None:
        text = json.dumps({**record, "written": time.time()}, sort_keys=True)
        with self._writing():
            self._cache.set(key, text)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """SQLite's errors (a full disk, a read-only file) as one StoreError naming the cache."""
        try:
            yield
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"cannot write to the cache at {self.directory}: {exc}") from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreError(f"cannot read the cache at {self.directory}: {exc}") from None


def _result(kind: str) -> str:
    if kind not in ("score", "failure"):
        raise ValueError(f"a result is a score or a failure, got {kind!r}")
    return kind


_CHECKED = ("score/", "failure/", "meta/fingerprint/")  # rows holding a JSON record


def _ours(key: object) -> bool:
    """Whether a key is one glpsearch writes (a cache whose marker row was lost is still ours)."""
    return isinstance(key, str) and key.startswith(("score/", "failure/", "claim/", "meta/"))


def _foreign(directory: Path) -> bool:
    """Whether cache.db is a database of another program or version, found by reading only.

    diskcache.Cache() writes its settings (eviction policy, size limit) into the file it opens,
    so another program's cache must be recognised before that.
    """
    db = directory / "cache.db"
    if not db.is_file():
        return False
    try:
        with closing(sqlite3.connect(db, timeout=120)) as connection:
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
            tables = {row[0] for row in connection.execute(query)}
            if "Cache" not in tables:  # empty, or a diskcache half set up: Settings comes first
                return bool(tables - {"Settings"})
            query = "SELECT value FROM Cache WHERE key = ? AND raw = 1"
            marker = connection.execute(query, (_MARKER,)).fetchone()
            if marker is not None:
                return marker[0] != FORMAT
            return not all(_ours(key) for (key,) in connection.execute("SELECT key FROM Cache"))
    except sqlite3.OperationalError:  # busy while another process sets it up: diskcache retries
        return False
    except sqlite3.DatabaseError as exc:  # not a database at all
        raise StoreError(f"cannot open the cache at {directory}: {exc}") from None


def _check_directory(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise StoreError(f"cache path {directory} is a file, not a folder; choose another --cache")
    if directory.is_dir() and any(directory.iterdir()) and not (directory / "cache.db").exists():
        raise StoreError(
            f"{directory} holds other files and is not a glpsearch cache; "
            "choose an empty or new --cache folder"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the cache folder {directory}: {exc.strerror}") from None
    if not os.access(directory, os.W_OK):
        raise StoreError(f"the cache folder {directory} is not writable; choose another --cache")
