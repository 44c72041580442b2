"""Every command's options, declared in one place: the argparse parser, the argument groups
commands share, and the value parsers that turn a bad value into one line and exit code 2.
Each command gets the parsed options as they are; `setup` turns them into settings."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from glpsearch import __version__, strategies
from glpsearch.cli.after_search import (
    run_evaluate,
    run_export,
    run_pick,
    run_report,
    run_speed,
    run_status,
)
from glpsearch.cli.search import run_compare, run_search
from glpsearch.cli.setup import EXIT_USAGE
from glpsearch.config import EMBEDDED_SETTINGS, DistillSettings, TrainSettings
from glpsearch.strategies.halving import MIN_RUNG_STEPS

DESCRIPTION = "The `glpsearch` command. Bad input ends in one line on stderr and exit code 2."
COMPARED = ("greedy", "top-drop", "bottom-drop", "block-influence")  # compare's default


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + traceback-like noise
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind: type, low: float, inclusive: bool = True) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if value < low or (value == low and not inclusive):
            bound = f">= {low}" if inclusive else f"> {low}"
            raise argparse.ArgumentTypeError(f"{text} must be {bound}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glpsearch", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"glpsearch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    search = commands.add_parser("search", help="search which layers to remove")
    search.set_defaults(run=run_search)
    _run_arguments(search).add_argument(
        "--strategy",
        default="greedy",
        choices=sorted(strategies.REGISTRY),
        help="(default: greedy)",
    )

    compare = commands.add_parser(
        "compare", help="run several strategies through one cache and compare them"
    )
    compare.set_defaults(run=run_compare)
    _run_arguments(compare).add_argument(
        "--strategies",
        type=_strategy_names,
        default=",".join(COMPARED),
        help=f"comma-separated, of {', '.join(sorted(strategies.REGISTRY))} "
        f"(default: {','.join(COMPARED)})",
    )

    report = commands.add_parser(
        "report", help="redraw the table, CSV and plot of a compare or search out folder"
    )
    report.set_defaults(run=run_report)
    report.add_argument("out_dir", type=Path, metavar="OUT_DIR")

    evaluate = commands.add_parser(
        "evaluate",
        help="fine-tune each chosen model on all training data and score it on the dev set, "
        "over several seeds (the paper's final protocol)",
    )
    evaluate.set_defaults(run=run_evaluate)
    _from_argument(evaluate, required=True)
    which = evaluate.add_argument_group("which models")
    which.add_argument(
        "--strategies", type=_strategy_names, help="only these strategies' (default: all)"
    )
    which.add_argument(
        "--layers-removed",
        type=_number(int, 0),
        metavar="N",
        help="only depths 0 to N (default: every depth of the record)",
    )
    seeds = evaluate.add_argument_group("seeds")
    seeds.add_argument("--seed", type=_number(int, 0), default=0, help="first seed (default: 0)")
    seeds.add_argument(
        "--seeds",
        type=_number(int, 1),
        default=3,
        help="seeds per model, --seed, --seed+1, ...; more later add only theirs (default: 3)",
    )
    seeds.add_argument("--retry-failed", action="store_true", help="retry failed fine-tunes")
    _task_arguments(evaluate)
    _train_arguments(evaluate, "fine-tuning (default: the record's settings)")
    _distill_arguments(evaluate)
    _work_arguments(evaluate)
    _files_arguments(evaluate, None, "where evaluate.json goes (default: the --from folder)")

    status = commands.add_parser("status", help="list what a cache holds")
    status.set_defaults(run=run_status)
    status.add_argument("--cache", type=Path)
    status.add_argument(
        "--check", action="store_true", help="list every unreadable (damaged) row of the cache"
    )
    status.add_argument(
        "--fix",
        action="store_true",
        help="with --check: drop the damaged rows (their results are computed again when asked)",
    )

    export = commands.add_parser(
        "export", help="write a pruned model as a Hugging Face checkpoint with a model card"
    )
    export.set_defaults(run=run_export)
    which = export.add_argument_group("which layers")
    _from_argument(which, required=False)
    chosen = which.add_mutually_exclusive_group()
    chosen.add_argument(
        "--layers-removed",
        type=_number(int, 0),
        metavar="N",
        help="remove the first N layers of the record's removal order",
    )
    chosen.add_argument(
        "--remove", type=_int_list(0), metavar="I,J,...", help="remove these layers, e.g. 0,7,5"
    )
    which.add_argument("--strategy", help="whose order, of a compare.json (default: greedy)")
    _task_arguments(export)
    train = _train_arguments(export, "fine-tuning (with --finetune; default: the record's)")
    train.add_argument(
        "--finetune",
        action="store_true",
        help="fine-tune on all training data (held-out part included) first, as the paper does "
        "after pruning; needs a dev set",
    )
    train.add_argument(
        "--seed", type=_number(int, 0), default=0, help="seed of the new classifier head and of "
        "fine-tuning (default: 0)",
    )  # fmt: skip
    _distill_arguments(export).add_argument(
        "--cache",
        type=Path,
        help="where the teacher is kept (default: $GLPSEARCH_CACHE or the per-user cache folder)",
    )
    export.add_argument("--out", type=_folder, required=True, help="the folder to write")
    hub = export.add_argument_group("the Hugging Face Hub")
    hub.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="then upload the folder to this model repo (namespace/name; created if missing); "
        "needs a token: `hf auth login` or HF_TOKEN",
    )
    hub.add_argument(
        "--private", action="store_true", help="create the repo private (with --push-to-hub)"
    )
    export.add_argument("--quiet", action="store_true", help="no progress")

    speed = commands.add_parser(
        "speed", help="measure latency, throughput and size of each model of an out folder"
    )
    speed.set_defaults(run=run_speed)
    _from_argument(speed, required=True)
    speed.add_argument("--batch-sizes", type=_int_list(1), default=(1, 32), help="(default: 1,32)")
    speed.add_argument("--devices", help="comma-separated (default: cpu, and cuda if present)")
    speed.add_argument(
        "--seq-length",
        type=_number(int, 1),
        help="tokens per example (default: the 95th percentile of the task's tokenized "
        "training examples)",
    )
    speed.add_argument(
        "--repeats", type=_number(int, 1), help="timed rounds per model at least (default: 5)"
    )
    speed.add_argument(
        "--threads", type=_number(int, 1), help="CPU threads (default: torch's, all cores)"
    )
    _task_arguments(speed)
    speed.add_argument("--quiet", action="store_true", help="no progress or table")

    pick = commands.add_parser(
        "pick", help="the best depth within a latency, or the fastest above a score"
    )
    pick.set_defaults(run=run_pick)
    _from_argument(pick, required=True)
    target = pick.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--max-latency-ms", type=_number(float, 0, False), help="the best score within X ms"
    )
    target.add_argument("--min-score", type=_number(float, -1), help="the fastest scoring >= S")
    pick.add_argument("--batch-size", type=_number(int, 1), default=1, help="(default: 1)")
    pick.add_argument("--device", default="cpu", help="as speed.json names it (default: cpu)")
    return parser


def _run_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The options search and compare share; returns the search group for their strategy option."""
    _task_arguments(parser)
    how = parser.add_argument_group("search")
    how.add_argument(
        "--remove", type=_number(int, 1), help="remove 1, 2, ... up to K layers (default: half)"
    )
    how.add_argument(
        "--seed", type=_number(int, 0), default=0, help="fine-tuning seed, also random's"
    )
    how.add_argument(
        "--seeds",
        type=_number(int, 1),
        default=1,
        help="fine-tune each candidate with N seeds (--seed, --seed+1, ...) and compare means; "
        "candidates within the best's standard error count as tied (default: 1)",
    )
    how.add_argument("--retry-failed", action="store_true", help="retry failed candidates")
    how.add_argument(
        "--force",
        action="store_true",
        help="search even when the unpruned model did not beat the constant predictor "
        "(majority class, or training mean) by two standard errors",
    )
    how.add_argument(
        "--beam-width",
        type=_number(int, 1),
        default=strategies.StrategyOptions().beam_width,
        help="sets beam keeps per depth (default: %(default)s)",
    )
    how.add_argument(
        "--max-evaluations",
        "--budget",  # its old name, kept for the scripts that use it
        type=_number(int, 1),
        metavar="N",
        help="random: sets per depth (default: the number of layers); exhaustive: refuse to "
        "start above N evaluations in all (default: no limit)",
    )
    how.add_argument(
        "--min-budget",
        type=_number(float, 0, inclusive=False),
        help="greedy-halving: the shortest fine-tune a candidate gets, as a fraction of the full "
        f"one, at most 1 (default: {strategies.StrategyOptions().min_budget}, raised until it "
        f"has {MIN_RUNG_STEPS} optimizer steps: shorter ones can misrank candidates)",
    )
    how.add_argument(
        "--eta",
        type=_number(int, 2),
        default=strategies.StrategyOptions().eta,
        help="greedy-halving: 1 in ETA candidates goes on to ETA times the budget "
        "(default: %(default)s)",
    )
    how.add_argument(
        "--checkpoint-space",
        type=_number(float, 0),
        default=20.0,
        metavar="GB",
        help="greedy-halving: disk space its checkpoints may take in the cache; beyond it those "
        "of earlier steps go first (default: %(default)s)",
    )
    _train_arguments(parser, "fine-tuning of each candidate")
    _work_arguments(parser)
    _files_arguments(parser, Path("glp-out"), "output folder (default: glp-out)")
    return how


