"""GLUE's nine tasks: what the project needs of each (columns, metric), and GLUE folders.

A task's columns are given twice, as GLUE's TSV files name them and as the hub's `nyu-mll/glue`
configs do. Its classes are the hub config's `ClassLabel` names in id order (`negative, positive`
for sst2), so a folder and the hub give the same tables and exports: a folder's files write a
class as its name (RTE, QNLI, MNLI) or as its id (`0`, `1`), read as the hub's loading script
reads them.
A folder's files may lack their header row (copies of GLUE sometimes do, CoLA's always does):
its first row is then data, and columns are taken by position in GLUE's known order.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from glpsearch.errors import UserError

GLUE_HUB = "nyu-mll/glue"  # the dataset on the Hub; each task is a config of it


@dataclass(frozen=True)
class GlueTask:
    folder: str  # as in GLUE's download: RTE, SST-2, ...
    tsv_columns: tuple[str, ...]  # text column(s) as the header of GLUE's TSV files names them
    tsv_label: str
    positions: tuple[tuple[int, ...], int]  # (text, label) columns by position, for no header
    hub_columns: tuple[str, ...]  # text column(s) of the hub config
    metric: str
    classes: tuple[str, ...] | None  # the hub's ClassLabel names, id i -> name i; None: regression
    dev_file: str = "dev.tsv"
    dev_split: str = "validation"  # of the hub config


GLUE: dict[str, GlueTask] = {
    "cola": GlueTask(
        "CoLA",
        ("sentence",),
        "label",
        ((3,), 1),
        ("sentence",),
        "matthews",
        ("unacceptable", "acceptable"),
    ),
    "sst2": GlueTask(
        "SST-2",
        ("sentence",),
        "label",
        ((0,), 1),
        ("sentence",),
        "accuracy",
        ("negative", "positive"),
    ),
    "mrpc": GlueTask(
        "MRPC",
        ("#1 String", "#2 String"),
        "Quality",
        ((3, 4), 0),
        ("sentence1", "sentence2"),
        "f1",
        ("not_equivalent", "equivalent"),
    ),
    "qqp": GlueTask(
        "QQP",
        ("question1", "question2"),
        "is_duplicate",
        ((3, 4), 5),
        ("question1", "question2"),
        "f1",
        ("not_duplicate", "duplicate"),
    ),
    "stsb": GlueTask(
        "STS-B",
        ("sentence1", "sentence2"),
        "score",
        ((7, 8), 9),
        ("sentence1", "sentence2"),
        "spearman",
        None,
    ),
    "mnli": GlueTask(
        "MNLI",
        ("sentence1", "sentence2"),
        "gold_label",
        ((8, 9), -1),
        ("premise", "hypothesis"),
        "accuracy",
        ("entailment", "neutral", "contradiction"),
        dev_file="dev_matched.tsv",
        dev_split="validation_matched",
    ),
    "qnli": GlueTask(
        "QNLI",
        ("question", "sentence"),
        "label",
        ((1, 2), -1),
        ("question", "sentence"),
        "accuracy",
        ("entailment", "not_entailment"),
    ),
    "rte": GlueTask(
        "RTE",
        ("sentence1", "sentence2"),
        "label",
        ((1, 2), -1),
        ("sentence1", "sentence2"),
        "accuracy",
        ("entailment", "not_entailment"),
    ),
    "wnli": GlueTask(
        "WNLI",
        ("sentence1", "sentence2"),
        "label",
        ((1, 2), -1),
        ("sentence1", "sentence2"),
        "accuracy",
        ("not_entailment", "entailment"),
    ),
}
_FOLDERS = {task.folder.lower().replace("-", ""): name for name, task in GLUE.items()}


def is_glue_hub(dataset: str | None) -> bool:
    return dataset is not None and dataset.lower() in ("glue", GLUE_HUB)


def task_of_folder(path: Path) -> str:
    """The GLUE task a folder holds, by its name (loosely: SST-2, sst_2, sst2)."""
    name = _FOLDERS.get(path.name.lower().replace("-", "").replace("_", ""))
    if name is None:
        raise UserError(
            f"cannot tell which GLUE task the folder {path} holds; name it as GLUE does "
            f"({', '.join(t.folder for t in GLUE.values())})"
        )
    return name


@dataclass(frozen=True)
class FolderLayout:
    """How to read one of a GLUE folder's files: with its header, or by GLUE's positions."""

    header: bool
    text_columns: tuple[str, ...]
    label_column: str


def layout(task: GlueTask, file: Path) -> FolderLayout:
    """A file whose first row names the task's columns has a header; any other first row is
    data, its columns in GLUE's order (checked against the row's width)."""
    with file.open(encoding="utf-8", errors="replace", newline="") as handle:
        first = next(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), [])
    if all(column in first for column in (*task.tsv_columns, task.tsv_label)):
        return FolderLayout(True, task.tsv_columns, task.tsv_label)
    texts, label = task.positions
    width = len(first)
    if max(*texts, label if label >= 0 else 0) >= width:
        raise UserError(
            f"{file}: its first row has {width} columns, neither GLUE's header for "
            f"{task.folder} ({', '.join((*task.tsv_columns, task.tsv_label))}) nor its "
            f"{max(texts) + 1} or more data columns"
        )
    return FolderLayout(False, tuple(str(i) for i in texts), str(label % width))
