"""The diskcache-backed store of scores and failures."""

from __future__ import annotations

import multiprocessing
import os
import sys
from pathlib import Path

import diskcache
import pytest

from glpsearch.store.cache import FORMAT, FingerprintSummary, Store, StoreError
from glpsearch.store.keys import Key


def _plain(record: dict | None) -> dict | None:
    """A stored record without the timestamp the store adds."""
    if record is None:
        return None
    assert isinstance(record.get("written"), float)
    return {k: v for k, v in record.items() if k != "written"}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- scores and failures -------------------------------------------------------------------
def test_score_round_trip(store: Store) -> None:
    record = {"score": 0.8125, "epochs": 2, "note": "ok"}
    assert store.get("score", Key("fp", 0, {1, 2})) is None
    store.put("score", Key("fp", 0, {1, 2}), record)
    assert _plain(store.get("score", Key("fp", 0, {1, 2}))) == record


def test_empty_set_is_a_key_of_its_own(store: Store) -> None:
    store.put("score", Key("fp", 0, []), {"score": 0.9})
    store.put("score", Key("fp", 0, [0]), {"score": 0.5})
    assert _plain(store.get("score", Key("fp", 0, set()))) == {"score": 0.9}
    assert _plain(store.get("score", Key("fp", 0, {0}))) == {"score": 0.5}


def test_later_put_replaces_earlier(store: Store) -> None:
    store.put("score", Key("fp", 0, {3}), {"score": 0.1})
    store.put("score", Key("fp", 0, {3}), {"score": 0.2})
    assert _plain(store.get("score", Key("fp", 0, {3}))) == {"score": 0.2}


