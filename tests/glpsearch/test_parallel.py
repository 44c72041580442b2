"""Parallel evaluation gives exactly the sequential results, locally (loky) and on Dask."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data import load_task
from glpsearch.engine import Engine, TrainingProgress
from glpsearch.evaluator import Evaluator
from glpsearch.parallel import JoblibRunner, Recipe
from glpsearch.store import Store
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
    return [int(pid) for pid in children if b"loky" in Path(f"/proc/{pid}/cmdline").read_bytes()]


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
