"""What a run is built from: the options (glpsearch/config.py dataclasses) turned into the cache
folder, fine-tuning settings, a data spec, a checked device, worker processes, the --from folder
and its evaluator, the teacher, the one Engine, and the loaded, checked `Setup` that search and
compare run with. The commands and the API both call these; nothing here knows argparse.
Torch-heavy modules are imported inside functions so --help and `import glpsearch` stay light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from glpsearch import strategies
from glpsearch.config import (
    EMBEDDED_SETTINGS,
    Compare,
    DataSpec,
    DistillSettings,
    Evaluate,
    Export,
    Files,
    From,
    Run,
    Search,
    Speed,
    TrainSettings,
    Work,
)
from glpsearch.data.task import EMBEDDED_TASK, TaskData
from glpsearch.errors import UserError, first_line
from glpsearch.memo import Memo
from glpsearch.options import Given, flag_of
from glpsearch.report.records import Subject, header
from glpsearch.runs.interrupt import heeding
from glpsearch.ship.picking import Target
from glpsearch.store import Store
from glpsearch.strategies.halving import MIN_RUNG_STEPS, floor_budget

if TYPE_CHECKING:  # torch loads only when a command needs it: --help stays fast
    from glpsearch.engine.core import Engine, Event, Runner
    from glpsearch.engine.parallel import Recipe
    from glpsearch.model.evaluator import Evaluator
    from glpsearch.report.outdir import OutDir


@dataclass(frozen=True)
class Told:
    """Everything one command was told, as its option dataclasses (`COMMANDS` says which); a
    `Given` holds only the values given, over a base known once the task or record is."""

    command: Any  # Search, Compare, Evaluate, Export, Speed or pick's Target
    source: From | None = None  # the out folder evaluate, speed and pick read
    data: Given[DataSpec] = field(default_factory=lambda: Given(DataSpec, {}))
    train: Given[TrainSettings] = field(default_factory=lambda: Given(TrainSettings, {}))
    distill: Given[DistillSettings] = field(default_factory=lambda: Given(DistillSettings, {}))
    strategy: strategies.StrategyOptions = field(default_factory=strategies.StrategyOptions)
    work: Work = field(default_factory=Work)
    files: Files = field(default_factory=Files)


_RUN = {"data": DataSpec, "train": TrainSettings, "strategy": strategies.StrategyOptions,
        "work": Work, "files": Files}  # fmt: skip
# Each command's option dataclasses, by the `Told` field they fill: the CLI parses them, the
# API takes them as keywords.
COMMANDS: dict[str, dict[str, type]] = {
    "search": {"command": Search, **_RUN},
    "compare": {"command": Compare, **_RUN},
    "evaluate": {"command": Evaluate, "source": From, "data": DataSpec, "train": TrainSettings,
                 "distill": DistillSettings, "work": Work, "files": Files},
    "export": {"command": Export, "data": DataSpec, "train": TrainSettings,
               "distill": DistillSettings},
    "speed": {"command": Speed, "source": From, "data": DataSpec},
    "pick": {"command": Target, "source": From},
}  # fmt: skip
GIVEN = ("data", "train", "distill")  # the `Told` fields that hold only what was given


def default_cache() -> Path:
    """$GLPSEARCH_CACHE, else the per-user cache folder of this platform."""
    if os.environ.get("GLPSEARCH_CACHE"):
        return Path(os.environ["GLPSEARCH_CACHE"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("glpsearch"))


def cache_of(given: Path | None) -> Path:
    """The cache folder given, else the default one."""
    return given or default_cache()


# -- options into what a run runs with ---------------------------------------------------------
def train_settings(
    train: Given[TrainSettings], data: DataSpec, base: TrainSettings | None = None
) -> TrainSettings:
    """The fine-tuning options given; the others from `base` (a --from record's settings), else
    the defaults of the task."""
    if base is None:
        embedded = data.task in (None, EMBEDDED_TASK) and not data.train and not data.dataset
        base = EMBEDDED_SETTINGS if embedded else TrainSettings()
    return train.over(base)


def distill_settings(
    distill: bool, given: Given[DistillSettings], seed: int
) -> DistillSettings | None:
    """--distill's settings, None without it; the teacher's seed is --seed."""
    if not distill:
        if given.values:
            named = flag_of(DistillSettings, next(iter(given.values)))
            raise UserError(f"{named} goes with --distill")
        return None
    return replace(given.over(), teacher_seed=seed)


def data_spec(given: Given[DataSpec], base: DataSpec | None = None) -> DataSpec:
    """The task options given; with `base` (a --from record's task) and none of task, dataset,
    train, that task with the options given on top."""
    if base is not None and not {"task", "dataset", "train"} & set(given.values):
        return given.over(base)
    return given.over()


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
        why = first_line(exc, 120)
        raise UserError(
            f"--device {name} cannot run a model on this machine ({why}); use cpu or cuda"
        ) from None
    return name


def open_store(cache: Path) -> Store:
    """The cache, its score and failure rows checked for the shape the engine reads."""
    from glpsearch.scoring.score import readable

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


def seeds_of(seed: int, count: int) -> tuple[int, ...]:
    """seed, seed + 1, ...: a 3-seed run reuses a 1-seed run's fine-tunes."""
    return tuple(range(seed, seed + count))


def make_runner(work: Work, recipe: Recipe, device: str) -> Runner | None:
    """Worker processes (or a Dask cluster) when asked for; None computes in this process.
    `--jobs auto` measures one candidate on the first GPU and seats as many workers on each GPU
    as its free memory holds (one on a CPU, where one fine-tune already uses every core)."""
    if work.scheduler and work.backend != "dask":
        raise UserError("--scheduler goes with --backend dask")
    jobs, devices = work.jobs, None
    if jobs == "auto":
        if work.scheduler:
            raise UserError("--jobs auto sizes local workers; give a number with --scheduler")
        from glpsearch.engine.placement import auto_seats

        devices = auto_seats(recipe, _devices(work.devices, device))
        jobs = len(devices)
    if jobs == 1 and work.backend == "loky":
        return None
    from glpsearch.engine.parallel import JoblibRunner

    devices = devices or _devices(work.devices, device)
    return JoblibRunner(recipe, jobs, devices, work.backend, work.scheduler)


def _devices(names: Sequence[str] | None, device: str) -> tuple[str, ...]:
    """--devices: each named, `auto` for every visible GPU, or the --device."""
    if names is None:
        return (device,)
    if tuple(names) == ("auto",):
        import torch

        count = torch.cuda.device_count()
        return tuple(f"cuda:{i}" for i in range(count)) or ("cpu",)
    return tuple(resolve_device(name) for name in names)


# -- the --from folder -------------------------------------------------------------------------
def read_from(out_dir: Path | None) -> OutDir | None:
    """The out folder --from names, read; None without --from."""
    if out_dir is None:
        return None
    from glpsearch.report.outdir import OutDir

    return OutDir.read(out_dir)


def recipe_of(
    model: str | None,
    data: DataSpec,
    folder: OutDir | None,
    settings: TrainSettings,
    final: bool = False,
    distill: DistillSettings | None = None,
    cache: Path | None = None,
) -> Recipe:
    """The model and task the options name, the --from record's for those not given; `final`:
    the task's final protocol (all training data, scored on the dev set); `distill`: students of
    a teacher kept in the cache (`prepare_teacher` trains it)."""
    from glpsearch.engine.parallel import Recipe
    from glpsearch.store.cache import teacher_folder

    model = model or (None if folder is None else folder.model)
    teachers = None if distill is None else teacher_folder(cache_of(cache))
    return Recipe(model, data, settings, final, distill, teachers)


def prepare_teacher(console: Console, evaluator: Evaluator) -> dict:
    """Read or fine-tune the teacher of a distilled run before any student (open the store
    first: it makes the cache folder); what a record says of it."""
    from glpsearch.scoring.score import CandidateFailed

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


def make_engine(
    evaluator: Evaluator,
    store: Store,
    seeds: Sequence[int],
    display: Callable[[Event], None],
    retry_failed: bool,
    runner: Runner | None,
    checkpoint_space: float | None = None,
) -> Engine:
    """The one place an Engine is built: Ctrl-C heeded at each event, greedy-halving's
    checkpoints bounded to `checkpoint_space` GB (None: unbounded)."""
    from glpsearch.engine.core import Engine

    return Engine(
        evaluator,
        store,
        tuple(seeds),
        heeding(display),
        retry_failed,
        runner,
        None if checkpoint_space is None else round(checkpoint_space * 1e9),
    )


# -- what search and compare run with ----------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """The loaded task and evaluator, the checked depth, the strategies' options (the
    block-influence ranking if any strategy reads it, greedy-halving's shortest fine-tune), and
    what the run was told."""

    run: Run
    task: TaskData
    data: DataSpec
    evaluator: Evaluator
    recipe: Recipe
    settings: TrainSettings
    cache: Path
    remove: int
    influence: list[float] | None
    options: strategies.StrategyOptions  # seed, ranking and min_budget filled in
    runner: Runner | None  # close() it when the run ends
    memo: Memo  # what loading learned: save() it once the store is open

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds every candidate starts with: racing (`--seeds auto`) starts with one."""
        return seeds_of(self.run.seed, 1 if self.run.seeds == "auto" else self.run.seeds)

    def engine(self, store: Store, display: Callable[[Event], None]) -> Engine:
        return make_engine(
            self.evaluator, store, self.seeds, display, self.run.retry_failed, self.runner,
            self.run.checkpoint_space,
        )  # fmt: skip

    def summary(self) -> str:
        task, evaluator = self.task, self.evaluator
        return (
            f"remove {self.remove} of {evaluator.n_layers} layers of {evaluator.model_name} on "
            f"{task.name} ({classes(task.label_names)}; {len(task.train)} train / "
            f"{len(task.heldout)} held-out, {task.metric}); cache {self.cache} "
            f"[dim]fingerprint {evaluator.fingerprint}[/]"
        )

    def header(self, **command: object) -> dict:
        """The settings a record of this run starts with, after the command's own (`command`)."""
        task, evaluator, options = self.task, self.evaluator, self.options
        run = {
            "remove": self.remove,
            "seed": self.run.seed,
            "seeds": list(self.seeds),
            "beam_width": options.beam_width,
            "budget": options.max_evaluations,  # the record keeps its old key
            "min_budget": options.min_budget,
            "eta": options.eta,
            "settings": asdict(self.settings),
            "n_train": len(task.train),
            "n_heldout": len(task.heldout),
            "fingerprint": evaluator.fingerprint,
            "cache": str(self.cache),
            **({} if self.influence is None else {"block_influence": self.influence}),
            **({} if options.max_seeds is None else {"max_seeds": options.max_seeds}),
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


def prepare(told: Told, console: Console, task: TaskData | None = None) -> Setup:
    """Load and check everything a search or compare needs before the cache is opened or
    anything trained. `task`: data given in memory (the API), instead of the one the options
    name; no `files.out`: nothing to write (the API)."""
    run, names, options, work = told.command, told.command.names, told.strategy, told.work
    max_seeds = racing_cap(run.seeds, options.max_seeds)  # refused before anything loads
    spec = data_spec(told.data)
    settings = train_settings(told.train, spec)
    cache = cache_of(told.files.cache)
    if told.files.out is not None:
        check_writable_target(told.files.out)
    memo = Memo(cache)
    with console.status("loading data and model"), memo.active():
        from glpsearch.data.task import load_task

        task = load_task(spec) if task is None else task
        device = resolve_device(work.device)
        recipe = recipe_of(run.model, spec, None, settings)
        evaluator = recipe.build(device, task)
    n = evaluator.n_layers
    remove = n // 2 if run.remove is None else run.remove
    if not 1 <= remove < n:
        raise UserError(f"--remove must be between 1 and {n - 1} for a model of {n} layers")
    influence = ranking = None
    if strategies.reading("ranking", names):
        with console.status("measuring block influence on the pretrained model"):
            from glpsearch.model import influence as measure

            influence = measure.block_influence(evaluator)
            ranking = measure.ranking(influence)
    min_budget = run.min_budget
    if min_budget is None:
        default = strategies.StrategyOptions().min_budget
        min_budget = floor_budget(default, options.eta, evaluator.total_steps)
        halving = strategies.reading("min_budget", names)
        if halving and min_budget != default:
            console.print(
                f"{', '.join(halving)}: shortest fine-tune {min_budget:g} of "
                f"{evaluator.total_steps} steps, the first of at least {MIN_RUNG_STEPS} "
                "(--min-budget sets it)"
            )
    runner = make_runner(work, recipe, device)
    options = replace(
        options,
        seed=run.seed,
        ranking=ranking,
        min_budget=min_budget,
        max_seeds=max_seeds,
    )
    return Setup(
        run, task, spec, evaluator, recipe, settings, cache, remove, influence, options, runner,
        memo,
    )  # fmt: skip


def racing_cap(seeds: int | str, max_seeds: int | None) -> int | None:
    """The most seeds a raced candidate gets: --max-seeds, else DEFAULT_MAX_SEEDS with --seeds
    auto; None: no racing (every candidate gets --seeds seeds)."""
    if seeds == "auto":
        return max_seeds or strategies.DEFAULT_MAX_SEEDS
    if max_seeds is not None and max_seeds < seeds:
        raise UserError(f"--max-seeds {max_seeds} is fewer than --seeds {seeds}")
    return max_seeds


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