def test_persists_across_close_and_reopen(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    first = Store(folder)
    first.put("score", Key("fp", 1, {4, 0}), {"score": 0.7})
    first.put("failure", Key("fp", 1, {5}), {"error": "CUDA out of memory"})
    first.describe("fp", {"model": "m", "task": "t"})
    first.close()

    with Store(folder) as second:
        assert _plain(second.get("score", Key("fp", 1, {0, 4}))) == {"score": 0.7}
        assert _plain(second.get("failure", Key("fp", 1, {5}))) == {"error": "CUDA out of memory"}
        [summary] = second.summaries()
        assert (summary.scores, summary.failures) == (1, 1)
        assert _plain(summary.info) == {"model": "m", "task": "t"}


def test_key_independent_of_set_order(store: Store) -> None:
    store.put("score", Key("fp", 0, [11, 0, 7]), {"score": 0.6})
    assert _plain(store.get("score", Key("fp", 0, (0, 7, 11)))) == {"score": 0.6}
    assert _plain(store.get("score", Key("fp", 0, frozenset({7, 11, 0})))) == {"score": 0.6}
    assert _plain(store.get("score", Key("fp", 0, [7, 0, 11, 7]))) == {"score": 0.6}


def test_invalid_layer_set_is_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        store.put("score", Key("fp", 0, [-1]), {"score": 0.0})


def test_seed_and_fingerprint_are_separate_entries(store: Store) -> None:
    store.put("score", Key("fp-a", 0, {1}), {"score": 0.1})
    store.put("score", Key("fp-a", 1, {1}), {"score": 0.2})
    store.put("score", Key("fp-b", 0, {1}), {"score": 0.3})
    assert _plain(store.get("score", Key("fp-a", 0, {1}))) == {"score": 0.1}
    assert _plain(store.get("score", Key("fp-a", 1, {1}))) == {"score": 0.2}
    assert _plain(store.get("score", Key("fp-b", 0, {1}))) == {"score": 0.3}
    assert store.get("score", Key("fp-b", 1, {1})) is None


def test_failures_are_stored_apart_from_scores(store: Store) -> None:
    store.put("failure", Key("fp", 0, {2}), {"error": "diverged"})
    assert store.get("score", Key("fp", 0, {2})) is None
    assert _plain(store.get("failure", Key("fp", 0, {2}))) == {"error": "diverged"}
    assert store.get("failure", Key("fp", 0, {3})) is None
    assert store.get("failure", Key("fp", 1, {2})) is None


def test_put_score_clears_failure(store: Store) -> None:
    store.put("failure", Key("fp", 0, {2, 1}), {"error": "diverged"})
    store.put("failure", Key("fp", 0, {3}), {"error": "other"})
    store.put("score", Key("fp", 0, {1, 2}), {"score": 0.5})
    assert store.get("failure", Key("fp", 0, {1, 2})) is None
    assert _plain(store.get("score", Key("fp", 0, {1, 2}))) == {"score": 0.5}
    assert _plain(store.get("failure", Key("fp", 0, {3}))) == {"error": "other"}  # others untouched


# -- summaries -----------------------------------------------------------------------------
def test_summaries_count_per_fingerprint(store: Store) -> None:
    for layers in ({0}, {1}, {0, 1}):
        store.put("score", Key("fp-a", 0, layers), {"score": 0.5})
    store.put("score", Key("fp-a", 1, {0}), {"score": 0.5})  # another seed counts too
    store.put("failure", Key("fp-a", 0, {2}), {"error": "x"})
    store.put("failure", Key("fp-b", 0, {3}), {"error": "y"})
    store.put("failure", Key("fp-b", 0, {4}), {"error": "y"})
    store.describe("fp-a", {"model": "bert", "n_train": 17})
    store.describe("fp-c", {"model": "roberta"})  # described, nothing computed yet

    summaries = store.summaries()
    assert [s.fingerprint for s in summaries] == ["fp-a", "fp-b", "fp-c"]
    by_fp = {s.fingerprint: s for s in summaries}
    assert all(isinstance(s, FingerprintSummary) for s in summaries)
    assert (by_fp["fp-a"].scores, by_fp["fp-a"].failures) == (4, 1)
    assert (by_fp["fp-b"].scores, by_fp["fp-b"].failures) == (0, 2)
    assert (by_fp["fp-c"].scores, by_fp["fp-c"].failures) == (0, 0)
    assert _plain(by_fp["fp-a"].info) == {"model": "bert", "n_train": 17}
    assert by_fp["fp-b"].info == {}
    assert _plain(by_fp["fp-c"].info) == {"model": "roberta"}


def test_summaries_drop_cleared_failures(store: Store) -> None:
    store.put("failure", Key("fp", 0, {2}), {"error": "x"})
    store.put("score", Key("fp", 0, {2}), {"score": 0.4})
    [summary] = store.summaries()
    assert (summary.scores, summary.failures) == (1, 0)


def test_summaries_of_new_store_are_empty(store: Store) -> None:
    assert store.summaries() == []


# -- refusing what is not a glpsearch store ------------------------------------------------
def test_refuses_folder_with_other_files_and_leaves_it_alone(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(bytes(range(256)))
    (folder / "notes.txt").write_text("keep me\n")
    (folder / "sub").mkdir()
    before = _snapshot(folder)
    names_before = sorted(p.name for p in folder.iterdir())

    with pytest.raises(StoreError, match="holds other files"):
        Store(folder)

    assert sorted(p.name for p in folder.iterdir()) == names_before
    assert _snapshot(folder) == before


def test_refuses_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "cache"
    path.write_text("not a folder")
    with pytest.raises(StoreError, match="is a file"):
        Store(path)
    assert path.read_text() == "not a folder"


def test_refuses_path_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the cache folder"):
        Store(tmp_path / "file" / "cache")


def test_creates_missing_parent_folders(tmp_path: Path) -> None:
    with Store(tmp_path / "a" / "b" / "cache") as store:
        store.put("score", Key("fp", 0, {1}), {"score": 1.0})
    assert (tmp_path / "a" / "b" / "cache" / "cache.db").is_file()


def test_refuses_foreign_diskcache_without_marker(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    with diskcache.Cache(str(folder)) as theirs:
        theirs.set("session/42", {"user": "someone"})

    with pytest.raises(StoreError, match="another program"):
        Store(folder)

    with diskcache.Cache(str(folder)) as theirs:  # their data as it was, and no marker added
        assert list(theirs.iterkeys()) == ["session/42"]
        assert theirs.get("session/42") == {"user": "someone"}


def test_refuses_diskcache_with_other_format_marker(tmp_path: Path) -> None:
    folder = tmp_path / "theirs"
    with diskcache.Cache(str(folder)) as theirs:
        theirs.set("meta/format", "someone-else-v3")
        theirs.set("data", 1)

    with pytest.raises(StoreError, match="another program or version"):
        Store(folder)

    with diskcache.Cache(str(folder)) as theirs:
        assert theirs.get("meta/format") == "someone-else-v3"
        assert theirs.get("data") == 1


def test_refuses_store_of_another_format_version(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    with diskcache.Cache(str(folder)) as old:
        old.set("meta/format", FORMAT + 1)
    with pytest.raises(StoreError, match="another program or version"):
        Store(folder)


def test_adopts_an_empty_diskcache(tmp_path: Path) -> None:
    """An empty diskcache holds nothing to protect (it may be a store whose creation was cut
    short), so it becomes a store."""
    folder = tmp_path / "empty"
    diskcache.Cache(str(folder)).close()
    with Store(folder) as store:
        store.put("score", Key("fp", 0, {1}), {"score": 0.5})
    with Store(folder) as store:
        assert _plain(store.get("score", Key("fp", 0, {1}))) == {"score": 0.5}


def test_corrupt_database_gives_store_error(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    garbage = b"this is not an SQLite database\x00\xff" * 200
    (folder / "cache.db").write_bytes(garbage)
    with pytest.raises(StoreError, match="cannot open the cache"):
        Store(folder)
    assert (folder / "cache.db").read_bytes() == garbage


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0,
    reason="root ignores folder permissions, so a chmod 0o500 folder is still writable",
)
def test_unwritable_folder_gives_store_error(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable"):
            Store(folder)
    finally:
        folder.chmod(0o700)


# -- several processes ---------------------------------------------------------------------
def test_two_processes_write_concurrently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # spawned children inherit sys.path
    from _mp_worker import write_scores

    folder = tmp_path / "shared"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    workers = [
        ctx.Process(target=write_scores, args=(str(folder), worker, 50, barrier))
        for worker in (1, 2)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0]

    with Store(folder) as store:
        for worker in (1, 2):
            for i in range(50):
                record = _plain(store.get("score", Key("fp", 0, {worker * 1000 + i})))
                assert record == {"score": worker + i / 1000, "worker": worker}
        [summary] = store.summaries()
        assert (summary.fingerprint, summary.scores, summary.failures) == ("fp", 100, 0)


# -- a damaged cache or a failed write: reported, never a traceback -------------------------
SCORE = {"value": 0.8, "metric": "accuracy", "train_seconds": 1.0, "eval_seconds": 0.1,
         "n_train": 9, "n_eval": 3}  # fmt: skip


def _numeric_value(kind: str, record: dict) -> bool:
    """The shape its reader needs (glpsearch's engine passes glpsearch.scoring.score.readable)."""
    if kind == "failure":
        return isinstance(record.get("reason"), str)
    return kind != "score" or isinstance(record.get("value"), float)


def _damage(folder: Path, key: str, text: str) -> None:
    """Write a raw row as a hand edit or a torn write would leave it."""
    with diskcache.Cache(str(folder)) as raw:
        raw.set(key, text)


@pytest.mark.parametrize(
    "text", ['{"value": 0.8, "metric": ', "[1, 2]", '{"value": "high"}', "null", '"0.8"', "{}"]
)
def test_an_unreadable_row_is_skipped_with_one_warning_and_counted(tmp_path, capsys, text) -> None:
    with Store(tmp_path / "c") as store:
        store.put("score", Key("fp", 0, {1}), SCORE)
        store.put("score", Key("fp", 0, {2}), SCORE)
        store.put("failure", Key("fp", 0, {3}), {"reason": "CandidateFailed: nan"})
    _damage(tmp_path / "c", "score/fp/0/1", text)
    _damage(tmp_path / "c", "failure/fp/0/3", text)
    capsys.readouterr()
    with Store(tmp_path / "c", _numeric_value) as store:
        assert store.get("score", Key("fp", 0, {1})) is None  # never used: computed again
        assert store.get("failure", Key("fp", 0, {3})) is None
        assert _plain(store.get("score", Key("fp", 0, {2}))) == SCORE
        assert store.get("score", Key("fp", 0, {1})) is None
        (warning,) = capsys.readouterr().err.strip().splitlines()
        assert warning.startswith("glpsearch: warning:") and "status --check" in warning
        (summary,) = store.summaries()
        assert (summary.scores, summary.failures, summary.unreadable) == (1, 0, 2)
        assert sorted(store.damaged()) == ["failure/fp/0/3", "score/fp/0/1"]
        store.drop(store.damaged())
        assert store.damaged() == []
        assert _plain(store.get("score", Key("fp", 0, {2}))) == SCORE
        store.put("score", Key("fp", 0, {1}), SCORE)  # computed again, it is readable again
        assert _plain(store.get("score", Key("fp", 0, {1}))) == SCORE


def test_a_glpsearch_cache_that_lost_its_marker_row_is_still_glpsearchs(tmp_path) -> None:
    with Store(tmp_path / "c") as store:
        store.put("score", Key("fp", 0, {1}), SCORE)
        store.describe("fp", {"model": "m"})
    with diskcache.Cache(str(tmp_path / "c")) as raw:
        raw.delete("meta/format")
    with Store(tmp_path / "c") as store:
        assert _plain(store.get("score", Key("fp", 0, {1}))) == SCORE
    with diskcache.Cache(str(tmp_path / "c")) as raw:
        assert raw.get("meta/format") == FORMAT  # restored


@pytest.mark.parametrize("method", ["set", "delete", "touch", "add"])
def test_a_full_disk_is_a_store_error_naming_the_cache(tmp_path, monkeypatch, method) -> None:
    import sqlite3

    with Store(tmp_path / "c") as store:
        store.put("score", Key("fp", 0, {1}), SCORE)

        def full(*args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(diskcache.Cache, method, full)
        with pytest.raises(StoreError, match=f"cannot write to the cache at {tmp_path / 'c'}"):
            store.put("score", Key("fp", 0, {2}), SCORE)
            store.release(Key("fp", 0, {2}))
            store.refresh(Key("fp", 0, {2}), 10.0)
            store.claim(Key("fp", 0, {2}), "me", 10.0)
        monkeypatch.undo()
        assert _plain(store.get("score", Key("fp", 0, {1}))) == SCORE  # what was written stays
