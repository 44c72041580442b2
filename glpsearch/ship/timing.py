"""Measured inference speed of pruned models: latency, throughput, size, and speedup.

Every model is timed once per round, in a fresh random order each round, so machine noise
(other processes, frequency scaling, a cache warmed by the previous model) falls on all of them
alike; the unpruned model runs in the same rounds, so a speedup compares like with like. The
median of the rounds is reported. Timing uses the pretrained weights with the layers removed
and random token ids: fine-tuning changes weights' values, not the work of a forward pass.
"""

from __future__ import annotations

import math
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from rich.table import Table

from glpsearch.model.evaluator import Evaluator
from glpsearch.report.outdir import Key
from glpsearch.report.records import SpeedRecord
from glpsearch.report.text import layers_text

SEQ_PERCENTILE = 95  # the task's sequence length: this percentile of its tokenized examples
WARMUP = {"cpu": 1, "cuda": 10}  # untimed rounds first: CUDA picks kernels and allocates then


@dataclass(frozen=True)
class SpeedSettings:
    """How models are timed; all of it is written to speed.json."""

    batch_sizes: tuple[int, ...] = (1, 32)
    devices: tuple[str, ...] = ("cpu",)
    repeats: int = 5  # timed rounds at least; the median is reported
    seconds: float = 2.0  # and more rounds until this long is spent per device and batch size


@dataclass(frozen=True)
class Measured:
    """One model: its size, and a timing per device and batch size."""

    removed: Key
    layers: int
    parameters: int
    file_bytes: int  # its weights saved as safetensors, as `glpsearch export` writes them
    timings: list[dict] = field(default_factory=list)


def sequence_length(evaluator: Evaluator) -> tuple[int, str]:
    """(length, how it was chosen): the SEQ_PERCENTILE-th percentile of the tokenized training
    examples, special tokens included and truncated at --max-length like training inputs."""
    lengths = sorted(
        n
        for batch in evaluator.training_batches()
        for n in batch["attention_mask"].sum(-1).tolist()
    )
    length = lengths[math.ceil(SEQ_PERCENTILE / 100 * len(lengths)) - 1]
    rule = (
        f"{SEQ_PERCENTILE}th percentile of the {len(lengths)} tokenized training examples "
        f"(at most --max-length {evaluator.settings.max_length})"
    )
    return length, rule


def measure(
    evaluator: Evaluator,
    sets: Iterable[Key],
    settings: SpeedSettings,
    seq_length: int,
    progress: Callable[[str], None] | None = None,
) -> list[Measured]:
    """Time each removed set and the unpruned model (always measured: speedups divide by it,
    and it comes first in the result)."""
    keys = list(dict.fromkeys([(), *(tuple(sorted(s)) for s in sets)]))
    models = {key: evaluator.build(key, seed=0).eval() for key in keys}
    measured = {
        key: Measured(
            key,
            model.config.num_hidden_layers,
            sum(p.numel() for p in model.parameters()),
            _file_bytes(model),
        )
        for key, model in models.items()
    }
    rng = random.Random(0)
    for device in settings.devices:
        for model in models.values():
            model.to(device)
        for batch_size in settings.batch_sizes:
            if progress is not None:
                progress(f"timing {len(keys)} models on {device} at batch {batch_size}")
            inputs = _inputs(models[()].config.vocab_size, batch_size, seq_length, device)
            seconds = _time(models, inputs, device, settings, rng)
            unpruned = statistics.median(seconds[()])
            for key, times in seconds.items():
                median = statistics.median(times)
                quartiles = statistics.quantiles(times, n=4) if len(times) > 1 else [median] * 3
                measured[key].timings.append(
                    {
                        "device": device,
                        "batch_size": batch_size,
                        "latency_ms": round(median * 1000, 4),
                        "iqr_ms": round((quartiles[2] - quartiles[0]) * 1000, 4),
                        "throughput": round(batch_size / median, 2),
                        "speedup": round(unpruned / median, 4),
                        "rounds": len(times),
                    }
                )
    return list(measured.values())


def speed_record(
    header: dict,
    measured: Sequence[Measured],
    chosen_by: dict[Key, list[dict]],
    settings: SpeedSettings,
    seq_length: int,
    rule: str,
) -> SpeedRecord:
    """speed.json: the settings and machine, then each model with the depths that chose it."""
    return SpeedRecord.new(
        {
            "command": "speed",
            **header,
            "seq_length": seq_length,
            "seq_length_from": rule,
            **asdict(settings),
            "dtype": "float32",
            "machine": _machine(settings.devices),
            "models": [
                {**asdict(m), "removed": list(m.removed), "chosen_by": chosen_by.get(m.removed, [])}
                for m in measured
            ],
        }
    )


