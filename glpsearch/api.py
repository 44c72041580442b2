"""glpsearch from Python: one function per command. `search`, `compare`, `evaluate`, `speed`,
`pick` and `export` take the command's options as keyword arguments and return what it found
as objects (a record, a DataFrame, the pruned model), writing files only when asked.

The options are declared once, as dataclass fields (glpsearch/config.py); a call's keywords
build those dataclasses directly (glpsearch/options.py), and the run itself is the command's
own (glpsearch/runs/commands.py: the CLI's commands call the same runs and only print and
write). No torch at import: torch-heavy modules load inside the functions that need them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from glpsearch import options as declared_options
from glpsearch.config import DataSpec
from glpsearch.data.task import TaskData
from glpsearch.errors import GLPSearchError
from glpsearch.report.records import Candidate, Step  # noqa: F401  (glpsearch.Candidate, .Step)
from glpsearch.runs.assemble import (
    COMMANDS,
    GIVEN,
    Told,
    data_spec,
)
from glpsearch.runs.commands import (
    compare_with,
    evaluate_with,
    export_with,
    pick_with,
    search_with,
    speed_with,
)
from glpsearch.runs.results import (
    CompareRun,
    Evaluation,
    Exported,
    Folder,
    Picked,
    SearchRun,
    Speeds,
    progress_console,
)
from glpsearch.store import StoreError

ModelSource = str | os.PathLike | None
"""A hub id, a model folder, or None for the embedded all-MiniLM-L6-v2."""
Dataset = Any
"""A GLUE task name, a GLUE folder, a data file, None for the embedded task, or in memory: a
`datasets.Dataset` / `DatasetDict` or a pandas DataFrame."""

_Run = TypeVar("_Run", "SearchRun", "CompareRun")


# -- the public functions ----------------------------------------------------------------------
def search(
    model: ModelSource = None, dataset: Dataset = None, *, progress: bool = True, **options: Any
) -> SearchRun:
    """Search which layers of `model` to remove for `dataset`, through the cache.

    `options` are the `glpsearch search` command's, by name (`remove=3`, `strategy="greedy"`,
    `text_column="text"`, `seeds=1`, `cache="~/glp-cache"`, ...; `progress=False` is --quiet).
    With `out=`, the CLI's files are written there too. Raises `GLPSearchError` with the
    CLI's one-line message on bad input."""
    return _run("search", search_with, model, dataset, progress, options)


def compare(
    model: ModelSource = None, dataset: Dataset = None, *, progress: bool = True, **options: Any
) -> CompareRun:
    """Run several strategies through one cache (`strategies=["greedy", "top-drop"]`), each
    set fine-tuned once whichever strategy asks first. Options as `search`'s, by the
    `glpsearch compare` command's names."""
    return _run("compare", compare_with, model, dataset, progress, options)


def evaluate(from_dir: Folder, *, progress: bool = True, **options: Any) -> Evaluation:
    """The paper's final protocol for the depths of a search's or compare's out folder: each
    fine-tuned on all training data and scored on the dev set over `seeds` seeds (3), through
    the cache. Options as `glpsearch evaluate`'s (`seeds=5`, `distill=True`, ...); with `out=`,
    evaluate.json is written there."""
    told = _told("evaluate", options, progress, from_dir=from_dir)
    with _one_error():
        evaluation = evaluate_with(told, progress_console(progress))
    if told.files.out is not None:
        evaluation.save(told.files.out)
    return evaluation


def speed(from_dir: Folder, *, progress: bool = True, **options: Any) -> Speeds:
    """Time every distinct model of an out folder against the unpruned one (CPU, and CUDA when
    there is one). Options as `glpsearch speed`'s (`batch_sizes=[1, 32]`, `devices=["cpu"]`,
    ...); `save(folder)` writes speed.json and tradeoff.png."""
    told = _told("speed", options, progress, from_dir=from_dir)
    with _one_error():
        return speed_with(told, progress_console(progress))


def pick(from_dir: Folder, **options: Any) -> Picked:
    """The best depth within `max_latency_ms`, or the fastest reaching `min_score`, on `device`
    at `batch_size`, from the folder's measured numbers (speed.json, evaluate.json)."""
    return pick_with(_told("pick", options, False, from_dir=from_dir))