def _files_arguments(parser: argparse.ArgumentParser, out: Path | None, out_help: str) -> None:
    files = parser.add_argument_group("files")
    files.add_argument(
        "--cache",
        type=Path,
        help="cache folder (default: $GLPSEARCH_CACHE or the per-user cache folder)",
    )
    files.add_argument("--out", type=_folder, default=out, help=out_help)
    files.add_argument("--quiet", action="store_true", help="no progress or tables")


def _work_arguments(parser: argparse.ArgumentParser) -> None:
    work = parser.add_argument_group("parallel work")
    work.add_argument(
        "--jobs",
        type=_jobs,
        default=1,
        help="candidates evaluated at once, several to a GPU; auto: as many as each GPU's free "
        "memory holds, 1 on a CPU (default: 1)",
    )
    work.add_argument(
        "--devices", help="devices the workers share out, e.g. cuda:0,cuda:1, or auto (all GPUs)"
    )
    work.add_argument(
        "--backend",
        choices=("loky", "dask"),
        default="loky",
        help="loky: local processes; dask: a Dask cluster (default: loky)",
    )
    work.add_argument(
        "--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local one)"
    )


def _jobs(text: str) -> int | str:
    """--jobs: a count of at least 1, or auto."""
    if text == "auto":
        return text
    if not text.strip().lstrip("+-").isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is neither a count nor auto")
    return _number(int, 1)(text)


