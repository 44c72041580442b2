"""The `glpsearch` command. Bad input ends in one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, fields, replace
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
    from glpsearch.outdir import OutDir
    from glpsearch.parallel import Recipe

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
    with _sticky_interrupt():
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


def run() -> None:
    """The `glpsearch` command. After Ctrl-C every finished result is already committed, so it
    exits at once: waiting on libraries' teardown (worker pools, native thread pools) can hang
    or abort a process that was told to stop."""
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


_interrupted = threading.Event()


@contextmanager
def _sticky_interrupt() -> Iterator[None]:
    """Ctrl-C that stays pressed: a KeyboardInterrupt that lands in a library's cleanup code
    (one raised in a __del__ is printed and dropped) is raised again at the next engine event
    (`_heeding`). Only the main thread can set signal handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        _interrupted.set()
        raise KeyboardInterrupt

    _interrupted.clear()
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _heeding(display: Callable[[Event], None]) -> Callable[[Event], None]:
    """The display, raising KeyboardInterrupt again once Ctrl-C was pressed (see above)."""

    def on_event(event: Event) -> None:
        if _interrupted.is_set() and threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt
        display(event)

    return on_event


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
    from glpsearch import tradeoff
    from glpsearch.report import redraw, table, totals

    out = Console()
    for record, written in redraw(args.out_dir):
        out.print(table(record))
        out.print(totals(record))
        out.print("wrote " + ", ".join(str(p) for p in written))
    drawn = tradeoff.draw(_from(args.out_dir))
    if drawn is not None:
        out.print(f"wrote {drawn}")
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


def _export(args: argparse.Namespace) -> int:
    from glpsearch.export import ExportPlan, check_target, export

    console = Console(stderr=True, quiet=args.quiet)
    check_target(args.out)
    folder = _from(args.from_dir)
    if args.remove is not None:
        if args.strategy is not None:
            raise UserError("--strategy goes with --layers-removed, not --remove")
        plan = ExportPlan(args.remove, args.finetune, args.seed)
    elif folder is None or args.layers_removed is None:
        raise UserError(
            "say which layers to export: --from OUT_DIR --layers-removed N, or --remove I,J,..."
        )
    else:
        chosen = folder.depth(args.strategy, args.layers_removed)
        plan = ExportPlan(chosen.removed, args.finetune, args.seed, chosen.strategy)
    with console.status("loading data and model") as status:
        settings = _settings(args, None if folder is None else folder.settings())
        evaluator = _evaluator(args, folder, settings, _device(args.device), args.finetune)
        status.update("fine-tuning" if args.finetune else "exporting")
        written = export(
            evaluator,
            plan,
            args.out,
            folder,
            lambda step, total: status.update(f"fine-tuning: step {step} of {total}"),
        )
    out = Console(quiet=args.quiet)
    removed = " ".join(map(str, plan.removed)) or "none"
    out.print(
        f"exported {evaluator.model_name} without layers {removed} "
        f"({evaluator.n_layers - len(plan.removed)} of {evaluator.n_layers} kept, "
        f"{'fine-tuned' if plan.finetune else 'not fine-tuned'}) to {args.out}"
    )
    out.print("wrote " + ", ".join(p.name for p in written))
    return 0


