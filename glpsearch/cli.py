"""The `glpsearch` command. Bad input ends in one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

import strategies
from glpsearch import __version__
from glpsearch.config import EMBEDDED_SETTINGS, DataSpec, TrainSettings
from glpsearch.data import EMBEDDED_TASK, TaskData
from glpsearch.errors import UserError
from store import Store, StoreError

if TYPE_CHECKING:  # torch loads only when a command needs it: --help stays fast
    from glpsearch.engine import Engine, Event, Runner
    from glpsearch.evaluator import Evaluator

EXIT_FAILED = 1  # every candidate of a depth failed: the search stopped short of --remove
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
COMPARED = ("greedy", "top-drop", "bottom-drop", "block-influence")  # compare's default


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
    setup = _prepare(args, console, [args.strategy])
    strategy = _strategies(args, [args.strategy], setup)[args.strategy]

    from glpsearch.progress import Display, steps_table
    from glpsearch.report import totals
    from glpsearch.results import search_record, write_search

    with closing(setup), Store(setup.cache) as store:
        console.print(f"[bold]{args.strategy}[/]: {setup.summary()}")
        with Display(console) as display:
            engine = _engine(args, setup, store, display)
            baseline, result = engine.run(strategy, setup.remove)
    header = setup.header(args, strategy=args.strategy)
    record = search_record(result, baseline, engine.outcomes, header, engine.counts)
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    written = write_search(args.out, record)
    out = Console(quiet=args.quiet)
    out.print(steps_table(result, baseline, engine.outcomes))
    out.print(totals(record))
    if result.order:
        out.print(f"removal order: {' '.join(map(str, result.order))}")
    out.print("wrote " + ", ".join(str(p) for p in written))
    return _stopped_short(result, engine.outcomes, written[0])


def _compare(args: argparse.Namespace) -> int:
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    setup = _prepare(args, console, args.strategies)
    chosen = _strategies(args, args.strategies, setup)

    from glpsearch.compare import Comparison, write_compare
    from glpsearch.progress import Display
    from glpsearch.report import table, totals

    with closing(setup), Store(setup.cache) as store:
        console.print(f"[bold]compare {', '.join(chosen)}[/]: {setup.summary()}")
        with Display(console) as display:
            comparison = Comparison(lambda: _engine(args, setup, store, display))
            for name, strategy in chosen.items():
                console.print(f"[bold]{name}[/]")
                comparison.run(strategy, setup.remove)
    record = comparison.record(setup.header(args, strategies=list(chosen)))
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    written = write_compare(args.out, record)
    out = Console(quiet=args.quiet)
    out.print(table(record))
    out.print(totals(record))
    out.print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _report(args: argparse.Namespace) -> int:
    from glpsearch.report import redraw, table, totals

    out = Console()
    for record, written in redraw(args.out_dir):
        out.print(table(record))
        out.print(totals(record))
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


# -- what search and compare share ------------------------------------------------------------
@dataclass(frozen=True)
class _Setup:
    """The loaded task and evaluator, the checked depth, and the block-influence ranking if any
    strategy needs it."""

    task: TaskData
    evaluator: Evaluator
    settings: TrainSettings
    cache: Path
    remove: int
    influence: list[float] | None
    ranking: tuple[int, ...] | None
    runner: Runner | None  # close() it when the run ends

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()

    def summary(self) -> str:
        task, evaluator = self.task, self.evaluator
        return (
            f"remove {self.remove} of {evaluator.n_layers} layers of {evaluator.model_name} on "
            f"{task.name} ({len(task.train)} train / {len(task.heldout)} held-out, "
            f"{task.metric}); cache {self.cache} [dim]fingerprint {evaluator.fingerprint}[/]"
        )

    def header(self, args: argparse.Namespace, **command: object) -> dict:
        """The settings a record of this run starts with, after the command's own (`command`)."""
        task, evaluator = self.task, self.evaluator
        return {
            "glpsearch": __version__,
            **command,
            "model": evaluator.model_name,
            "model_dir": str(evaluator.model_dir),
            "task": task.name,
            "source": task.source,
            "metric": task.metric,
            "n_layers": evaluator.n_layers,
            "remove": self.remove,
            "seed": args.seed,
            "seeds": list(_seeds(args)),
            "beam_width": args.beam_width,
            "budget": args.budget,
            "settings": asdict(self.settings),
            "n_train": len(task.train),
            "n_heldout": len(task.heldout),
            "fingerprint": evaluator.fingerprint,
            "cache": str(self.cache),
            **({} if self.influence is None else {"block_influence": self.influence}),
        }


def _prepare(args: argparse.Namespace, console: Console, names: Sequence[str]) -> _Setup:
    """Load and check everything a run needs before the cache is opened or anything trained."""
    settings = _settings(args)
    cache = args.cache or default_cache()
    _check_writable_target(args.out)
    with console.status("loading data and model"):
        from glpsearch.data import load_task
        from glpsearch.evaluator import Evaluator

        task = load_task(_data_spec(args))
        device = _device(args.device)
        evaluator = Evaluator(args.model, task, settings, device)
    n = evaluator.n_layers
    remove = n // 2 if args.remove is None else args.remove
    if not 1 <= remove < n:
        raise UserError(f"--remove must be between 1 and {n - 1} for a model of {n} layers")
    influence = ranking = None
    if "block-influence" in names:
        with console.status("measuring block influence on the pretrained model"):
            from glpsearch import influence as measure

            influence = measure.block_influence(evaluator)
            ranking = measure.ranking(influence)
    runner = _runner(args, settings, device)
    return _Setup(task, evaluator, settings, cache, remove, influence, ranking, runner)


