"""Every command's options, as frozen dataclasses: each field's default, help and constraint are
its metadata (glpsearch/options.py), checked where the value is built. The CLI's parser and the
API's keywords are made from these declarations, so no option is declared twice. The settings
of a fine-tune (`TrainSettings`, `DistillSettings`) and of the data (`DataSpec`) are also what
fingerprints and records hold (metadata does not change `asdict`). No torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glpsearch import strategies
from glpsearch.options import check, option
from glpsearch.strategies.halving import MIN_RUNG_STEPS


class _Checked:
    """An option dataclass: its values are checked when built."""

    def __post_init__(self) -> None:
        check(self)


@dataclass(frozen=True)
class TrainSettings(_Checked):
    """How each candidate is fine-tuned. Every field is part of the cache fingerprint."""

    epochs: float = option(2.0, "(default: 2; 1 on the embedded task)", kind=float, low=0,
                           inclusive=False)  # fmt: skip
    lr: float = option(5e-5, "(default: 5e-05; 0.0001 on the embedded task)", kind=float, low=0,
                       inclusive=False)  # fmt: skip
    batch_size: int = option(16, "(default: 16)", kind=int, low=1)
    max_length: int = option(128, "(default: 128)", kind=int, low=8)
    warmup_ratio: float = option(0.1, "(default: 0.1)", kind=float, low=0, high=1)
    weight_decay: float = option(0.01, "(default: 0.01)", kind=float, low=0)
    eval_batch_size: int = 64


# The embedded default must finish on 2 CPU cores in minutes and still separate candidates:
# one epoch at a higher rate learns as much there as two at 5e-5 (0.74 vs 0.76 held-out).
EMBEDDED_SETTINGS = TrainSettings(epochs=1.0, lr=1e-4)


@dataclass(frozen=True)
class DistillSettings(_Checked):
    """How a pruned model learns from the fine-tuned unpruned one (`--distill`). Every field is
    part of the fingerprint of distilled fine-tunes, and only of those: plain ones keep theirs."""

    # weight of the teacher's softened outputs; 1 - alpha: the task loss
    alpha: float = option(
        0.5,
        "weight of the teacher's softened outputs, 1-A of the task loss, 0 to 1 (default: 0.5)",
        kind=float, low=0, high=1, flag="--distill-alpha", metavar="A",
    )  # fmt: skip
    temperature: float = option(
        2.0,
        "softmax temperature of the teacher and student outputs (default: 2)",
        kind=float, low=0, inclusive=False, flag="--distill-temperature", metavar="T",
    )  # fmt: skip
    # each kept layer's output also matches its source layer's (MSE)
    hidden: bool = option(
        False,
        "also match each kept layer's output to the teacher layer it came from (MSE)",
        flag="--distill-hidden",
    )
    teacher_seed: int = 0  # the one teacher every student of a run learns from


@dataclass(frozen=True)
class DataSpec(_Checked):
    """Where the task's examples come from: a named task or GLUE folder (`task`), a dataset
    `datasets` opens (`dataset`: hub name or folder, with its config and splits), or local
    files (`train`, `validation`, read with or without a header, quoting decided or given).
    `regression` None: decided by the data (a float column of a dataset is a score; numbers
    that look like scores in a file are refused); False: classes, told."""

    task: str | None = option(
        None, "rotten-tomatoes (embedded, default), a GLUE task name (hub) or GLUE folder path"
    )
    train: Path | None = option(None, "training file (.csv, .tsv, .json, .jsonl)", kind=Path)
    validation: Path | None = option(None, "dev file, for final evaluation only", kind=Path)
    text_columns: tuple[str, ...] | None = option(
        None,
        "text column, or two separated by a comma for sentence pairs (default: text, sentence, "
        "or a known pair)",
        listed=True, blanks=True, flag="--text-column",
    )  # fmt: skip
    label_column: str | None = option(None, "label column (default: label)")
    regression: bool | None = option(
        None,
        "numeric labels are a score (Spearman); --no-regression: each number is a class "
        "(default: a dataset's float column is a score, numbers in files are refused)",
        kind=bool,
    )
    train_limit: int | None = option(
        None, "use only N training examples (0: all; embedded default: 2000)", kind=int, low=0
    )
    heldout_fraction: float = 0.15
    dataset: str | None = option(
        None,
        "any dataset `datasets` opens: a hub name (imdb), a save_to_disk folder, or a folder of "
        "data files",
        metavar="NAME_OR_PATH",
    )
    dataset_config: str | None = option(None, "the dataset's config, e.g. sentiment", metavar="C")
    train_split: str | None = option(
        None, "the dataset's split to train on (default: train)", metavar="S"
    )
    validation_split: str | None = option(
        None,
        "its dev split, for final evaluation only (default: validation or dev, if any)",
        metavar="S",
    )
    header: bool = option(
        True,
        "the CSV/TSV files have no header row: give --text-column and --label-column as 0-based "
        "positions, e.g. --text-column 3,4 --label-column 0",
        flag="--no-header",
    )
    quoting: str | None = option(
        None,
        "double quotes in CSV/TSV files: none (text, as in GLUE's files) or csv (quoted fields, "
        "which may span lines) (default: the reading under which every row holds)",
        choices=("none", "csv"),
    )  # "none" or "csv"; None: decided from the file


# The order the CLI lists the data options in (the model first, then where the data is).
DATA_OPTIONS = ("task", "dataset", "dataset_config", "train_split", "validation_split", "train",
                "validation", "header", "quoting", "text_columns", "label_column", "regression",
                "train_limit")  # fmt: skip
MODEL_HELP = "model folder or hub id (default: embedded all-MiniLM-L6-v2)"
DEVICE_HELP = "cpu, cuda, cuda:1, ... (default: auto)"
FROM_HELP = "the --out folder of a search or compare"
COMPARED = ("greedy", "top-drop", "bottom-drop", "block-influence")  # compare's default


def _registry() -> list[str]:
    return sorted(strategies.REGISTRY)


@dataclass(frozen=True)
class Files(_Checked):
    """Where a command keeps its cache and writes its files, and whether it shows progress."""

    cache: Path | None = option(
        None, "cache folder (default: $GLPSEARCH_CACHE or the per-user cache folder)", kind=Path
    )
    out: Path | None = option(None, "output folder", kind=Path, nonblank=True)
    quiet: bool = option(False, "no progress or tables")


@dataclass(frozen=True)
class Work(_Checked):
    """Where fine-tunes run: this process, local worker processes or a Dask cluster."""

    jobs: int | str = option(
        1,
        "candidates evaluated at once, several to a GPU; auto: as many as each GPU's free memory "
        "holds, 1 on a CPU (default: 1)",
        kind=int, low=1, words=("auto",),
    )  # fmt: skip
    devices: tuple[str, ...] | None = option(
        None, "devices the workers share out, e.g. cuda:0,cuda:1, or auto (all GPUs)", listed=True
    )
    backend: str = option(
        "loky", "loky: local processes; dask: a Dask cluster (default: loky)",
        choices=("loky", "dask"),
    )  # fmt: skip
    scheduler: str | None = option(
        None, "Dask scheduler address, e.g. tcp://host:8786 (default: a local one)"
    )
    device: str = option("auto", DEVICE_HELP)


@dataclass(frozen=True)
class Run(_Checked):
    """What a search or compare does, besides its strategies' options and the fine-tune's."""

    model: str | None = option(None, MODEL_HELP)
    remove: int | None = option(
        None, "remove 1, 2, ... up to K layers (default: half)", kind=int, low=1
    )
    seed: int = option(0, "fine-tuning seed, also random's", kind=int, low=0)
    seeds: int | str = option(
        1,
        "fine-tune each candidate with N seeds (--seed, --seed+1, ...) and compare means; "
        "candidates within the best's standard error count as tied; auto: race, one seed each "
        "and more only for the near-tied, up to --max-seeds (default: 1)",
        kind=int, low=1, words=("auto",),
    )  # fmt: skip
    retry_failed: bool = option(False, "retry failed candidates")
    force: bool = option(
        False,
        "search even when the unpruned model did not beat the constant predictor (majority "
        "class, or training mean) by two standard errors",
    )
    min_budget: float | None = option(
        None,
        "greedy-halving: the shortest fine-tune a candidate gets, as a fraction of the full one, "
        f"at most 1 (default: {strategies.StrategyOptions().min_budget}, raised until it has "
        f"{MIN_RUNG_STEPS} optimizer steps: shorter ones can misrank candidates)",
        kind=float, low=0, inclusive=False,
    )  # fmt: skip
    checkpoint_space: float = option(
        20.0,
        "greedy-halving: disk space its checkpoints may take in the cache; beyond it those of "
        "earlier steps go first (default: 20.0)",
        kind=float, low=0, metavar="GB",
    )  # fmt: skip


@dataclass(frozen=True)
class Search(Run):
    """A search: one strategy."""

    strategy: str = option("greedy", "(default: greedy)", choices=_registry)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.strategy,)


@dataclass(frozen=True)
class Compare(Run):
    """A comparison: several strategies through one cache."""

    strategies: tuple[str, ...] = option(
        COMPARED,
        f"comma-separated, of the strategies (default: {','.join(COMPARED)})",
        listed=True, choices=_registry, noun="strategy",
    )  # fmt: skip

    @property
    def names(self) -> tuple[str, ...]:
        return self.strategies


@dataclass(frozen=True)
class From(_Checked):
    """The out folder evaluate, speed and pick read."""

    from_dir: Path = option(
        None, FROM_HELP, kind=Path, flag="--from", metavar="OUT_DIR", required=True
    )


@dataclass(frozen=True)
class Evaluate(_Checked):
    """`evaluate`: the paper's final protocol for the depths of an out folder."""

    model: str | None = option(None, MODEL_HELP)
    strategies: tuple[str, ...] | None = option(
        None, "only these strategies' (default: all)", listed=True, choices=_registry,
        noun="strategy",
    )  # fmt: skip
    layers_removed: int | None = option(
        None, "only depths 0 to N (default: every depth of the record)", kind=int, low=0,
        metavar="N",
    )  # fmt: skip
    seed: int = option(0, "first seed (default: 0)", kind=int, low=0)
    seeds: int = option(
        3,
        "seeds per model, --seed, --seed+1, ...; more later add only theirs (default: 3)",
        kind=int, low=1,
    )  # fmt: skip
    retry_failed: bool = option(False, "retry failed fine-tunes")
    distill: bool = option(
        False,
        "fine-tune each pruned model as a student of the unpruned model fine-tuned on the same "
        "data (the teacher: trained once with --seed, kept in the cache)",
    )