def _speed(args: argparse.Namespace) -> int:
    from glpsearch import speed, tradeoff

    console = Console(stderr=True, quiet=args.quiet)
    folder = _from(args.from_dir)
    assert folder is not None  # --from is required
    if not os.access(folder.path, os.W_OK):
        raise UserError(f"cannot write to {folder.path}; copy the folder somewhere writable first")
    devices = _speed_devices(args.devices)
    settings = speed.SpeedSettings(
        args.batch_sizes, devices, **({} if args.repeats is None else {"repeats": args.repeats})
    )
    models = folder.models()
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    with console.status("loading data and model") as status:
        evaluator = _evaluator(args, folder, folder.settings(), "cpu")
        if args.seq_length is None:
            length, rule = speed.sequence_length(evaluator)
        elif args.seq_length > evaluator.settings.max_length:
            raise UserError(
                f"--seq-length {args.seq_length} is longer than the search's --max-length "
                f"{evaluator.settings.max_length}"
            )
        else:
            length, rule = args.seq_length, "--seq-length"
        measured = speed.measure(evaluator, models, settings, length, status.update)
    chosen_by = {
        key: [{"strategy": d.strategy, "depth": d.depth} for d in depths]
        for key, depths in models.items()
    }
    header = {
        "glpsearch": __version__,
        "from": folder.selection.name,
        **{key: folder.record[key] for key in ("model", "task", "metric", "n_layers")},
    }
    record = speed.speed_record(header, measured, chosen_by, settings, length, rule)
    written = [speed.write_speed(folder.path, record)]
    written.append(tradeoff.draw(replace(folder, speed=record)))
    out = Console(quiet=args.quiet)
    out.print(speed.table(record))
    out.print("wrote " + ", ".join(str(p) for p in written))
    warning = speed.noise(record)
    if warning is not None:
        print(f"glpsearch: warning: {warning}", file=sys.stderr)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    """The paper's final protocol for every depth of a search or compare: each model fine-tuned
    on all training data and scored on the dev set over --seeds seeds, through the cache."""
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    folder = _from(args.from_dir)
    assert folder is not None  # --from is required
    out = args.out or folder.path
    _check_writable_target(out)
    depths = [
        d
        for d in folder.depths()
        if (args.strategies is None or d.strategy in args.strategies)
        and (args.layers_removed is None or d.depth <= args.layers_removed)
    ]
    if not depths:
        raise UserError(f"{folder.selection} holds none of {', '.join(args.strategies)}")
    from glpsearch import final
    from glpsearch.parallel import Recipe
    from glpsearch.progress import Display

    with console.status("loading data and model"):
        settings = _settings(args, folder.settings())
        device = _device(args.device)
        data = _data_spec(args, folder.data_spec())
        evaluator = _evaluator(args, folder, settings, device, final=True)
        recipe = Recipe(args.model or folder.model, data, settings, final=True)
        runner = _runner(args, recipe, device)
    seeds = _seeds(args)
    cache = args.cache or default_cache()
    task = evaluator.task
    console.print(
        f"[bold]evaluate[/] {len({d.key for d in depths})} models of {folder.selection} with "
        f"{len(seeds)} seed{'s' * (len(seeds) > 1)}: fine-tuned on {len(task.train)} examples, "
        f"scored on {len(task.heldout)} dev examples; cache {cache} "
        f"[dim]fingerprint {evaluator.fingerprint}[/]"
    )
    from glpsearch.engine import Engine

    try:
        with Store(cache) as store, Display(console) as display:
            engine = Engine(evaluator, store, seeds, _heeding(display), args.retry_failed, runner)
            outcomes = final.evaluate(engine, depths)
    finally:
        if runner is not None:
            runner.close()
    header = {
        "glpsearch": __version__,
        "from": str(folder.selection),
        "model": evaluator.model_name,
        "task": task.name,
        "metric": task.metric,
        "n_layers": evaluator.n_layers,
        "settings": asdict(settings),
        "n_train": len(task.train),
        "n_dev": len(task.heldout),
        "fingerprint": evaluator.fingerprint,
        "cache": str(cache),
    }
    record = final.evaluation_record(header, depths, outcomes, seeds)
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    written = final.write_evaluation(out, record)
    view = Console(quiet=args.quiet)
    view.print(final.table(record))
    from glpsearch.report import totals

    view.print(totals(record))
    view.print(f"wrote {written}")
    return 0