def _strategies(
    args: argparse.Namespace, names: Sequence[str], setup: _Setup
) -> dict[str, strategies.Strategy]:
    options = strategies.StrategyOptions(
        seed=args.seed, beam_width=args.beam_width, budget=args.budget, ranking=setup.ranking
    )
    built = {name: strategies.make(name, options) for name in names}
    for strategy in built.values():
        _check(strategy, setup.evaluator.n_layers, setup.remove)
    return built


class _Accepted(Exception):
    """Raised by `_check`'s evaluate: the strategy got as far as asking for scores."""


def _stopped_short(result: strategies.SearchResult, outcomes: dict, record: Path) -> int:
    """EXIT_FAILED, with one line on stderr, when every candidate of the last depth failed (which
    ends a search short of --remove); 0 when the search went as deep as asked."""
    from collections import Counter

    last = result.steps[-1] if result.steps else None
    if last is None or last.chosen is not None or not last.candidates:
        return 0
    reasons = Counter(outcomes[removed].failure for removed, _ in last.candidates)
    reason, count = reasons.most_common(1)[0]
    others = "" if count == len(last.candidates) else f" and {len(reasons) - 1} other reasons"
    print(
        f"glpsearch: error: every candidate with {last.depth} layer{'s' * (last.depth > 1)} "
        f"removed failed ({reason}{others}), so the search stopped there; see {record}",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _check(strategy: strategies.Strategy, n_layers: int, remove: int) -> None:
    """Run a strategy up to its first evaluation request, where it has checked its options
    (strategies.BudgetExceeded and the like), so a bad option is one line and exit 2 before
    the unpruned model is scored or the cache touched. Errors after that point are bugs."""

    def accepted(candidates: Sequence[strategies.Layers]) -> list[float | None]:
        raise _Accepted

    try:
        strategy.run(n_layers, remove, accepted)
    except _Accepted:
        return
    except ValueError as exc:  # strategies.BudgetExceeded is one
        raise UserError(str(exc)) from None


def _engine(
    args: argparse.Namespace, setup: _Setup, store: Store, display: Callable[[Event], None]
) -> Engine:
    from glpsearch.engine import Engine

    return Engine(setup.evaluator, store, _seeds(args), display, args.retry_failed, setup.runner)


def _seeds(args: argparse.Namespace) -> tuple[int, ...]:
    """--seed, --seed + 1, ...: a 3-seed run reuses a 1-seed run's fine-tunes."""
    return tuple(range(args.seed, args.seed + args.seeds))


def _runner(args: argparse.Namespace, settings: TrainSettings, device: str) -> Runner | None:
    """Worker processes (or a Dask cluster) when asked for; None computes in this process."""
    if args.scheduler and args.backend != "dask":
        raise UserError("--scheduler goes with --backend dask")
    if args.jobs == 1 and args.backend == "loky":
        return None
    from glpsearch.parallel import JoblibRunner, Recipe

    devices = _devices(args.devices, device)
    recipe = Recipe(args.model, _data_spec(args), settings)
    return JoblibRunner(recipe, args.jobs, devices, args.backend, args.scheduler)


def _devices(text: str | None, device: str) -> tuple[str, ...]:
    """--devices as a tuple: a comma list, `auto` for every visible GPU, or the --device."""
    if text is None:
        return (device,)
    if text == "auto":
        import torch

        count = torch.cuda.device_count()
        return tuple(f"cuda:{i}" for i in range(count)) or ("cpu",)
    return tuple(_device(name.strip()) for name in text.split(",") if name.strip())


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
        if value != value or value in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if value < low or (value == low and not inclusive):
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
    _run_arguments(search).add_argument(
        "--strategy",
        default="greedy",
        choices=sorted(strategies.REGISTRY),
        help="(default: greedy)",
    )

    compare = commands.add_parser(
        "compare", help="run several strategies through one cache and compare them"
    )
    compare.set_defaults(run=_compare)
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
    report.set_defaults(run=_report)
    report.add_argument("out_dir", type=Path, metavar="OUT_DIR")

    status = commands.add_parser("status", help="list what a cache holds")
    status.set_defaults(run=_status)
    status.add_argument("--cache", type=Path)
    return parser


def _run_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The options search and compare share; returns the search group for their strategy option."""
    what = parser.add_argument_group("model and data")
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
        "--beam-width",
        type=_number(int, 1),
        default=strategies.StrategyOptions().beam_width,
        help="sets beam keeps per depth (default: %(default)s)",
    )
    how.add_argument(
        "--budget",
        type=_number(int, 1),
        help="random: sets per depth (default: the number of layers); exhaustive: refuse to "
        "start above N evaluations in all (default: no limit)",
    )
    train = parser.add_argument_group("fine-tuning of each candidate")
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
    work = parser.add_argument_group("parallel work")
    work.add_argument(
        "--jobs", type=_number(int, 1), default=1, help="candidates evaluated at once (default: 1)"
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
    files = parser.add_argument_group("files")
    files.add_argument(
        "--cache",
        type=Path,
        help="cache folder (default: $GLPSEARCH_CACHE or the per-user cache folder)",
    )
    files.add_argument("--out", type=Path, default=Path("glp-out"), help="output folder")
    files.add_argument("--quiet", action="store_true", help="no progress or tables")
    return how


def _strategy_names(text: str) -> list[str]:
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    known = ", ".join(sorted(strategies.REGISTRY))
    if not names:
        raise argparse.ArgumentTypeError(f"name at least one strategy, of {known}")
    for name in names:
        if name not in strategies.REGISTRY:
            raise argparse.ArgumentTypeError(f"unknown strategy {name!r}; choose from {known}")
    return names


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
