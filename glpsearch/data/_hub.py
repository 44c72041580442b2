"""Opening a dataset the `datasets` library knows: a hub name (with its config), a folder
written by `save_to_disk`, or a local data folder `load_dataset` reads (train.csv, test.csv,
...); and choosing its training and dev splits. Failures are one line naming what exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glpsearch.errors import UserError, first_line

DEV_SPLITS = ("validation", "dev", "valid", "val")  # tried in this order when none is named


def open_dataset(name: str, config: str | None = None) -> Any:
    """A DatasetDict (or a Dataset, from a save_to_disk folder of one split)."""
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    path = Path(name).expanduser()
    if path.is_file():
        raise UserError(f"{name} is a file; give it with --train (and --validation)")
    try:
        if path.is_dir() and (
            (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()
        ):
            if config is not None:
                raise UserError(
                    "--dataset-config goes with a hub dataset, not a save_to_disk folder"
                )
            return datasets.load_from_disk(str(path))
        if path.is_dir():
            return datasets.load_dataset(str(path), config)
        return datasets.load_dataset(name, config)
    except UserError:
        raise
    except Exception as exc:  # offline, unknown name, a config to choose: datasets says which
        while exc.__cause__ is not None and not str(exc).strip():
            exc = exc.__cause__
        hint = ""
        if not path.is_dir() and not isinstance(exc, ValueError):  # not found, or offline
            hint = "; to work offline, save it once with save_to_disk and pass the folder"
        reason = first_line(exc, 300, joined=True)
        raise UserError(f"cannot load dataset {name!r}: {reason}{hint}") from None


def splits(
    dataset: Any, name: str, train: str | None, dev: str | None, default_dev: str | None = None
) -> tuple[Any, Any | None, str | None]:
    """(training split, dev split or None, the dev split's name) of a Dataset (the training
    data) or DatasetDict: the splits named, else train and the first of `default_dev`,
    validation, dev, valid, val that exists."""
    import datasets

    if isinstance(dataset, datasets.Dataset):
        if dev is not None:
            raise UserError(f"{name} is a single split; it has no --validation-split {dev!r}")
        return dataset, None, None
    available = ", ".join(dataset)

    def pick(split: str, flag: str) -> Any:
        if split not in dataset:
            raise UserError(
                f"{name} has no split {split!r}; its splits: {available} (choose with {flag})"
            )
        return dataset[split]

    train = train or "train"
    chosen = pick(train, "--train-split")
    if dev is None:
        tried = (default_dev, *DEV_SPLITS)
        dev = next((s for s in tried if s is not None and s in dataset and s != train), None)
    return chosen, None if dev is None else pick(dev, "--validation-split"), dev