def _pick(args: argparse.Namespace) -> int:
    from glpsearch.pick import Target, export_command, pick

    folder = _from(args.from_dir)
    assert folder is not None  # --from is required
    target = Target(args.max_latency_ms, args.min_score, args.device, args.batch_size)
    choice, scores = pick(folder, target)
    timing, score = choice.timing, choice.point.score
    print(
        f"scores: {scores}; latency: {target.device}, batch {target.batch_size}, "
        f"sequence length {folder.speed['seq_length']} (speed.json)"
    )
    print(
        f"pick: {choice.describe()}: score {score:.4f}, {timing['latency_ms']:.2f} ms per batch, "
        f"{timing['speedup']:.2f}x the unpruned model's speed"
    )
    print(f"export it: {export_command(folder, choice)}")
    return 0


# -- what search and compare share ------------------------------------------------------------
@dataclass(frozen=True)
class _Setup:
    """The loaded task and evaluator, the checked depth, and the block-influence ranking if any
    strategy needs it."""

    task: TaskData
    data: DataSpec
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
            "data": _spec_record(self.data),
            "metric": task.metric,
            "n_layers": evaluator.n_layers,
            "remove": self.remove,
            "seed": args.seed,
            "seeds": list(_seeds(args)),
            "beam_width": args.beam_width,
            "budget": args.budget,
            "min_budget": args.min_budget,
            "eta": args.eta,
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

        data = _data_spec(args)
        task = load_task(data)
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
    from glpsearch.parallel import Recipe

    runner = _runner(args, Recipe(args.model, data, settings), device)
    return _Setup(task, data, evaluator, settings, cache, remove, influence, ranking, runner)