def _from_argument(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, required: bool
) -> None:
    parser.add_argument(
        "--from",
        dest="from_dir",
        type=Path,
        required=required,
        metavar="OUT_DIR",
        help="the --out folder of a search or compare"
        + ("" if required else "; its model, task and settings are the defaults"),
    )


def _task_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("model and data")
    what.add_argument("--model", help="model folder or hub id (default: embedded all-MiniLM-L6-v2)")
    what.add_argument(
        "--task",
        help="rotten-tomatoes (embedded, default), a GLUE task name (hub) or GLUE folder path",
    )
    what.add_argument(
        "--dataset",
        metavar="NAME_OR_PATH",
        help="any dataset `datasets` opens: a hub name (imdb), a save_to_disk folder, or a "
        "folder of data files",
    )
    what.add_argument("--dataset-config", metavar="C", help="the dataset's config, e.g. sentiment")
    what.add_argument(
        "--train-split", metavar="S", help="the dataset's split to train on (default: train)"
    )
    what.add_argument(
        "--validation-split",
        metavar="S",
        help="its dev split, for final evaluation only (default: validation or dev, if any)",
    )
    what.add_argument("--train", type=Path, help="training file (.csv, .tsv, .json, .jsonl)")
    what.add_argument("--validation", type=Path, help="dev file, for final evaluation only")
    what.add_argument(
        "--no-header",
        dest="header",
        action="store_false",
        default=None,
        help="the CSV/TSV files have no header row: give --text-column and --label-column as "
        "0-based positions, e.g. --text-column 3,4 --label-column 0",
    )
    what.add_argument(
        "--quoting",
        choices=("none", "csv"),
        help="double quotes in CSV/TSV files: none (text, as in GLUE's files) or csv (quoted "
        "fields, which may span lines) (default: the reading under which every row holds)",
    )
    what.add_argument(
        "--text-column",
        dest="text_columns",
        help="text column, or two separated by a comma for sentence pairs (default: text, "
        "sentence, or a known pair)",
    )
    what.add_argument("--label-column", help="label column (default: label)")
    what.add_argument(
        "--regression",
        action=argparse.BooleanOptionalAction,
        help="numeric labels are a score (Spearman); --no-regression: each number is a class "
        "(default: a dataset's float column is a score, numbers in files are refused)",
    )
    what.add_argument(
        "--train-limit",
        type=_number(int, 0),
        help="use only N training examples (0: all; embedded default: 2000)",
    )


