"""Parallel evaluation gives exactly the sequential results, locally (loky) and on Dask."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cloudpickle  # what loky sends work to workers with (a joblib requirement)
import pytest

from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.engine.core import Engine, TrainingProgress
from glpsearch.engine.parallel import JoblibRunner, Recipe
from glpsearch.model.evaluator import Evaluator
from glpsearch.store import Key, Store
from glpsearch.strategies import make

SETTINGS = TrainSettings(epochs=5, lr=3e-3, batch_size=8, max_length=32)


@pytest.fixture(scope="module")
def recipe(tiny_model, task_file):
    return Recipe(str(tiny_model), DataSpec(train=task_file), SETTINGS)


@pytest.fixture(scope="module")
def evaluator(recipe):
    return Evaluator(recipe.model, load_task(recipe.data), recipe.settings)


@pytest.fixture(scope="module")
def sequential(evaluator, tmp_path_factory):
    with Store(tmp_path_factory.mktemp("sequential")) as store:
        engine = Engine(evaluator, store)
        _, result = engine.run(make("greedy"), 2)
    return result, {c: o.value for c, o in engine.outcomes.items()}


def _search(evaluator, folder, runner, on_event=None):
    with Store(folder) as store:
        engine = Engine(evaluator, store, on_event=on_event, runner=runner)
        try:
            _, result = engine.run(make("greedy"), 2)
        finally:
            runner.close()
    return result, {c: o.value for c, o in engine.outcomes.items()}, engine


def test_two_workers_match_a_sequential_run(evaluator, recipe, sequential, tmp_path):
    events = []
    result, scores, engine = _search(
        evaluator, tmp_path, JoblibRunner(recipe, jobs=2), events.append
    )
    assert scores == sequential[1]
    assert result.order == sequential[0].order
    assert (
        len(set(scores.values())) > 1
    )  # the candidates really differ, so equality means something
    assert engine.counts == {"computed": 8, "cached": 0, "failed": 0}
    assert any(isinstance(e, TrainingProgress) for e in events)  # streamed from the workers


def test_a_dask_cluster_matches_a_sequential_run(evaluator, recipe, sequential, tmp_path):
    pytest.importorskip(
        "distributed", reason="Dask is an optional extra: pip install glpsearch[dask]"
    )
    result, scores, _ = _search(evaluator, tmp_path, JoblibRunner(recipe, 2, backend="dask"))
    assert scores == sequential[1]
    assert result.order == sequential[0].order


def _loky_workers() -> list[int]:
    """This process's loky worker processes, read from /proc (Linux)."""
    children = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        children += (task / "children").read_text().split()
    # workers only: loky's resource tracker is a child whose command line names loky too
    found = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children]
    return [int(pid) for pid, line in zip(children, found, strict=True) if b"popen_loky" in line]


def test_a_killed_worker_costs_only_its_candidate(evaluator, recipe, sequential, tmp_path):
    killed = threading.Event()

    def kill_a_worker_mid_training(event):
        if isinstance(event, TrainingProgress) and event.step >= 2 and not killed.is_set():
            killed.set()
            os.kill(_loky_workers()[0], signal.SIGKILL)

    result, scores, engine = _search(
        evaluator, tmp_path, JoblibRunner(recipe, jobs=2), kill_a_worker_mid_training
    )
    assert killed.is_set()
    assert scores == sequential[1]  # retried: nothing lost, nothing recorded as failed
    assert engine.counts["failed"] == 0
    assert result.order == sequential[0].order


def test_a_killed_progress_manager_changes_no_result_and_raises_nothing(
    evaluator, recipe, sequential, tmp_path
):
    """The manager process relaying workers' progress dies mid-training: the display loses its
    updates, never a candidate its score (it once cached BrokenPipeError as the unpruned model's
    failure, and the next step's queue raised ConnectionRefusedError)."""
    runner = JoblibRunner(recipe, jobs=2)
    killed = threading.Event()

    def kill_the_manager(event):
        if isinstance(event, TrainingProgress) and not killed.is_set():
            killed.set()
            os.kill(runner._manager._process.pid, signal.SIGKILL)

    result, scores, engine = _search(evaluator, tmp_path, runner, kill_the_manager)
    assert killed.is_set()
    assert scores == sequential[1]
    assert engine.counts["failed"] == 0
    assert result.order == sequential[0].order


def test_a_worker_that_dies_every_time_stops_the_run_and_caches_nothing(
    evaluator, recipe, tmp_path, monkeypatch
):
    from glpsearch.engine import parallel
    from glpsearch.errors import UserError

    monkeypatch.setattr(parallel, "WORKER_RETRIES", 0)  # the last retry's death, at once
    killed = threading.Event()

    def kill_a_worker(event):
        if isinstance(event, TrainingProgress) and event.step >= 2 and not killed.is_set():
            killed.set()
            os.kill(_loky_workers()[0], signal.SIGKILL)

    with pytest.raises(UserError, match="worker died") as stopped:
        _search(evaluator, tmp_path, JoblibRunner(recipe, jobs=2), kill_a_worker)
    assert "nothing was cached for it" in str(stopped.value)
    with Store(tmp_path) as store:
        assert all(s.failures == 0 for s in store.summaries())


def test_the_cli_runs_a_search_on_two_workers(recipe, sequential, tmp_path):
    import json

    from glpsearch.cli import main

    args = ["search", "--model", recipe.model, "--train", str(recipe.data.train), "--quiet"]
    args += ["--force"]  # the tiny model may stay at the majority class
    args += ["--epochs", "5", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]
    args += ["--remove", "2", "--jobs", "2", "--cache", str(tmp_path / "c")]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "search.json").read_text())
    assert record["order"] == sequential[0].order
    scores = {frozenset(c["removed"]): c["score"] for s in record["steps"] for c in s["candidates"]}
    assert all(sequential[1][removed] == score for removed, score in scores.items())


