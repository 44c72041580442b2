"""The `glpsearch` command. Bad input ends in one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

import strategies
from glpsearch import __version__
from glpsearch.config import EMBEDDED_SETTINGS, DataSpec, TrainSettings
from glpsearch.data import EMBEDDED_TASK
from glpsearch.errors import UserError
from store import Store, StoreError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def default_cache() -> Path:
    """$GLPSEARCH_CACHE, else the per-user cache folder of this platform."""
    if os.environ.get("GLPSEARCH_CACHE"):
        return Path(os.environ["GLPSEARCH_CACHE"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("glpsearch"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UserError, StoreError) as exc:
        print(f"glpsearch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(
            "\nglpsearch: interrupted; every finished evaluation is cached, "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


# -- commands ---------------------------------------------------------------------------------
def _search(args: argparse.Namespace) -> int:
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    settings = _settings(args)
    cache = args.cache or default_cache()
    _check_writable_target(args.out)
    with console.status("loading data and model"):
        from glpsearch.data import load_task
        from glpsearch.evaluator import Evaluator

        task = load_task(_data_spec(args))
        evaluator = Evaluator(args.model, task, settings, _device(args.device))
    n = evaluator.n_layers
    remove = n // 2 if args.remove is None else args.remove
    if not 1 <= remove < n:
        raise UserError(f"--remove must be between 1 and {n - 1} for a model of {n} layers")
    strategy = strategies.make(args.strategy, strategies.StrategyOptions(seed=args.seed))

    from glpsearch.engine import Engine
    from glpsearch.progress import Display, steps_table
    from glpsearch.results import search_record, write_search

    with Store(cache) as store:
        console.print(
            f"[bold]{args.strategy}[/]: remove {remove} of {n} layers of {evaluator.model_name}"
            f" on {task.name} ({len(task.train)} train / {len(task.heldout)} held-out, "
            f"{task.metric}); cache {cache} [dim]fingerprint {evaluator.fingerprint}[/]"
        )
        with Display(console) as display:
            engine = Engine(evaluator, store, args.seed, display, args.retry_failed)
            baseline, result = engine.run(strategy, remove)
    header = {
        "glpsearch": __version__,
        "strategy": args.strategy,
        "model": evaluator.model_name,
        "model_dir": str(evaluator.model_dir),
        "task": task.name,
        "source": task.source,
        "metric": task.metric,
        "n_layers": n,
        "remove": remove,
        "seed": args.seed,
        "settings": asdict(settings),
        "n_train": len(task.train),
        "n_heldout": len(task.heldout),
        "fingerprint": evaluator.fingerprint,
        "cache": str(cache),
    }
    record = search_record(result, baseline, engine.outcomes, header, engine.counts)
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    written = write_search(args.out, record)
    out = Console(quiet=args.quiet)
    out.print(steps_table(result, baseline, engine.outcomes))
    counts = engine.counts
    out.print(
        f"evaluations: {counts['computed']} computed, {counts['cached']} from cache, "
        f"{counts['failed']} failed · {record['wall_seconds']:.1f} s"
    )
    if result.order is not None:
        out.print(f"removal order: {' '.join(map(str, result.order))}")
    out.print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _status(args: argparse.Namespace) -> int:
    from rich.table import Table

    cache = args.cache or default_cache()
    if not (Path(cache) / "cache.db").exists():
        raise UserError(f"no glpsearch cache at {cache}")
    with Store(cache) as store:
        summaries = store.summaries()
    table = Table(title=f"cache {cache}")
    for column in ("fingerprint", "model", "task", "settings", "scores", "failures"):
        table.add_column(column)
    for s in summaries:
        settings = s.info.get("settings", {})
        table.add_row(
            s.fingerprint[:12],
            s.info.get("model", "?"),
            f"{s.info.get('task', '?')} ({s.info.get('n_train', '?')} train)",
            "{epochs:g} ep, lr {lr:g}, batch {batch_size}, len {max_length}".format(**settings)
            if settings
            else "?",
            str(s.scores),
            str(s.failures),
        )
    Console().print(table)
    return 0


# -- arguments --------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + traceback-like noise
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(kind: type, low: float, inclusive: bool = True) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value < low or (value == low and not inclusive) or value != value:
            bound = f">= {low}" if inclusive else f"> {low}"
            raise argparse.ArgumentTypeError(f"{text} must be {bound}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glpsearch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"glpsearch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    search = commands.add_parser("search", help="search which layers to remove")
    search.set_defaults(run=_search)
    what = search.add_argument_group("model and data")
    what.add_argument("--model", help="model folder or hub id (default: embedded all-MiniLM-L6-v2)")
    what.add_argument(
        "--task",
        help="rotten-tomatoes (embedded, default), a GLUE task name (hub) or GLUE folder path",
    )
    what.add_argument("--train", type=Path, help="training file (.csv, .tsv, .json, .jsonl)")
    what.add_argument("--validation", type=Path, help="dev file, for final evaluation only")
    what.add_argument(
        "--text-column",
        dest="text_columns",
        help="text column, or two separated by a comma for sentence pairs (default: text)",
    )
    what.add_argument("--label-column", help="label column (default: label)")
    what.add_argument("--regression", action="store_true", help="numeric labels (Spearman)")
    what.add_argument(
        "--train-limit",
        type=_number(int, 0),
        help="use only N training examples (0: all; embedded default: 2000)",
    )
    how = search.add_argument_group("search")
    how.add_argument("--remove", type=_number(int, 1), help="layers to remove (default: half)")
    how.add_argument(
        "--strategy",
        default="greedy",
        choices=sorted(strategies.REGISTRY),
        help="(default: greedy)",
    )
    how.add_argument("--seed", type=_number(int, 0), default=0, help="fine-tuning seed")
    how.add_argument("--retry-failed", action="store_true", help="retry failed candidates")
    train = search.add_argument_group("fine-tuning of each candidate")
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
    train.add_argument("--batch-size", type=_number(int, 1), default=defaults.batch_size)
    train.add_argument("--max-length", type=_number(int, 8), default=defaults.max_length)
    train.add_argument("--warmup-ratio", type=_number(float, 0), default=defaults.warmup_ratio)
    train.add_argument("--weight-decay", type=_number(float, 0), default=defaults.weight_decay)
    train.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto)")
    files = search.add_argument_group("files")
    files.add_argument(
        "--cache",
        type=Path,
        help="cache folder (default: $GLPSEARCH_CACHE or the per-user cache folder)",
    )
    files.add_argument("--out", type=Path, default=Path("glp-out"), help="output folder")
    files.add_argument("--quiet", action="store_true", help="no progress or tables")

    status = commands.add_parser("status", help="list what a cache holds")
    status.set_defaults(run=_status)
    status.add_argument("--cache", type=Path)
    return parser


def _settings(args: argparse.Namespace) -> TrainSettings:
    if args.warmup_ratio > 1:
        raise UserError("--warmup-ratio must be between 0 and 1")
    base = (
        EMBEDDED_SETTINGS
        if args.task in (None, EMBEDDED_TASK) and not args.train
        else TrainSettings()
    )
    return TrainSettings(
        epochs=base.epochs if args.epochs is None else args.epochs,
        lr=base.lr if args.lr is None else args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
    )


def _data_spec(args: argparse.Namespace) -> DataSpec:
    columns = None
    if args.text_columns:
        columns = tuple(c.strip() for c in args.text_columns.split(",") if c.strip())
    if args.validation is not None and args.train is None:
        raise UserError("--validation goes with --train")
    return DataSpec(
        task=args.task,
        train=args.train,
        validation=args.validation,
        text_columns=columns,
        label_column=args.label_column,
        regression=args.regression,
        train_limit=args.train_limit,
    )


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available; use --device cpu")
    try:
        torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; use cpu, cuda or cuda:N") from None
    return name


def _check_writable_target(out: Path) -> None:
    target = out
    while not target.exists():
        target = target.parent
    if not target.is_dir() or not os.access(target, os.W_OK):
        raise UserError(f"cannot write the output folder {out}; choose another --out")
