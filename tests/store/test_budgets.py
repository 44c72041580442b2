"""Partial fine-tunes in the store: their own keys, and checkpoint paths it hands out."""

from __future__ import annotations

import os

import pytest

from glpsearch.store import Key, Store


def test_a_partial_score_is_keyed_apart_from_the_full_one(store: Store) -> None:
    store.put("score", Key("fp", 0, {1, 2}, 0.25), {"value": 0.5})
    assert store.get("score", Key("fp", 0, {1, 2})) is None
    assert store.get("score", Key("fp", 0, {1, 2}, 0.5)) is None
    assert store.get("score", Key("fp", 0, {2, 1}, 0.25))["value"] == 0.5
    store.put("score", Key("fp", 0, {1, 2}, 1.0), {"value": 0.7})  # the plain, shared key
    assert store.get("score", Key("fp", 0, {1, 2}))["value"] == 0.7
    assert sorted(store._keys()) == [
        "meta/format", "score/fp/0/1,2", "score/fp/0/1,2@0.25",
    ]  # fmt: skip


def test_claims_and_failures_are_per_budget(store: Store) -> None:
    assert store.claim(Key("fp", 0, {3}, 0.5), "me", 60)
    assert store.claim(Key("fp", 0, {3}), "you", 60)  # the full job is another job
    assert not store.claim(Key("fp", 0, {3}, 0.5), "you", 60)
    assert store.claim_owner(Key("fp", 0, {3}, 0.5)) == "me"
    store.release(Key("fp", 0, {3}, 0.5))
    assert store.claim_owner(Key("fp", 0, {3}, 0.5)) is None
    store.put("failure", Key("fp", 0, {3}, 0.5), {"reason": "diverged"})
    assert store.get("failure", Key("fp", 0, {3})) is None


@pytest.mark.parametrize("budget", [0.0, -0.5, 1.5])
def test_a_budget_is_a_fraction(store: Store, budget: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        store.get("score", Key("fp", 0, {1}, budget))
    with pytest.raises(ValueError, match="fraction"):
        store.checkpoint_path(Key("fp", 0, {1}, budget))


def test_checkpoints_are_listed_by_budget_and_dropped(store: Store) -> None:
    assert store.checkpoints(Key("fp", 0, {1})) == {}
    half, quarter = (store.checkpoint_path(Key("fp", 0, {1}, b)) for b in (0.5, 0.25))
    assert half.parent.is_dir() and half.parent.is_relative_to(store.directory / "checkpoints")
    for path in (half, quarter, half.parent / ".0.75.ckpt.tmp"):  # a write in progress
        path.write_bytes(b"weights")
    assert store.checkpoints(Key("fp", 0, {1})) == {0.25: quarter, 0.5: half}
    assert store.checkpoint_path(Key("fp", 1, {1}, 0.5)) != half  # per seed, and per set:
    assert store.checkpoint_path(Key("fp", 0, set(), 0.5)).parent.name == "none"
    store.drop_checkpoints(Key("fp", 0, {1}), below=0.5)
    assert store.checkpoints(Key("fp", 0, {1})) == {0.5: half}
    store.drop_checkpoints(Key("fp", 0, {1}))
    assert not half.parent.exists()


def test_trimming_deletes_checkpoints_of_the_smallest_sets_oldest_first(store: Store) -> None:
    written = {}
    for age, (removed, budget) in enumerate(
        [({1, 2}, 0.25), ({3}, 0.5), ({1}, 0.25), (set(), 0.25), ({1, 3}, 0.5)]
    ):
        path = store.checkpoint_path(Key("fp", 0, removed, budget))
        path.write_bytes(b"x" * 100)
        os.utime(path, (1000 + age, 1000 + age))
        written[frozenset(removed)] = path
    in_progress = written[frozenset({1, 3})].parent / ".0.75.ckpt.tmp"
    in_progress.write_bytes(b"x" * 1000)
    assert store.checkpoint_bytes() == 500  # finished ones only
    assert store.trim_checkpoints(500) == 0  # within the limit
    assert store.trim_checkpoints(250) == 300  # none, then {3} (older), then {1}: 200 left
    left = {removed for removed, path in written.items() if path.exists()}
    assert left == {frozenset({1, 2}), frozenset({1, 3})}
    assert in_progress.exists()
    assert not written[frozenset({3})].parent.exists()  # an emptied set's folder goes too
    assert store.trim_checkpoints(0) == 200 and store.checkpoints(Key("fp", 0, {1, 2})) == {}
    assert store.checkpoint_bytes() == 0


def test_checkpoints_do_not_stop_the_cache_from_reopening(store: Store) -> None:
    store.checkpoint_path(Key("fp", 0, {1}, 0.5)).write_bytes(b"weights")
    store.close()
    with Store(store.directory) as again:
        assert list(again.checkpoints(Key("fp", 0, {1}))) == [0.5]


def test_status_counts_full_results_only(store: Store) -> None:
    store.put("score", Key("fp", 0, {1}, 0.25), {"value": 0.5})
    store.put("failure", Key("fp", 0, {2}, 0.5), {"reason": "nan"})
    store.put("score", Key("fp", 0, {1}), {"value": 0.7})
    (summary,) = store.summaries()
    assert (summary.scores, summary.failures) == (1, 0)