def test_a_score_is_the_same_alone_and_beside_others(evaluator, recipe, sequential, tmp_path):
    """Three workers on one device: a candidate computed with nothing beside it, and the same
    candidate computed while the others of its step share the device, score exactly alike."""
    step = [frozenset({layer}) for layer in range(evaluator.n_layers)]
    runner = JoblibRunner(recipe, jobs=3, devices=("cpu",))
    try:
        with Store(tmp_path / "alone") as store:
            alone = Engine(evaluator, store, runner=runner).lookup(step[1:2])[0].value
        with Store(tmp_path / "beside") as store:
            beside = [o.value for o in Engine(evaluator, store, runner=runner).lookup(step)]
    finally:
        runner.close()
    assert alone == beside[1] == sequential[1][step[1]]
    assert beside == [sequential[1][removed] for removed in step]


def test_partial_fine_tunes_on_workers_leave_checkpoints_that_continue_exactly(
    evaluator, recipe, sequential, tmp_path
):
    """A job's plan travels to the workers: half fine-tunes there leave checkpoints in the
    driver's store, and full ones continue them (from step 33 of 65) to straight runs' scores."""
    step = [frozenset({layer}) for layer in range(evaluator.n_layers)]
    events = []
    runner = JoblibRunner(recipe, jobs=2)
    try:
        with Store(tmp_path) as store:
            engine = Engine(evaluator, store, on_event=events.append, runner=runner)
            engine.lookup(step, budget=0.5)
            keys = [Key(evaluator.fingerprint, 0, removed) for removed in step]
            assert all(list(store.checkpoints(key)) == [0.5] for key in keys)
            full = [outcome.value for outcome in engine.lookup(step)]
            assert all(store.checkpoints(key) == {} for key in keys)
    finally:
        runner.close()
    assert full == [sequential[1][removed] for removed in step]
    steps = [e.step for e in events if isinstance(e, TrainingProgress) and e.job.budget == 1.0]
    assert min(steps) == 33 and max(steps) == 65


@dataclass(frozen=True)
class CrowdedRecipe(Recipe):
    """Evaluators that run out of memory on each candidate's first try, as when other
    candidates filled the GPU, and on every try for the sets in `always`."""

    log: str = ""
    always: frozenset = frozenset()

    def build(self, device: str):
        return _RunsOutOfMemory(super().build(device), Path(self.log), self.always)


class _RunsOutOfMemory:
    def __init__(self, evaluator, log: Path, always: frozenset) -> None:
        self.evaluator, self.log, self.always = evaluator, log, always

    def score(self, removed, seed, progress, **partial):
        import torch

        tries = self.log / ("-".join(map(str, sorted(removed))) or "none")
        first = not tries.exists()
        start = time.time()
        try:
            if first or removed in self.always:
                time.sleep(0.2)
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.evaluator.score(removed, seed, progress, **partial)
        finally:
            with tries.open("a") as handle:
                handle.write(f"{start} {time.time()}\n")


def _tries(log: Path) -> dict[str, list[tuple[float, float]]]:
    return {
        path.name: [tuple(map(float, line.split())) for line in path.read_text().splitlines()]
        for path in log.iterdir()
    }


def test_a_candidate_out_of_memory_beside_others_is_run_again_alone(
    evaluator, recipe, sequential, tmp_path
):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers build the fake
    log = tmp_path / "log"
    log.mkdir()
    step = [frozenset({layer}) for layer in range(evaluator.n_layers)]
    crowded = CrowdedRecipe(
        recipe.model, recipe.data, recipe.settings, log=str(log), always=frozenset({frozenset({2})})
    )
    runner = JoblibRunner(crowded, jobs=2)
    try:
        with Store(tmp_path / "cache") as store:
            outcomes = Engine(evaluator, store, runner=runner).lookup(step)
    finally:
        runner.close()
    # nothing lost: every other candidate has its sequential score, none recorded as failed
    assert [o.value for o in outcomes] == [
        None if removed == {2} else sequential[1][removed] for removed in step
    ]
    # the set that runs out of memory even alone is a failure of its own, tried once more only
    assert "OutOfMemoryError" in outcomes[2].failure
    tries = _tries(log)
    assert {name: len(spans) for name, spans in tries.items()} == {n: 2 for n in "0123"}
    # every second try ran alone: no other try overlapped it
    spans = [(name, span) for name, runs in tries.items() for span in runs]
    for name, (start, end) in ((name, runs[1]) for name, runs in tries.items()):
        others = [s for n, s in spans if (n, s) != (name, (start, end))]
        assert all(e <= start or s >= end for s, e in others), name


def test_running_out_of_memory_alone_is_the_candidate_s_failure(recipe, evaluator, tmp_path):
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    log = tmp_path / "log"
    log.mkdir()
    crowded = CrowdedRecipe(recipe.model, recipe.data, recipe.settings, log=str(log))
    runner = JoblibRunner(crowded, jobs=2)
    try:
        with Store(tmp_path / "cache") as store:  # one candidate: nothing runs beside it
            outcome = Engine(evaluator, store, runner=runner).lookup([frozenset({0})])[0]
    finally:
        runner.close()
    assert "OutOfMemoryError" in outcome.failure
    assert {name: len(spans) for name, spans in _tries(log).items()} == {"0": 1}
