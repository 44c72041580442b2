"""Settings of a search, as dataclasses: what the CLI builds and the fingerprint hashes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TrainSettings:
    """How each candidate is fine-tuned. Every field is part of the cache fingerprint."""

    epochs: float = 2.0
    lr: float = 5e-5
    batch_size: int = 16
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    eval_batch_size: int = 64


# The embedded default must finish on 2 CPU cores in minutes and still separate candidates:
# one epoch at a higher rate learns as much there as two at 5e-5 (0.74 vs 0.76 held-out).
EMBEDDED_SETTINGS = TrainSettings(epochs=1.0, lr=1e-4)


@dataclass(frozen=True)
class DistillSettings:
    """How a pruned model learns from the fine-tuned unpruned one (`--distill`). Every field is
    part of the fingerprint of distilled fine-tunes, and only of those: plain ones keep theirs."""

    alpha: float = 0.5  # weight of the teacher's softened outputs; 1 - alpha: the task loss
    temperature: float = 2.0
    hidden: bool = False  # each kept layer's output also matches its source layer's (MSE)
    teacher_seed: int = 0  # the one teacher every student of a run learns from


@dataclass(frozen=True)
class DataSpec:
    """Where the task's examples come from: a named task or GLUE folder (`task`), a dataset
    `datasets` opens (`dataset`: hub name or folder, with its config and splits), or local
    files (`train`, `validation`, read with or without a header, quoting decided or given).
    `regression` None: decided by the data (a float column of a dataset is a score; numbers
    that look like scores in a file are refused); False: classes, told."""

    task: str | None = None
    train: Path | None = None
    validation: Path | None = None
    text_columns: tuple[str, ...] | None = None
    label_column: str | None = None
    regression: bool | None = None
    train_limit: int | None = None
    heldout_fraction: float = 0.15
    dataset: str | None = None
    dataset_config: str | None = None
    train_split: str | None = None
    validation_split: str | None = None
    header: bool = True
    quoting: str | None = None  # "none" or "csv"; None: decided from the file
