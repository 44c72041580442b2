"""Several searches on one cache at once: all finish, none crashes on a locked database, no score
is lost, and claims keep a set that one search is computing from being computed by another.

Engine level: threads, each with its own Engine and Store on one folder, and a slow scripted
scorer. End to end: real `glpsearch search` processes started at the same instant."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import glpsearch.engine.core
from glpsearch.cli import main
from glpsearch.engine.core import CandidateWaiting, Engine, Job
from glpsearch.scoring.score import Score
from glpsearch.store import Key, Store
from glpsearch.strategies import SearchResult, make

FINGERPRINT = "c" * 20


class Slow:
    """A scorer that takes `seconds` per fine-tune and logs every fine-tune of every engine."""

    fingerprint = FINGERPRINT

    def __init__(self, log: list[frozenset[int]], seconds: float = 0.03, n_layers: int = 6):
        self.log = log
        self.seconds = seconds
        self.n_layers = n_layers
        self._lock = threading.Lock()

    def describe(self) -> dict:
        return {"model": "slow"}

    def score(self, removed, seed, progress=None) -> Score:
        removed = frozenset(removed)
        with self._lock:
            self.log.append(removed)
        time.sleep(self.seconds)
        value = 0.9 - 0.01 * len(removed) + 0.001 * sum(removed) + 0.0001 * max(removed, default=0)
        return Score(value, "accuracy", self.seconds, 0.0, 100, 20)


@pytest.fixture
def fast_polls(monkeypatch):
    monkeypatch.setattr(glpsearch.engine.core, "POLL_SECONDS", 0.01)


def _together(
    folder: Path, searches: list[tuple[str, int]], scorer: Slow, on_event=None
) -> list[tuple[SearchResult, dict[str, int]]]:
    """Run the searches at once, one thread each, each with its own Store and Engine."""
    start = threading.Barrier(len(searches))
    results: list = [None] * len(searches)
    errors: list[BaseException] = []

    def search(i: int, name: str, remove: int) -> None:
        try:
            with Store(folder) as store:
                engine = Engine(scorer, store, on_event=on_event)
                start.wait(timeout=30)
                _, result = engine.run(make(name), remove)
                results[i] = (result, engine.counts)
        except BaseException as exc:  # re-raised in the test's thread below
            errors.append(exc)
            start.abort()  # no one waits for a search that will never start

    threads = [
        threading.Thread(target=search, args=(i, name, remove))
        for i, (name, remove) in enumerate(searches)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def _alone(folder: Path, name: str, remove: int, n_layers: int = 6) -> SearchResult:
    with Store(folder) as store:
        return Engine(Slow([], 0.0, n_layers), store).run(make(name), remove)[1]


def _open(folder: Path, start: threading.Barrier, errors: list[BaseException]) -> None:
    start.wait(timeout=30)
    try:
        Store(folder).close()
    except BaseException as exc:
        errors.append(exc)


def test_stores_opening_a_new_cache_at_once_all_open_it(tmp_path):
    """Each sees the others' half-made database; none may take it for another program's."""
    errors: list[BaseException] = []
    for trial in range(10):
        start = threading.Barrier(6)
        folder = tmp_path / f"cache{trial}"
        threads = [threading.Thread(target=_open, args=(folder, start, errors)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []


def test_two_engines_on_the_same_search_fine_tune_each_set_once(tmp_path, fast_polls):
    log: list[frozenset[int]] = []
    results = _together(tmp_path / "cache", [("greedy", 3), ("greedy", 3)], Slow(log))
    assert len(log) == 1 + 6 + 5 + 4  # every set of the search, each once
    assert len(set(log)) == len(log)
    assert sum(counts["computed"] for _, counts in results) == len(log)
    assert all(counts["computed"] >= 3 for _, counts in results)  # they share steps' work
    expected = _alone(tmp_path / "reference", "greedy", 3)
    for result, counts in results:
        assert result.steps == expected.steps
        assert counts["computed"] + counts["cached"] == len(log)


def test_engines_on_different_searches_share_what_they_have_in_common(tmp_path, fast_polls):
    log: list[frozenset[int]] = []
    searches = [("greedy", 3), ("beam", 3), ("top-drop", 4), ("bottom-drop", 2), ("greedy", 2)]
    results = _together(tmp_path / "cache", searches, Slow(log))
    assert len(set(log)) == len(log), "a set was fine-tuned twice"
    union: set[frozenset[int]] = set()
    for (name, remove), (result, _) in zip(searches, results, strict=True):
        expected = _alone(tmp_path / f"reference-{name}-{remove}", name, remove)
        assert result.steps == expected.steps, name
        union |= {frozenset()} | {c for step in result.steps for c, _ in step.candidates}
    assert set(log) == union
    assert sum(counts["computed"] for _, counts in results) == len(union)


def test_a_heartbeat_keeps_a_long_claim_alive(tmp_path, fast_polls, monkeypatch):
    """One engine claims a 2 s fine-tune: twice the life of a claim. Only its heartbeat keeps
    the engine waiting for it from taking it over meanwhile."""
    monkeypatch.setattr(glpsearch.engine.core, "CLAIM_SECONDS", 1.0)
    batch = [frozenset({1})]
    log: list[frozenset[int]] = []
    with Store(tmp_path / "cache") as first, Store(tmp_path / "cache") as second:
        owner = Engine(Slow(log, 2.0, n_layers=4), first)
        computing = threading.Thread(target=owner.lookup, args=(batch,))
        computing.start()
        while second.claim_owner(Key(FINGERPRINT, 0, batch[0])) != owner.owner:
            time.sleep(0.005)
        waited = Engine(Slow(log, 2.0, n_layers=4), second).lookup(batch)
        computing.join(timeout=30)
    assert log == batch  # fine-tuned once
    assert all(outcome.cached for outcome in waited)


# -- claims left behind ------------------------------------------------------------------------
def _dead_owner() -> str:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return f"{socket.gethostname()}:{finished.pid}:x"


def test_a_claim_left_by_a_dead_process_is_taken_over_at_once(store):
    removed = frozenset({2})
    assert store.claim(Key(FINGERPRINT, 0, removed), _dead_owner(), 10)  # kill -9 left it
    log: list[frozenset[int]] = []
    started = time.monotonic()
    events: list = []
    outcome = Engine(Slow(log), store, on_event=events.append).lookup([removed])[0]
    assert time.monotonic() - started < glpsearch.engine.core.POLL_SECONDS * 4  # no waiting
    assert log == [removed] and not outcome.cached
    assert not any(isinstance(event, CandidateWaiting) for event in events)
    assert store.claim_owner(Key(FINGERPRINT, 0, removed)) is None


LIVE_OWNERS = {
    "a process on another machine": lambda: "elsewhere.example:1:x",
    "a live process here": lambda: f"{socket.gethostname()}:{os.getpid()}:other",
    "an owner of unknown form": lambda: "who-knows",
}


@pytest.mark.parametrize("owner", sorted(LIVE_OWNERS))
def test_a_claim_of_a_live_owner_is_waited_for_until_it_expires(owner, store, monkeypatch):
    monkeypatch.setattr(glpsearch.engine.core, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(glpsearch.engine.core, "CLAIM_SECONDS", 2.0)
    removed = frozenset({1})
    assert store.claim(Key(FINGERPRINT, 0, removed), LIVE_OWNERS[owner](), 0.6)
    log: list[frozenset[int]] = []
    events: list = []
    started = time.monotonic()
    outcome = Engine(Slow(log), store, on_event=events.append).lookup([removed])[0]
    assert time.monotonic() - started >= 0.55  # honoured until it expired, then taken
    assert CandidateWaiting(Job(removed, 0)) in events
    assert log == [removed] and outcome.value is not None


@pytest.mark.parametrize("result", ["score", "failure"])
def test_a_result_the_claim_holder_writes_meanwhile_is_reused(result, store, monkeypatch):
    monkeypatch.setattr(glpsearch.engine.core, "POLL_SECONDS", 0.02)
    removed = frozenset({0, 1})
    owner = "elsewhere.example:1:x"
    assert store.claim(Key(FINGERPRINT, 0, removed), owner, 60)

    def finish() -> None:
        if result == "score":
            store.put(
                "score",
                Key(FINGERPRINT, 0, removed),
                Score(0.5, "accuracy", 1, 0, 9, 3).to_record(),
            )
        else:
            store.put("failure", Key(FINGERPRINT, 0, removed), {"reason": "MemoryError"})
        store.release(Key(FINGERPRINT, 0, removed))

    threading.Timer(0.3, finish).start()
    log: list[frozenset[int]] = []
    outcome = Engine(Slow(log), store).lookup([removed])[0]
    assert log == [] and outcome.cached
    assert (outcome.value, outcome.failure) == (
        (0.5, None) if result == "score" else (None, "MemoryError")
    )


# -- real processes ------------------------------------------------------------------------------
FAST = ["--epochs", "1", "--lr", "1e-2", "--batch-size", "8", "--max-length", "16"]
# glpsearch's own main() in a real process that starts up (imports, a first load of model and
# data), says it is ready, and waits for a go file: searches started together start together.
STARTER = """
import os, sys, time
from pathlib import Path

