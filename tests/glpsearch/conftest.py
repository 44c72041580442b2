"""Out folders for the commands that read one (export, speed, pick, report's trade-off plot):
a real search of the tiny model, the same folder timed, and a hand-written folder whose numbers
are chosen so that each rule of pick and the plot gives a known answer."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from glpsearch.cli import main

FAST = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]


@pytest.fixture(scope="session")
def search_out(tiny_model, task_file, tmp_path_factory) -> Path:
    """The out folder of a finished greedy search removing up to 2 of the tiny model's 4 layers."""
    out = tmp_path_factory.mktemp("searched")
    args = ["search", "--model", str(tiny_model), "--train", str(task_file), "--remove", "2",
            "--cache", str(out / "cache"), "--out", str(out), "--quiet", "--force",
            *FAST]  # fmt: skip
    assert main(args) == 0
    return out


@pytest.fixture(scope="session")
def timed_out(search_out, tmp_path_factory) -> Path:
    """A copy of `search_out` that `glpsearch speed` has measured (CPU, batch sizes 1 and 4)."""
    out = tmp_path_factory.mktemp("timed") / "out"
    shutil.copytree(search_out, out, ignore=shutil.ignore_patterns("cache"))
    args = ["speed", "--from", str(out), "--devices", "cpu", "--batch-sizes", "1,4",
            "--repeats", "2", "--quiet"]  # fmt: skip
    assert main(args) == 0
    return out


# -- a hand-written folder: a 4-layer model, two strategies that share their first set ----------
def _step(depth: int, chosen: list[int], score: float) -> dict:
    candidate = {"removed": chosen, "score": score, "std": 0.0, "failure": None, "cached": False,
                 "seconds": 1.0, "train_seconds": 1.0}  # fmt: skip
    return {"depth": depth, "chosen": chosen, "score": score, "candidates": [candidate]}


COMPARE = {
    "command": "compare",
    "model": "/models/tiny-bert",
    "task": "sentiment",
    "source": "file:/data/sentiment.csv",
    "metric": "accuracy",
    "n_layers": 4,
    "n_train": 102,
    "n_heldout": 18,
    "settings": {"epochs": 1.0, "lr": 0.003, "batch_size": 8, "max_length": 32},
    "baseline": {"removed": [], "score": 0.80, "failure": None, "cached": False, "seconds": 1.0},
    "strategies": [
        {
            "strategy": "greedy",
            "order": [3, 1],
            "steps": [_step(1, [3], 0.78), _step(2, [1, 3], 0.76)],
        },
        {
            "strategy": "top-drop",
            "order": [3, 2],
            "steps": [_step(1, [3], 0.78), _step(2, [2, 3], 0.72)],
        },
    ],
    "evaluations": {"computed": 4, "cached": 1, "failed": 0},
}
# ms per batch at batch 1 (x20 at batch 32): the two depth-2 sets differ a little
LATENCY = {(): 10.0, (3,): 7.5, (1, 3): 5.2, (2, 3): 5.0}
# dev means disagree with the held-out scores at depth 2: top-drop is better there
DEV = {("greedy", 0): 0.82, ("greedy", 1): 0.80, ("greedy", 2): 0.71,
       ("top-drop", 0): 0.82, ("top-drop", 1): 0.80, ("top-drop", 2): 0.75}  # fmt: skip
ORDERS = {"greedy": [3, 1], "top-drop": [3, 2]}


def _speed_record() -> dict:
    models = []
    for removed, ms in LATENCY.items():
        timings = [
            {"device": "cpu", "batch_size": size, "latency_ms": ms * factor, "iqr_ms": 0.1,
             "throughput": size / (ms * factor) * 1000, "speedup": LATENCY[()] / ms, "rounds": 5}
            for size, factor in ((1, 1), (32, 20))
        ]  # fmt: skip
        models.append({"removed": list(removed), "layers": 4 - len(removed),
                       "parameters": 1000 - 100 * len(removed),
                       "file_bytes": 4000 - 400 * len(removed), "timings": timings,
                       "chosen_by": []})  # fmt: skip
    return {"command": "speed", "model": COMPARE["model"], "task": "sentiment", "n_layers": 4,
            "seq_length": 12, "seq_length_from": "--seq-length", "batch_sizes": [1, 32],
            "devices": ["cpu"], "repeats": 5, "seconds": 2.0, "dtype": "float32",
            "machine": {}, "models": models}  # fmt: skip


def _evaluate_record() -> dict:
    results = [
        {"strategy": strategy, "depth": depth, "removed": ORDERS[strategy][:depth],
         "scores": [mean - 0.01, mean + 0.01], "mean": mean, "std": 0.0141, "failures": []}
        for (strategy, depth), mean in DEV.items()
    ]  # fmt: skip
    return {"command": "evaluate", "model": COMPARE["model"], "task": "sentiment",
            "metric": "accuracy", "n_layers": 4, "seeds": [0, 1], "results": results}  # fmt: skip


@pytest.fixture
def hand_folder(tmp_path) -> Callable[..., Path]:
    """write(speed=True, evaluate=False) -> an out folder holding compare.json and those."""

    def write(speed: bool = True, evaluate: bool = False) -> Path:
        out = tmp_path / "hand"
        out.mkdir(exist_ok=True)
        (out / "compare.json").write_text(json.dumps(COMPARE))
        if speed:
            (out / "speed.json").write_text(json.dumps(_speed_record()))
        if evaluate:
            (out / "evaluate.json").write_text(json.dumps(_evaluate_record()))
        return out

    return write