def _train_arguments(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """Fine-tuning options; those not given come from `setup.train_settings`'s base."""
    train = parser.add_argument_group(title)
    defaults = TrainSettings()
    train.add_argument(
        "--epochs",
        type=_number(float, 0, False),
        help=f"(default: {defaults.epochs:g}; {EMBEDDED_SETTINGS.epochs:g} on the embedded task)",
    )
    train.add_argument(
        "--lr",
        type=_number(float, 0, False),
        help=f"(default: {defaults.lr:g}; {EMBEDDED_SETTINGS.lr:g} on the embedded task)",
    )
    train.add_argument(
        "--batch-size", type=_number(int, 1), help=f"(default: {defaults.batch_size})"
    )
    train.add_argument(
        "--max-length", type=_number(int, 8), help=f"(default: {defaults.max_length})"
    )
    train.add_argument(
        "--warmup-ratio", type=_number(float, 0), help=f"(default: {defaults.warmup_ratio:g})"
    )
    train.add_argument(
        "--weight-decay", type=_number(float, 0), help=f"(default: {defaults.weight_decay:g})"
    )
    train.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    return train


def _distill_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """--distill and its settings (glpsearch/distill.py); setup.distill_settings reads them."""
    defaults = DistillSettings()
    distill = parser.add_argument_group("distillation")
    distill.add_argument(
        "--distill",
        action="store_true",
        help="fine-tune each pruned model as a student of the unpruned model fine-tuned on the "
        "same data (the teacher: trained once with --seed, kept in the cache)",
    )
    distill.add_argument(
        "--distill-alpha",
        type=_number(float, 0),
        metavar="A",
        help=f"weight of the teacher's softened outputs, 1-A of the task loss, 0 to 1 "
        f"(default: {defaults.alpha:g})",
    )
    distill.add_argument(
        "--distill-temperature",
        type=_number(float, 0, False),
        metavar="T",
        help=f"softmax temperature of the teacher and student outputs "
        f"(default: {defaults.temperature:g})",
    )
    distill.add_argument(
        "--distill-hidden",
        action="store_true",
        help="also match each kept layer's output to the teacher layer it came from (MSE)",
    )
    return distill


def _folder(text: str) -> Path:
    """A folder's name; an empty one would silently mean the working folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name is not a folder; name one")
    return Path(text)


def _int_list(low: int) -> Callable[[str], tuple[int, ...]]:
    """A comma-separated list of whole numbers >= low, e.g. 0,7,5."""
    number = _number(int, low)

    def parse(text: str) -> tuple[int, ...]:
        values = tuple(number(part.strip()) for part in text.split(",") if part.strip())
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r} names no number")
        return values

    return parse


def _strategy_names(text: str) -> list[str]:
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    known = ", ".join(sorted(strategies.REGISTRY))
    if not names:
        raise argparse.ArgumentTypeError(f"name at least one strategy, of {known}")
    for name in names:
        if name not in strategies.REGISTRY:
            raise argparse.ArgumentTypeError(f"unknown strategy {name!r}; choose from {known}")
    return names