@dataclass(frozen=True)
class Export(_Checked):
    """`export`: one pruned model as a Hugging Face checkpoint with a model card."""

    out: Path = option(None, "the folder to write", kind=Path, nonblank=True)
    from_dir: Path | None = option(
        None, FROM_HELP + "; its model, task and settings are the defaults", kind=Path,
        flag="--from", metavar="OUT_DIR",
    )  # fmt: skip
    layers_removed: int | None = option(
        None, "remove the first N layers of the record's removal order", kind=int, low=0,
        metavar="N",
    )  # fmt: skip
    remove: tuple[int, ...] | None = option(
        None, "remove these layers, e.g. 0,7,5", kind=int, low=0, listed=True, metavar="I,J,..."
    )
    strategy: str | None = option(None, "whose order, of a compare.json (default: greedy)")
    model: str | None = option(None, MODEL_HELP)
    finetune: bool = option(
        False,
        "fine-tune on all training data (held-out part included) first, as the paper does after "
        "pruning; needs a dev set",
    )
    seed: int = option(
        0, "seed of the new classifier head and of fine-tuning (default: 0)", kind=int, low=0
    )
    device: str = option("auto", DEVICE_HELP)
    distill: bool = option(
        False,
        "fine-tune each pruned model as a student of the unpruned model fine-tuned on the same "
        "data (the teacher: trained once with --seed, kept in the cache)",
    )
    cache: Path | None = option(
        None,
        "where the teacher is kept (default: $GLPSEARCH_CACHE or the per-user cache folder)",
        kind=Path,
    )
    push_to_hub: str | None = option(
        None,
        "then upload the folder to this model repo (namespace/name; created if missing); needs a "
        "token: `hf auth login` or HF_TOKEN",
        metavar="REPO",
    )
    private: bool = option(False, "create the repo private (with --push-to-hub)")
    quiet: bool = option(False, "no progress")


@dataclass(frozen=True)
class Speed(_Checked):
    """`speed`: time each model of an out folder."""

    model: str | None = option(None, MODEL_HELP)
    batch_sizes: tuple[int, ...] = option((1, 32), "(default: 1,32)", kind=int, low=1, listed=True)
    devices: tuple[str, ...] | None = option(
        None, "comma-separated (default: cpu, and cuda if present)", listed=True
    )
    seq_length: int | None = option(
        None,
        "tokens per example (default: the 95th percentile of the task's tokenized training "
        "examples)",
        kind=int, low=1,
    )  # fmt: skip
    repeats: int | None = option(
        None, "timed rounds per model at least (default: 5)", kind=int, low=1
    )
    threads: int | None = option(None, "CPU threads (default: torch's, all cores)", kind=int, low=1)
    quiet: bool = option(False, "no progress or table")
