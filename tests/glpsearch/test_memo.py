"""The memo: facts learned by one run, read by the next, never trusted blindly."""

from __future__ import annotations

import pytest

from glpsearch import memo
from glpsearch.memo import Memo


@pytest.fixture
def cache(tmp_path):
    """A folder the store has made a cache (the memo reads and writes only such folders)."""
    (tmp_path / "cache.db").write_bytes(b"")
    return tmp_path


def counted(value):
    calls = []

    def learn():
        calls.append(1)
        return value

    return learn, calls


def test_outside_an_active_memo_every_recall_computes(cache):
    learn, calls = counted([1, 2])
    assert memo.recall("split", lambda: ["a"], learn) == [1, 2]
    assert memo.recall("split", lambda: ["a"], learn) == [1, 2]
    assert len(calls) == 2 and not (cache / "memo").exists()


def test_a_saved_fact_is_read_by_the_next_run_without_learning(cache):
    learn, calls = counted({"fit": [0, 2], "held": [1]})
    with Memo(cache).active() as first:
        assert memo.recall("split", lambda: [[0, 1, 2], 0.15], learn) == {
            "fit": [0, 2],
            "held": [1],
        }
    first.save()
    with Memo(cache).active():
        assert memo.recall("split", lambda: [[0, 1, 2], 0.15], learn) == {
            "fit": [0, 2],
            "held": [1],
        }
        assert memo.recall("split", lambda: [[0, 1, 2], 0.2], learn) == {"fit": [0, 2], "held": [1]}
    assert len(calls) == 2  # the first run, and the second run's other key


def test_nothing_is_written_before_save(cache):
    with Memo(cache).active():
        memo.recall("model", lambda: ["config"], lambda: ["input_ids"])
    assert not (cache / "memo").exists()


def test_a_folder_that_is_not_yet_a_cache_is_neither_read_nor_written(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with Memo(tmp_path).active() as run:
        memo.recall("model", lambda: ["config"], lambda: ["input_ids"])
    run.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_damaged_fact_is_learned_again_and_rewritten(cache):
    with Memo(cache).active() as first:
        memo.recall("model", lambda: ["config"], lambda: ["input_ids"])
    first.save()
    (written,) = (cache / "memo").iterdir()
    written.write_text('["input_ids", "attent')  # cut short
    learn, calls = counted(["input_ids", "attention_mask"])
    with Memo(cache).active() as second:
        assert memo.recall("model", lambda: ["config"], learn) == [
            "input_ids",
            "attention_mask",
        ]
    second.save()
    assert calls == [1]
    with Memo(cache).active():
        assert memo.recall("model", lambda: ["config"], learn) == [
            "input_ids",
            "attention_mask",
        ]
    assert calls == [1]


def test_a_refusal_is_never_remembered(cache):
    def refuse():
        raise ValueError("no layer list")

    with Memo(cache).active() as run, pytest.raises(ValueError, match="no layer list"):
        memo.recall("model", lambda: ["albert"], refuse)
    run.save()
    assert not (cache / "memo").exists()


def test_a_fact_is_saved_under_the_name_earlier_runs_gave_it(cache):
    """The name hashes the kind and the key (glpsearch/hashing.py): a change of form would
    make every cached fact unreadable."""
    with Memo(cache).active() as run:
        memo.recall("split", lambda: [[0, 1, 2], 0.15], lambda: [1])
    run.save()
    assert [p.name for p in (cache / "memo").iterdir()] == ["split-259fa4414a156cbeb70e714f.json"]