import glpsearch.cli, glpsearch.report.display, glpsearch.report.records, glpsearch.report.tables
from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.model.evaluator import Evaluator

model, data, ready, go = os.environ["GLP_START"].split(os.pathsep)
Evaluator(model, load_task(DataSpec(train=Path(data), regression=True)), TrainSettings())
Path(ready).touch()
while not Path(go).exists():
    time.sleep(0.002)
sys.exit(glpsearch.cli.main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def data(regression_file) -> Path:
    return regression_file


def _args(model: Path, data: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    return [
        "search", "--model", str(model), "--train", str(data), "--regression",
        "--cache", str(cache), "--out", str(out), "--quiet", "--force", *FAST, *extra,
    ]  # fmt: skip


def _scores(record: dict) -> dict[tuple[int, ...], float]:
    found = {(): record["baseline"]["score"]}
    for step in record["steps"]:
        found.update({tuple(c["removed"]): c["score"] for c in step["candidates"]})
    return found


@pytest.fixture(scope="module")
def sequential(tiny_model, data, tmp_path_factory) -> Callable[[str, int], dict]:
    """The record of a search run alone, on a cache of its own."""
    root = tmp_path_factory.mktemp("sequential")
    records: dict[tuple[str, int], dict] = {}

    def record(strategy: str, remove: int) -> dict:
        if (strategy, remove) not in records:
            out = root / f"{strategy}-{remove}"
            args = _args(tiny_model, data, out / "cache", out, "--strategy", strategy)
            assert main([*args, "--remove", str(remove)]) == 0
            records[strategy, remove] = json.loads((out / "search.json").read_text())
        return records[strategy, remove]

    return record


def _run_together(model: Path, data: Path, folder: Path, searches: list[list[str]]) -> list[dict]:
    """Start the searches (extra arguments each) as processes on one cache, all at once."""
    go = folder / "go"
    processes, outs = [], []
    try:
        for i, extra in enumerate(searches):
            out = folder / f"out{i}"
            start = os.pathsep.join([str(model), str(data), str(folder / f"ready{i}"), str(go)])
            env = {**os.environ, "OMP_NUM_THREADS": "1", "GLP_START": start}
            command = [sys.executable, "-c", STARTER, *_args(model, data, folder / "cache", out)]
            processes.append(
                subprocess.Popen(
                    [*command, *extra],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
            outs.append(out)
        deadline = time.monotonic() + 120
        while not all((folder / f"ready{i}").exists() for i in range(len(searches))):
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            assert time.monotonic() < deadline, "the searches did not start up in time"
            time.sleep(0.01)
        go.touch()
        for process in processes:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
            assert "locked" not in stderr and "Traceback" not in stderr
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return [json.loads((out / "search.json").read_text()) for out in outs]


def _left(cache: Path) -> tuple[int, int, list[str]]:
    """(scores, failures, claims) left in the cache."""
    import diskcache

    with Store(cache) as store:
        (summary,) = store.summaries()
    with diskcache.Cache(str(cache)) as raw:
        claims = [key for key in raw.iterkeys() if str(key).startswith("claim/")]
    return summary.scores, summary.failures, claims


def test_two_processes_on_the_same_search(tiny_model, data, sequential, tmp_path):
    both = _run_together(tiny_model, data, tmp_path, [["--remove", "2"], ["--remove", "2"]])
    reference = sequential("greedy", 3)
    distinct = 1 + 4 + 3
    assert sum(record["evaluations"]["computed"] for record in both) == distinct
    for record in both:
        assert record["evaluations"]["computed"] + record["evaluations"]["cached"] == distinct
        assert record["evaluations"]["failed"] == 0
        assert record["order"] == reference["order"][:2]
        assert _scores(record).items() <= _scores(reference).items()  # the same, exactly
    assert _left(tmp_path / "cache") == (distinct, 0, [])


def test_processes_on_different_searches_and_depths(tiny_model, data, sequential, tmp_path):
    searches = [["--remove", "3"], ["--strategy", "top-drop", "--remove", "2"]]
    greedy, top = _run_together(tiny_model, data, tmp_path, searches)
    union = _scores(greedy) | _scores(top)
    assert len(_scores(greedy)) == 1 + 4 + 3 + 2 and len(_scores(top)) == 3
    assert greedy["evaluations"]["computed"] + top["evaluations"]["computed"] == len(union)
    for record, strategy, remove in ((greedy, "greedy", 3), (top, "top-drop", 2)):
        reference = sequential(strategy, remove)
        assert record["order"] == reference["order"]
        assert _scores(record) == _scores(reference)
    assert _left(tmp_path / "cache") == (len(union), 0, [])