def table(record: SpeedRecord) -> Table:
    """A row per model: what chose it, its size, and latency · speedup per device and batch."""
    result = Table(
        title=f"{record['model']} on {record['task']}: inference speed at sequence length "
        f"{record['seq_length']} ({record['seq_length_from']})",
        caption=f"median of at least {record['repeats']} interleaved rounds, {record['dtype']}; "
        "each cell: ms per batch · speedup over the unpruned model · examples/s",
    )
    for column in ("removed", "chosen by", "layers", "params", "file"):
        result.add_column(column, justify="left" if column in ("removed", "chosen by") else "right")
    columns = [(t["device"], t["batch_size"]) for t in record["models"][0]["timings"]]
    for device, batch_size in columns:
        result.add_column(f"{device}, batch {batch_size}", justify="right")
    for model in record["models"]:
        by = ", ".join(f"{c['strategy']} -{c['depth']}" for c in model["chosen_by"] if c["depth"])
        cells = [
            f"{t['latency_ms']:.1f} ms · {t['speedup']:.2f}x\n[dim]{t['throughput']:.0f}/s[/]"
            for t in model["timings"]
        ]
        result.add_row(
            layers_text(frozenset(model["removed"])),
            by or ("unpruned" if not model["removed"] else "-"),
            str(model["layers"]),
            f"{model['parameters'] / 1e6:.2f}M",
            f"{model['file_bytes'] / 2**20:.1f} MiB",
            *cells,
        )
    return result


def noise(record: SpeedRecord, limit: float = 0.2) -> str | None:
    """A warning when the timings of one device and batch size spread widely (interquartile
    range over `limit` of the median): their medians may be off too."""
    worst = max(
        (t for m in record["models"] for t in m["timings"]),
        key=lambda t: t["iqr_ms"] / t["latency_ms"],
    )
    spread = worst["iqr_ms"] / worst["latency_ms"]
    if spread <= limit:
        return None
    advice = "rerun when the machine is idle"
    if worst["device"] == "cpu" and record["machine"]["threads"] > 1:
        advice += ", or with --threads 1 where other work shares the cores"
    return (
        f"timings on {worst['device']} at batch {worst['batch_size']} vary a lot (interquartile "
        f"range {spread:.0%} of the median); {advice}"
    )


@torch.inference_mode()
def _time(
    models: dict[Key, torch.nn.Module],
    inputs: dict[str, torch.Tensor],
    device: str,
    settings: SpeedSettings,
    rng: random.Random,
) -> dict[Key, list[float]]:
    """Seconds per forward pass of each model, one per round, in a new order every round;
    fast models get more rounds (settings.seconds), so their medians are as steady."""
    kind = torch.device(device).type
    sync = (lambda: torch.cuda.synchronize(device)) if kind == "cuda" else (lambda: None)
    for _ in range(WARMUP.get(kind, 1)):
        for model in models.values():
            model(**inputs)
    sync()
    seconds: dict[Key, list[float]] = {key: [] for key in models}
    order = list(models)
    started = time.perf_counter()
    rounds = 0
    while rounds < settings.repeats or time.perf_counter() - started < settings.seconds:
        rounds += 1
        rng.shuffle(order)
        for key in order:
            sync()
            start = time.perf_counter()
            models[key](**inputs)
            sync()
            seconds[key].append(time.perf_counter() - start)
    return seconds


def _inputs(vocab_size: int, batch_size: int, length: int, device: str) -> dict[str, torch.Tensor]:
    """Random token ids, no padding: every position is real work."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab_size, (batch_size, length), generator=generator)
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}


def _file_bytes(model: torch.nn.Module) -> int:
    with tempfile.TemporaryDirectory(prefix="glpsearch-size-") as folder:
        model.save_pretrained(folder)
        return sum(path.stat().st_size for path in Path(folder).glob("*.safetensors"))


def _machine(devices: Sequence[str]) -> dict:
    """What the timings were taken on: they mean little without it."""
    machine = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": _cpu_name()}
    cuda = [d for d in devices if torch.device(d).type == "cuda"]
    if cuda:
        machine["gpu"] = torch.cuda.get_device_name(torch.device(cuda[0]))
    return machine


def _cpu_name() -> str:
    try:  # Linux names the model here; platform.processor() is often just "x86_64" or ""
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
