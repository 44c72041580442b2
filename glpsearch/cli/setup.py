"""What the commands share: exit codes, the cache folder, the options turned into fine-tuning
settings, a data spec, a checked device and parallel workers, the --from folder and its
evaluator, and the loaded, checked `Setup` that search and compare run with. Nothing here
imports a command; torch-heavy modules are imported inside functions so --help stays fast."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from glpsearch import strategies
from glpsearch.cli.interrupt import heeding
from glpsearch.config import EMBEDDED_SETTINGS, DataSpec, DistillSettings, TrainSettings
from glpsearch.data import EMBEDDED_TASK, TaskData
from glpsearch.errors import UserError
from glpsearch.memo import Memo
from glpsearch.records import Subject, header
from glpsearch.store import Store
from glpsearch.strategies.halving import MIN_RUNG_STEPS, floor_budget

if TYPE_CHECKING:  # torch loads only when a command needs it: --help stays fast
    from glpsearch.engine import Engine, Event, Runner
    from glpsearch.evaluator import Evaluator
    from glpsearch.outdir import OutDir
    from glpsearch.parallel import Recipe

EXIT_FAILED = 1  # every candidate of a depth failed: the search stopped short of --remove
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# stdout that is a file or a pipe (a log, CI, a notebook's subprocess) gets tables this wide:
# rich would otherwise fit them into 80 columns and cut their numbers short ("0.01…").
LOG_WIDTH = 200


def output(quiet: bool = False) -> Console:
    """Where tables and results go: stdout, as wide as the terminal, or LOG_WIDTH when it is not
    one (and $COLUMNS does not say otherwise)."""
    console = Console(quiet=quiet)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(quiet=quiet, width=LOG_WIDTH)


def default_cache() -> Path:
    """$GLPSEARCH_CACHE, else the per-user cache folder of this platform."""
    if os.environ.get("GLPSEARCH_CACHE"):
        return Path(os.environ["GLPSEARCH_CACHE"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("glpsearch"))


# -- options into what a command runs with ----------------------------------------------------
def train_settings(args: argparse.Namespace, base: TrainSettings | None = None) -> TrainSettings:
    """The fine-tuning options given; the others from `base` (a --from record's settings), else
    the defaults of the task."""
    if args.warmup_ratio is not None and args.warmup_ratio > 1:
        raise UserError("--warmup-ratio must be between 0 and 1")
    if base is None:
        embedded = args.task in (None, EMBEDDED_TASK) and not args.train and not args.dataset
        base = EMBEDDED_SETTINGS if embedded else TrainSettings()
    given = {f.name: getattr(args, f.name, None) for f in fields(TrainSettings)}
    return replace(base, **{name: value for name, value in given.items() if value is not None})


def distill_settings(args: argparse.Namespace) -> DistillSettings | None:
    """--distill's settings, None without it; the teacher's seed is --seed."""
    given = {
        "alpha": args.distill_alpha,
        "temperature": args.distill_temperature,
        "hidden": args.distill_hidden or None,
    }
    if not args.distill:
        named = [f"--distill-{name}" for name, value in given.items() if value is not None]
        if named:
            raise UserError(f"{named[0]} goes with --distill")
        return None
    if args.distill_alpha is not None and args.distill_alpha > 1:
        raise UserError("--distill-alpha must be between 0 and 1")
    settings = {name: value for name, value in given.items() if value is not None}
    return DistillSettings(**settings, teacher_seed=args.seed)


def data_spec(args: argparse.Namespace, base: DataSpec | None = None) -> DataSpec:
    """The task options given; with `base` (a --from record's task) and none of --task,
    --dataset, --train, that task with the options given on top."""
    columns = None
    if args.text_columns is not None:
        columns = tuple(c.strip() for c in args.text_columns.split(","))
    given = {
        "task": args.task,
        "dataset": getattr(args, "dataset", None),
        "dataset_config": getattr(args, "dataset_config", None),
        "train_split": getattr(args, "train_split", None),
        "validation_split": getattr(args, "validation_split", None),
        "train": args.train,
        "validation": args.validation,
        "text_columns": columns,
        "label_column": args.label_column,
        "regression": args.regression,
        "train_limit": args.train_limit,
        "header": getattr(args, "header", None),
        "quoting": getattr(args, "quoting", None),
    }
    given = {name: value for name, value in given.items() if value is not None}
    where = {"task", "dataset", "train"}
    if base is not None and not where & set(given):
        return replace(base, **given)
    return DataSpec(**given)


def resolve_device(name: str) -> str:
    """A device torch can compute on here (tried once, before anything is trained)."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available; use --device cpu")
    try:
        torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; use cpu, cuda or cuda:N") from None
    try:  # checked once here: a device that cannot compute would fail every candidate
        probe = torch.ones(2, 2, device=name)
        (probe @ probe).sum().item()
    except Exception as exc:  # meta has no values; mps, xla, ipu need their own builds
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
        raise UserError(
            f"--device {name} cannot run a model on this machine ({why}); use cpu or cuda"
        ) from None
    return name


def open_store(cache: Path) -> Store:
    """The cache, its score and failure rows checked for the shape the engine reads."""
    from glpsearch.score import readable

    return Store(cache, readable)


# The records that make a folder glpsearch's own, and every file glpsearch writes next to them.
RECORDS = ("search.json", "compare.json", "evaluate.json")
OUTPUTS = (*RECORDS, "speed.json", "layers.txt", "search.csv", "search.png", "compare.csv",
           "compare.png", "tradeoff.png")  # fmt: skip


def check_writable_target(out: Path) -> None:
    """Refuse an --out that glpsearch cannot write, or would write over a user's own files in.

    The rule: the folder is missing, empty (hidden files and a glpsearch cache folder aside), or
    holds a record glpsearch wrote there (search.json, compare.json or evaluate.json); any file
    glpsearch writes must be a file, not a folder.
    """
    target = out
    while not target.exists():
        target = target.parent
    if not target.is_dir() or not os.access(target, os.W_OK):
        raise UserError(f"cannot write the output folder {out}; choose another --out")
    if target != out:
        return
    for name in OUTPUTS:
        if (out / name).exists() and not (out / name).is_file():
            raise UserError(f"{out / name} is not a file; choose another --out folder")
    theirs = [
        p.name
        for p in out.iterdir()
        if not p.name.startswith(".") and not (p.is_dir() and (p / "cache.db").is_file())
    ]
    if theirs and not any((out / name).is_file() for name in RECORDS):
        shown = ", ".join(sorted(theirs)[:3]) + (", ..." if len(theirs) > 3 else "")
        raise UserError(
            f"--out {out} holds files glpsearch did not write ({shown}); choose a new or empty "
            "folder"
        )


def seeds_of(args: argparse.Namespace) -> tuple[int, ...]:
    """--seed, --seed + 1, ...: a 3-seed run reuses a 1-seed run's fine-tunes."""
    return tuple(range(args.seed, args.seed + args.seeds))


def make_runner(args: argparse.Namespace, recipe: Recipe, device: str) -> Runner | None:
    """Worker processes (or a Dask cluster) when asked for; None computes in this process.
    `--jobs auto` measures one candidate on the first GPU and seats as many workers on each GPU
    as its free memory holds (one on a CPU, where one fine-tune already uses every core)."""
    if args.scheduler and args.backend != "dask":
        raise UserError("--scheduler goes with --backend dask")
    jobs, devices = args.jobs, None
    if jobs == "auto":
        if args.scheduler:
            raise UserError("--jobs auto sizes local workers; give a number with --scheduler")
        from glpsearch.placement import auto_seats

        devices = auto_seats(recipe, _devices(args.devices, device))
        jobs = len(devices)
    if jobs == 1 and args.backend == "loky":
        return None
    from glpsearch.parallel import JoblibRunner

    devices = devices or _devices(args.devices, device)
    return JoblibRunner(recipe, jobs, devices, args.backend, args.scheduler)


def _devices(text: str | None, device: str) -> tuple[str, ...]:
    """--devices as a tuple: a comma list, `auto` for every visible GPU, or the --device."""
    if text is None:
        return (device,)
    if text == "auto":
        import torch

        count = torch.cuda.device_count()
        return tuple(f"cuda:{i}" for i in range(count)) or ("cpu",)
    return tuple(resolve_device(name.strip()) for name in text.split(",") if name.strip())


# -- the --from folder ------------------------------------------------------------------------
def read_from(out_dir: Path | None) -> OutDir | None:
    """The out folder --from names, read; None without --from."""
    if out_dir is None:
        return None
    from glpsearch.outdir import OutDir

    return OutDir.read(out_dir)


def load_evaluator(
    args: argparse.Namespace,
    folder: OutDir | None,
    settings: TrainSettings,
    device: str,
    final: bool = False,
    distill: DistillSettings | None = None,
) -> Evaluator:
    """The model and task the options name, the --from record's for those not given; `final`:
    the task's final protocol (all training data, scored on the dev set); `distill`: students of
    a teacher kept in the cache (`prepare_teacher` trains it)."""
    from glpsearch.parallel import Recipe
    from glpsearch.store.cache import teacher_folder

    data = data_spec(args, None if folder is None else folder.data_spec())
    model = args.model or (None if folder is None else folder.model)
    teachers = None if distill is None else teacher_folder(args.cache or default_cache())
    return Recipe(model, data, settings, final, distill, teachers).build(device)


def prepare_teacher(console: Console, evaluator: Evaluator) -> dict:
    """Read or fine-tune the teacher of a distilled run before any student (open the store
    first: it makes the cache folder); what a record says of it."""
    from glpsearch.score import CandidateFailed

    assert evaluator.distill is not None
    seed = evaluator.distill.teacher_seed
    with console.status("loading the teacher") as status:

        def progress(step: int, total: int) -> None:
            status.update(
                f"fine-tuning the teacher (unpruned, seed {seed}): step {step} of {total}"
            )

        try:
            teacher = evaluator.teacher(progress)
        except CandidateFailed as exc:
            raise UserError(f"the teacher's fine-tune failed: {exc}") from None
    return {
        "settings": asdict(evaluator.distill),
        "fingerprint": evaluator.fingerprint,
        "teacher": {
            "fingerprint": evaluator.plain_fingerprint,
            "seed": seed,
            "train_seconds": round(teacher.seconds, 3),
        },
    }


# -- what search and compare run with ---------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """The loaded task and evaluator, the checked depth, and the block-influence ranking if any
    strategy reads it."""

    task: TaskData
    data: DataSpec
    evaluator: Evaluator
    settings: TrainSettings
    cache: Path
    remove: int
    influence: list[float] | None
    ranking: tuple[int, ...] | None
    min_budget: float  # greedy-halving's shortest fine-tune (see `prepare`)
    runner: Runner | None  # close() it when the run ends
    memo: Memo  # what loading learned: save() it once the store is open

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()

    def summary(self) -> str:
        task, evaluator = self.task, self.evaluator
        return (
            f"remove {self.remove} of {evaluator.n_layers} layers of {evaluator.model_name} on "
            f"{task.name} ({classes(task.label_names)}; {len(task.train)} train / "
            f"{len(task.heldout)} held-out, {task.metric}); cache {self.cache} "
            f"[dim]fingerprint {evaluator.fingerprint}[/]"
        )

    def header(self, args: argparse.Namespace, **command: object) -> dict:
        """The settings a record of this run starts with, after the command's own (`command`)."""
        task, evaluator = self.task, self.evaluator
        run = {
            "remove": self.remove,
            "seed": args.seed,
            "seeds": list(seeds_of(args)),
            "beam_width": args.beam_width,
            "budget": args.max_evaluations,  # the record keeps its old key
            "min_budget": self.min_budget,
            "eta": args.eta,
            "settings": asdict(self.settings),
            "n_train": len(task.train),
            "n_heldout": len(task.heldout),
            "fingerprint": evaluator.fingerprint,
            "cache": str(self.cache),
            **({} if self.influence is None else {"block_influence": self.influence}),
        }
        return header(
            Subject.of(evaluator),
            command,
            run,
            model_dir=str(evaluator.model_dir),
            source=task.source,
            data=_spec_record(self.data),
            labels=task.label_names,
        )


def classes(names: list[str] | None, most: int = 6) -> str:
    """The task's class names as a table shows them, e.g. `classes neg, pos`."""
    if names is None:
        return "a score"
    shown = ", ".join(names[:most]) + (f", ... ({len(names)} in all)" if len(names) > most else "")
    return f"classes {shown}"


def prepare(
    args: argparse.Namespace, console: Console, names: Sequence[str], task: TaskData | None = None
) -> Setup:
    """Load and check everything a run needs before the cache is opened or anything trained.
    `task`: data given in memory (the API), instead of the one the options name; no
    `args.out`: nothing to write (the API)."""
    settings = train_settings(args)
    cache = args.cache or default_cache()
    if args.out is not None:
        check_writable_target(args.out)
    memo = Memo(cache)
    with console.status("loading data and model"), memo.active():
        from glpsearch.data import load_task
        from glpsearch.parallel import Recipe

        data = data_spec(args)
        task = load_task(data) if task is None else task
        device = resolve_device(args.device)
        recipe = Recipe(args.model, data, settings)
        evaluator = recipe.build(device, task)
    n = evaluator.n_layers
    remove = n // 2 if args.remove is None else args.remove
    if not 1 <= remove < n:
        raise UserError(f"--remove must be between 1 and {n - 1} for a model of {n} layers")
    influence = ranking = None
    if strategies.reading("ranking", names):
        with console.status("measuring block influence on the pretrained model"):
            from glpsearch import influence as measure

            influence = measure.block_influence(evaluator)
            ranking = measure.ranking(influence)
    min_budget = args.min_budget
    if min_budget is None:
        default = strategies.StrategyOptions().min_budget
        min_budget = floor_budget(default, args.eta, evaluator.total_steps)
        halving = strategies.reading("min_budget", names)
        if halving and min_budget != default:
            console.print(
                f"{', '.join(halving)}: shortest fine-tune {min_budget:g} of "
                f"{evaluator.total_steps} steps, the first of at least {MIN_RUNG_STEPS} "
                "(--min-budget sets it)"
            )
    runner = make_runner(args, recipe, device)
    return Setup(
        task, data, evaluator, settings, cache, remove, influence, ranking, min_budget, runner, memo
    )


def make_engine(
    args: argparse.Namespace, setup: Setup, store: Store, display: Callable[[Event], None]
) -> Engine:
    from glpsearch.engine import Engine

    return Engine(
        setup.evaluator,
        store,
        seeds_of(args),
        heeding(display),
        args.retry_failed,
        setup.runner,
        round(args.checkpoint_space * 1e9),
    )


def _spec_record(spec: DataSpec) -> dict:
    """A DataSpec as JSON, paths made absolute, so `--from` finds the data from anywhere."""
    record = asdict(spec)
    for name in ("train", "validation"):
        if record[name] is not None:
            record[name] = str(Path(record[name]).resolve())
    for name in ("task", "dataset"):  # a folder, not a task or hub name
        if record[name] is not None and Path(record[name]).exists():
            record[name] = str(Path(record[name]).resolve())
    return record
