"""`glpsearch speed` on the tiny model: what speed.json holds, sizes that shrink with depth,
the sequence length it times at, and bad input."""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import pytest
import torch

from glpsearch.cli import main
from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.model.evaluator import Evaluator
from glpsearch.ship import timing as speed

PNG = b"\x89PNG\r\n\x1a\n"
SETTINGS = TrainSettings(epochs=1, lr=3e-3, batch_size=8, max_length=32)
QUICK = speed.SpeedSettings(batch_sizes=(2,), repeats=2, seconds=0.0)


@pytest.fixture(scope="module")
def evaluator(tiny_model, task_file) -> Evaluator:
    return Evaluator(str(tiny_model), load_task(DataSpec(train=task_file)), SETTINGS)


def test_speed_json_times_every_depth_of_the_search(timed_out):
    record = json.loads((timed_out / "speed.json").read_text())
    order = json.loads((timed_out / "search.json").read_text())["order"]
    models = record["models"]
    assert [m["removed"] for m in models] == [sorted(order[:depth]) for depth in range(3)]
    assert [m["chosen_by"] for m in models] == [
        [{"strategy": "greedy", "depth": d}] for d in (0, 1, 2)
    ]
    assert (record["batch_sizes"], record["devices"]) == ([1, 4], ["cpu"])
    assert record["machine"]["threads"] >= 1 and record["machine"]["torch"] == torch.__version__
    for model in models:
        assert [(t["device"], t["batch_size"]) for t in model["timings"]] == [
            ("cpu", 1),
            ("cpu", 4),
        ]
        for t in model["timings"]:
            assert t["latency_ms"] > 0 and t["iqr_ms"] >= 0 and t["rounds"] >= 2
            assert t["throughput"] == pytest.approx(1000 * t["batch_size"] / t["latency_ms"], 1e-3)
    assert [t["speedup"] for t in models[0]["timings"]] == [1.0, 1.0]  # exactly: x / x
    assert (timed_out / "tradeoff.png").read_bytes().startswith(PNG)


def test_fewer_layers_mean_fewer_parameters_and_a_smaller_file(timed_out):
    models = json.loads((timed_out / "speed.json").read_text())["models"]
    assert [m["layers"] for m in models] == [4, 3, 2]
    for deeper, shallower in itertools.pairwise(models):
        assert shallower["parameters"] < deeper["parameters"]
        assert shallower["file_bytes"] < deeper["file_bytes"]


def test_the_unpruned_model_is_always_measured_first(evaluator):
    measured = speed.measure(evaluator, [(3, 1)], QUICK, seq_length=8)
    assert [m.removed for m in measured] == [(), (1, 3)]
    assert measured[0].timings[0]["speedup"] == 1.0
    pruned = evaluator.build({1, 3}, seed=0)
    assert measured[1].parameters == sum(p.numel() for p in pruned.parameters())


def test_sequence_length_is_a_high_percentile_of_the_tokenized_training_examples(
    tiny_model, tmp_path
):
    path = tmp_path / "lengths.csv"
    with path.open("w", newline="") as handle:  # 1 to 50 words: each word is one token
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(100):
            writer.writerow([" ".join(["film"] * (1 + i % 50)), i % 2])
    task = load_task(DataSpec(train=path))
    evaluator = Evaluator(str(tiny_model), task, SETTINGS)  # max_length 32
    lengths = sorted(min(len(text.split()) + 2, 32) for text in task.train.text_a)
    length, rule = speed.sequence_length(evaluator)
    assert length == lengths[math.ceil(0.95 * len(lengths)) - 1] == 32
    assert rule.startswith(f"95th percentile of the {len(task.train)} tokenized training examples")


def speed_at_length_5(timed_out: Path, tmp_path: Path) -> Path:
    """`speed` at --seq-length 5 on a copy of the search's folder; the copy."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "search.json").write_bytes((timed_out / "search.json").read_bytes())
    args = ["speed", "--from", str(out), "--devices", "cpu", "--batch-sizes", "2",
            "--repeats", "1", "--seq-length", "5", "--quiet"]  # fmt: skip
    assert main(args) == 0
    return out


def test_seq_length_overrides_the_tasks(timed_out, tmp_path):
    out = speed_at_length_5(timed_out, tmp_path)
    record = json.loads((out / "speed.json").read_text())
    assert (record["seq_length"], record["seq_length_from"]) == (5, "--seq-length")


def test_speed_hashes_no_model_files(timed_out, tmp_path, monkeypatch):
    """Timing needs the models, not the cache fingerprint (a hash of every weight file)."""

    def no_hashing(folder):
        raise AssertionError(f"{folder} hashed")

    monkeypatch.setattr("glpsearch.model.source.digest", no_hashing)
    speed_at_length_5(timed_out, tmp_path)


@pytest.mark.parametrize(
    ("device", "threads", "iqr", "warning"),
    [
        ("cpu", 2, 0.1, None),
        ("cpu", 2, 0.5, "timings on cpu at batch 4 vary a lot (interquartile range 50% of the "
         "median); rerun when the machine is idle, or with --threads 1 where other work shares "
         "the cores"),
        ("cpu", 1, 0.5, "timings on cpu at batch 4 vary a lot (interquartile range 50% of the "
         "median); rerun when the machine is idle"),
        ("cuda", 2, 0.5, "timings on cuda at batch 4 vary a lot (interquartile range 50% of the "
         "median); rerun when the machine is idle"),
    ],
)  # fmt: skip
def test_widely_spread_timings_are_warned_of(device, threads, iqr, warning):
    steady = {"device": device, "batch_size": 1, "latency_ms": 1.0, "iqr_ms": 0.01}
    spread = {"device": device, "batch_size": 4, "latency_ms": 2.0, "iqr_ms": 2.0 * iqr}
    record = {"machine": {"threads": threads}, "models": [{"timings": [steady, spread]}]}
    assert speed.noise(record) == warning


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_is_timed_beside_the_cpu(evaluator):
    settings = speed.SpeedSettings(batch_sizes=(1, 32), devices=("cpu", "cuda"), seconds=0.0)
    measured = speed.measure(evaluator, [(0,)], settings, seq_length=16)
    for model in measured:
        assert [(t["device"], t["batch_size"]) for t in model.timings] == [
            ("cpu", 1), ("cpu", 32), ("cuda", 1), ("cuda", 32),
        ]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "no folder"),
        (lambda tmp: tmp, "no compare.json or search.json"),
        (lambda tmp: _record(tmp, "{not json"), "cannot read"),
        (lambda tmp: _record(tmp, '{"model": "x"}'), "is not a glpsearch record"),
    ],
)
def test_a_bad_out_folder_is_one_line_and_exit_2(make, message, tmp_path, capsys):
    assert main(["speed", "--from", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glpsearch: error:") and message in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seq-length", "33"], "longer than the search's --max-length 32"),
        (["--devices", "tpu"], "is not a device"),
        (["--batch-sizes", "1,0"], "must be >= 1"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(search_out, extra, message, capsys):
    assert exit_code(["speed", "--from", str(search_out), "--quiet", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def exit_code(args: list[str]) -> int:
    """main's return value, or the code argparse exits with on a malformed option."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


def _record(folder: Path, text: str) -> Path:
    (folder / "search.json").write_text(text)
    return folder