def export(out: Folder, *, progress: bool = True, **options: Any) -> Exported:
    """Write a pruned model to `out` as a Hugging Face checkpoint with its model card, as
    `glpsearch export` does: `from_dir=` and `layers_removed=`, or `remove=[0, 7, 5]` with
    `model=` and the data; `finetune=True`, `distill=True` (with finetune), `push_to_hub=`."""
    told = _told("export", {**options, "out": out}, progress)
    with _one_error():
        return export_with(told, progress_console(progress))


def _run(
    command: str,
    run_with: Callable[[Told, Console, TaskData | None], _Run],
    model: ModelSource,
    dataset: Dataset,
    progress: bool,
    options: Mapping[str, Any],
) -> _Run:
    told, task = _with_data(_told(command, options, progress, model=model), dataset)
    with _one_error():
        run = run_with(told, progress_console(progress), task)
    if told.files.out is not None:
        run.save(told.files.out)
    return run


# -- keywords into the options' dataclasses ----------------------------------------------------
def _told(
    command: str,
    keywords: Mapping[str, Any],
    progress: bool,
    from_dir: Folder | None = None,
    model: ModelSource = None,
) -> Told:
    """What `glpsearch <command>` would be told with the same values: each dataclass of the
    command built from the keywords that name its fields (an error names the keyword)."""
    classes = COMMANDS[command]
    own = ("model", "dataset") if command in ("search", "compare") else ("from_dir",)
    values = declared_options.split(
        classes, keywords, command, (*own, "progress"), hidden=("quiet",)
    )
    for key, cls in classes.items():
        if any(spec.name == "quiet" for spec in declared_options.declared(cls)):
            values[key]["quiet"] = ("progress", not progress)
    if from_dir is not None:
        values["source"]["from_dir"] = ("from_dir", from_dir)
    if model is not None:
        values["command"]["model"] = ("model", model)
    if "model" in values["command"]:  # a folder may be a Path, a hub id is text
        keyword, where = values["command"]["model"]
        if isinstance(where, os.PathLike) or str(where).startswith("~"):
            values["command"]["model"] = (keyword, os.path.expanduser(os.fspath(where)))
    built = {
        key: declared_options.build(cls, values[key], given=key in GIVEN)
        for key, cls in classes.items()
    }
    return Told(**built)


def _with_data(told: Told, dataset: Dataset) -> tuple[Told, TaskData | None]:
    """The second argument of search and compare: a path or name sets the task or training
    file; data in memory comes back as the task itself (the options then only name its
    columns)."""
    if dataset is None:
        return told, None
    given = dict(told.data.values)
    if "task" in given or "train" in given:
        raise GLPSearchError("give the dataset once: as the second argument, or task=/train=")
    if isinstance(dataset, str | os.PathLike):
        path = Path(os.path.expanduser(os.fspath(dataset)))
        if path.is_file():
            given["train"] = path
        else:
            given["task"] = str(path) if path.exists() else os.fspath(dataset)
        return replace(told, data=replace(told.data, values=given)), None
    if told.work.jobs != 1 or told.work.backend != "loky":
        raise GLPSearchError(
            "in-memory data is scored in this process: leave jobs and backend as they are, "
            "or save the data to a file and give its path"
        )
    return told, task_from_memory(dataset, data_spec(told.data))


def task_from_memory(dataset: Any, spec: DataSpec) -> TaskData:
    """A `datasets.Dataset` / `DatasetDict` or a pandas DataFrame as the project's task, split
    and fingerprinted by content like a file (`TaskData.digest`), so the cache works the same."""
    import datasets
    import pandas

    if isinstance(dataset, pandas.DataFrame):
        dataset = datasets.Dataset.from_pandas(dataset, preserve_index=False)
    if not isinstance(dataset, datasets.Dataset | datasets.DatasetDict):
        raise GLPSearchError(
            f"cannot read a {type(dataset).__name__} as a dataset: give a datasets.Dataset or "
            "DatasetDict, a pandas DataFrame, a file or folder path, or a task name"
        )
    from glpsearch.data.task import task_from_dataset

    return task_from_dataset(dataset, spec)


@contextmanager
def _one_error() -> Iterator[None]:
    """The store's errors as the API's one type, with the same message the CLI prints."""
    try:
        yield
    except StoreError as exc:
        raise GLPSearchError(str(exc)) from None