def _strategies(
    args: argparse.Namespace, names: Sequence[str], setup: _Setup
) -> dict[str, strategies.Strategy]:
    options = strategies.StrategyOptions(
        seed=args.seed,
        beam_width=args.beam_width,
        budget=args.budget,
        ranking=setup.ranking,
        min_budget=args.min_budget,
        eta=args.eta,
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

    def accepted(
        candidates: Sequence[strategies.Layers], budget: float = 1.0
    ) -> list[float | None]:
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

    return Engine(
        setup.evaluator, store, _seeds(args), _heeding(display), args.retry_failed, setup.runner
    )


def _seeds(args: argparse.Namespace) -> tuple[int, ...]:
    """--seed, --seed + 1, ...: a 3-seed run reuses a 1-seed run's fine-tunes."""
    return tuple(range(args.seed, args.seed + args.seeds))


def _from(out_dir: Path | None) -> OutDir | None:
    """The out folder --from names, read; None without --from."""
    if out_dir is None:
        return None
    from glpsearch.outdir import OutDir

    return OutDir.read(out_dir)


def _evaluator(
    args: argparse.Namespace,
    folder: OutDir | None,
    settings: TrainSettings,
    device: str,
    final: bool = False,
) -> Evaluator:
    """The model and task the options name, the --from record's for those not given; `final`:
    the task's final protocol (all training data, scored on the dev set)."""
    from glpsearch.data import load_task
    from glpsearch.evaluator import Evaluator

    task = load_task(_data_spec(args, None if folder is None else folder.data_spec()))
    model = args.model or (None if folder is None else folder.model)
    return Evaluator(model, task.final() if final else task, settings, device)


def _speed_devices(text: str | None) -> tuple[str, ...]:
    """--devices of `speed`: a comma list; by default the CPU, and CUDA when there is one."""
    if text is None:
        import torch

        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    names = [name.strip() for name in text.split(",") if name.strip()]
    return tuple(dict.fromkeys(_device(name) for name in names)) or ("cpu",)


def _runner(args: argparse.Namespace, recipe: Recipe, device: str) -> Runner | None:
    """Worker processes (or a Dask cluster) when asked for; None computes in this process."""
    if args.scheduler and args.backend != "dask":
        raise UserError("--scheduler goes with --backend dask")
    if args.jobs == 1 and args.backend == "loky":
        return None
    from glpsearch.parallel import JoblibRunner

    devices = _devices(args.devices, device)
    return JoblibRunner(recipe, args.jobs, devices, args.backend, args.scheduler)


def _spec_record(spec: DataSpec) -> dict:
    """A DataSpec as JSON, paths made absolute, so `--from` finds the data from anywhere."""
    record = asdict(spec)
    for name in ("train", "validation"):
        if record[name] is not None:
            record[name] = str(Path(record[name]).resolve())
    if spec.task is not None and Path(spec.task).exists():  # a GLUE folder, not a task name
        record["task"] = str(Path(spec.task).resolve())
    return record


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

    evaluate = commands.add_parser(
        "evaluate",
        help="fine-tune each chosen model on all training data and score it on the dev set, "
        "over several seeds (the paper's final protocol)",
    )
    evaluate.set_defaults(run=_evaluate)
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
    _work_arguments(evaluate)
    _files_arguments(evaluate, None, "where evaluate.json goes (default: the --from folder)")

    status = commands.add_parser("status", help="list what a cache holds")
    status.set_defaults(run=_status)
    status.add_argument("--cache", type=Path)

    export = commands.add_parser(
        "export", help="write a pruned model as a Hugging Face checkpoint with a model card"
    )
    export.set_defaults(run=_export)
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
    export.add_argument("--out", type=Path, required=True, help="the folder to write")
    export.add_argument("--quiet", action="store_true", help="no progress")

    speed = commands.add_parser(
        "speed", help="measure latency, throughput and size of each model of an out folder"
    )
    speed.set_defaults(run=_speed)
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
    pick.set_defaults(run=_pick)
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
    how.add_argument(
        "--min-budget",
        type=_number(float, 0, inclusive=False),
        default=strategies.StrategyOptions().min_budget,
        help="greedy-halving: the shortest fine-tune a candidate gets, as a fraction of the full "
        "one, at most 1 (default: %(default)s)",
    )
    how.add_argument(
        "--eta",
        type=_number(int, 2),
        default=strategies.StrategyOptions().eta,
        help="greedy-halving: 1 in ETA candidates goes on to ETA times the budget "
        "(default: %(default)s)",
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
    files.add_argument("--out", type=Path, default=out, help=out_help)
    files.add_argument("--quiet", action="store_true", help="no progress or tables")


def _work_arguments(parser: argparse.ArgumentParser) -> None:
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


def _train_arguments(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """Fine-tuning options; those not given come from `_settings`'s base."""
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


def _settings(args: argparse.Namespace, base: TrainSettings | None = None) -> TrainSettings:
    """The fine-tuning options given; the others from `base` (a --from record's settings), else
    the defaults of the task."""
    if args.warmup_ratio is not None and args.warmup_ratio > 1:
        raise UserError("--warmup-ratio must be between 0 and 1")
    if base is None:
        embedded = args.task in (None, EMBEDDED_TASK) and not args.train
        base = EMBEDDED_SETTINGS if embedded else TrainSettings()
    given = {f.name: getattr(args, f.name, None) for f in fields(TrainSettings)}
    return replace(base, **{name: value for name, value in given.items() if value is not None})


def _data_spec(args: argparse.Namespace, base: DataSpec | None = None) -> DataSpec:
    """The task options given; with `base` (a --from record's task) and neither --task nor
    --train, that task with the options given on top."""
    columns = None
    if args.text_columns:
        columns = tuple(c.strip() for c in args.text_columns.split(",") if c.strip())
    spec = DataSpec(
        task=args.task,
        train=args.train,
        validation=args.validation,
        text_columns=columns,
        label_column=args.label_column,
        regression=args.regression,
        train_limit=args.train_limit,
    )
    if base is not None and args.task is None and args.train is None:
        given = {f.name: getattr(spec, f.name) for f in fields(DataSpec)}
        spec = replace(base, **{k: v for k, v in given.items() if v not in (None, False)})
    if spec.validation is not None and spec.train is None:
        raise UserError("--validation goes with --train")
    return spec


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
