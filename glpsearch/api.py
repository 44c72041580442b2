"""glpsearch from Python: one function per command. `search`, `compare`, `evaluate`, `speed`,
`pick` and `export` take the command's options as keyword arguments and return what it found
as objects (a record, a DataFrame, the pruned model), writing files only when asked.

The options are declared once, as dataclass fields (glpsearch/config.py); a call's keywords
build those dataclasses directly (glpsearch/options.py), and the run itself is the command's:
`search_with`, `compare_with`, `evaluate_with`, `speed_with`, `pick_with` and `export_with`
take the built options (`runs.Told`), and the CLI's commands call them too and only print and
write. No torch at import: torch-heavy modules load inside the functions that need them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from glpsearch import options as declared_options
from glpsearch import strategies
from glpsearch.config import DataSpec, DistillSettings
from glpsearch.data.task import TaskData
from glpsearch.errors import GLPSearchError, UserError
from glpsearch.report.outdir import OutDir
from glpsearch.report.records import (
    Candidate,  # noqa: F401  (the API's, as glpsearch.Candidate)
    CompareRecord,
    EvaluationRecord,
    SearchRecord,
    Selection,
    SpeedRecord,
    Step,
    Subject,
    entries,
    header,
    steps,
    write_search,
)
from glpsearch.runs.assemble import (
    COMMANDS,
    GIVEN,
    Setup,
    Told,
    cache_of,
    check_writable_target,
    data_spec,
    distill_settings,
    make_engine,
    make_runner,
    open_store,
    prepare,
    prepare_teacher,
    read_from,
    recipe_of,
    resolve_device,
    seeds_of,
    train_settings,
)
from glpsearch.runs.comparison import Comparison, StrategyRun, write_compare
from glpsearch.store import StoreError

if TYPE_CHECKING:  # torch and pandas load only when a function needs them
    import pandas
    import torch

    from glpsearch.engine.core import Outcome
    from glpsearch.engine.parallel import Recipe
    from glpsearch.model.evaluator import Evaluator
    from glpsearch.scoring.reference import Noise
    from glpsearch.ship.exporting import ExportPlan
    from glpsearch.ship.picking import Choice

ModelSource = str | os.PathLike | None
"""A hub id, a model folder, or None for the embedded all-MiniLM-L6-v2."""
Dataset = Any
"""A GLUE task name, a GLUE folder, a data file, None for the embedded task, or in memory: a
`datasets.Dataset` / `DatasetDict` or a pandas DataFrame."""
Folder = str | os.PathLike

_Run = TypeVar("_Run", "SearchRun", "CompareRun")


@dataclass
class _Source:
    """What built the run's models: kept so `model()` and `export()` need no reloading."""

    recipe: Recipe
    task: TaskData
    evaluator: Evaluator
    cache: Path  # where a distilled export's teacher is kept
    built: dict[Recipe, Evaluator] = field(default_factory=dict)  # final and distilled ones

    def evaluator_for(self, finetune: bool, distill: DistillSettings | None = None) -> Evaluator:
        """The run's evaluator; for a fine-tuned model, one of all training data (built once),
        with `distill` one whose fine-tunes are students of the teacher in the cache."""
        if not finetune:
            return self.evaluator
        recipe = replace(self.recipe, final=True)
        if distill is not None:
            from glpsearch.store.cache import teacher_folder

            recipe = replace(recipe, distill=distill, teachers=teacher_folder(self.cache))
        if recipe not in self.built:
            self.built[recipe] = recipe.build(str(self.evaluator.device), self.task)
        return self.built[recipe]


@dataclass
class _Finished:
    """A finished run: its record (what the CLI writes as JSON) and the models it can build."""

    record: Selection
    _source: _Source = field(repr=False)
    _saved: Path | None = field(default=None, init=False, repr=False)  # where `save` wrote it

    def _stem(self) -> str:
        return Path(self.record.FILE).stem

    def to_frame(self) -> pandas.DataFrame:
        """One row per candidate: strategy, step (layers removed), removed set, score, std,
        seeds, whether it was kept, cached or computed, seconds, failure."""
        import pandas

        rows = [
            {
                "strategy": entry["strategy"],
                "step": step.depth,
                "removed": candidate.removed,
                "score": candidate.score,
                "std": candidate.std,
                "seeds": len(candidate.seeds),
                "chosen": candidate.removed == step.chosen,
                "cached": candidate.cached,
                "computed": candidate.computed,
                "seconds": candidate.seconds,
                "failure": candidate.failure,
            }
            for entry in entries(self.record)
            for step in steps(entry)
            for candidate in step.candidates
        ]
        return pandas.DataFrame(rows, columns=_COLUMNS)

    def save(self, out: Folder) -> list[Path]:
        """Write the files the CLI writes to its --out folder; returns their paths."""
        path = Path(out).expanduser()
        write = write_compare if self._stem() == "compare" else write_search
        written = write(path, self.record)
        self._saved = path
        return written

    def model(
        self,
        layers_removed: int,
        finetune: bool = False,
        seed: int = 0,
        strategy: str | None = None,
    ) -> torch.nn.Module:
        """The pruned transformers model: the first `layers_removed` layers of the strategy's
        removal order gone. Its classification head is new (from `seed`) unless `finetune`,
        which fine-tunes it on all training data, held-out part included, as export does."""
        removed = self._outdir().depth(strategy, layers_removed).removed
        evaluator = self._source.evaluator_for(finetune)
        if finetune:
            return evaluator.train(removed, seed)
        return evaluator.build(removed, seed)

    def export(
        self,
        folder: Folder,
        layers_removed: int,
        finetune: bool = False,
        seed: int = 0,
        strategy: str | None = None,
        push_to_hub: str | None = None,
        private: bool = False,
        distill: bool | DistillSettings = False,
        progress: bool = False,
    ) -> list[Path]:
        """Write the pruned model as a Hugging Face checkpoint with its model card, as
        `glpsearch export` does (through the same code); returns the files written.
        `push_to_hub` ("namespace/name") then uploads the folder to that model repo (a token is
        needed: `hf auth login`), and the card's usage names the repo. `distill` (True, or its
        settings) fine-tunes it as a student of the unpruned model (with `finetune`)."""
        from glpsearch.ship.exporting import ExportPlan

        path = Path(folder).expanduser()
        settings = None
        if distill is not False:
            chosen = DistillSettings() if distill is True else distill
            settings = replace(chosen, teacher_seed=seed)
        _check_export(path, push_to_hub, private, settings, finetune)
        depth = self._outdir().depth(strategy, layers_removed)
        plan = ExportPlan(depth.removed, finetune, seed, depth.strategy)
        evaluator = self._source.evaluator_for(finetune, settings)
        exported = _export(evaluator, plan, path, self._outdir(), push_to_hub, private,
                           self._source.cache, _console(progress))  # fmt: skip
        return exported.files

    def _outdir(self) -> OutDir:
        """The run read as an out folder: the saved one once `save` wrote it."""
        where = self._saved or Path(".")
        selection = where / f"{self._stem()}.json" if self._saved else Path(f"{self._stem()}()")
        return OutDir(where, selection, self.record, None, None)


_COLUMNS = ["strategy", "step", "removed", "score", "std", "seeds", "chosen", "cached",
            "computed", "seconds", "failure"]  # fmt: skip


@dataclass
class SearchRun(_Finished):
    """What `search` returns. `record` is search.json's content."""

    record: SearchRecord
    result: strategies.SearchResult = field(repr=False)
    baseline: Outcome = field(repr=False)  # the unpruned model's score
    outcomes: dict[strategies.Layers, Outcome] = field(repr=False)  # every set scored

    @property
    def order(self) -> list[int] | None:
        """The removal order (GLP's layer file), None when the strategy's sets do not nest."""
        return self.record["order"]

    @property
    def steps(self) -> list[Step]:
        """Each depth's candidates with their scores, and the set kept."""
        return steps(self.record)


@dataclass
class CompareRun(_Finished):
    """What `compare` returns. `record` is compare.json's content."""

    record: CompareRecord
    runs: list[StrategyRun] = field(repr=False)  # each strategy's result and outcomes

    @property
    def orders(self) -> dict[str, list[int] | None]:
        """Each strategy's removal order."""
        return {entry["strategy"]: entry["order"] for entry in entries(self.record)}

    @property
    def steps(self) -> dict[str, list[Step]]:
        """Each strategy's depths, as `SearchRun.steps`."""
        return {entry["strategy"]: steps(entry) for entry in entries(self.record)}


@dataclass
class Evaluation:
    """What `evaluate` returns. `record` is evaluate.json's content."""

    record: EvaluationRecord

    def to_frame(self) -> pandas.DataFrame:
        """One row per strategy and depth: removed set, dev mean and std over the seeds, each
        seed's score, the held-out score of the search, and the distilled mean if any."""
        import pandas

        rows = [
            {
                "strategy": r["strategy"],
                "depth": r["depth"],
                "removed": tuple(r["removed"]),
                "mean": r["mean"],
                "std": r["std"],
                "scores": r["scores"],
                "heldout": r["heldout"],
                "distilled": r.get("distilled", {}).get("mean"),
            }
            for r in self.record["results"]
        ]
        return pandas.DataFrame(rows)

    def save(self, out: Folder) -> Path:
        """Write evaluate.json to `out`, as the command does; returns its path."""
        return self.record.write(Path(out).expanduser())


@dataclass
class Speeds:
    """What `speed` returns. `record` is speed.json's content."""

    record: SpeedRecord
    _folder: OutDir = field(repr=False)

    def to_frame(self) -> pandas.DataFrame:
        """One row per model, device and batch size: its size, latency, throughput, speedup."""
        import pandas

        rows = [
            {
                "removed": tuple(m["removed"]),
                "layers": m["layers"],
                "parameters": m["parameters"],
                "file_bytes": m["file_bytes"],
                **{k: t[k] for k in _TIMING},
            }
            for m in self.record["models"]
            for t in m["timings"]
        ]
        return pandas.DataFrame(rows)

    def save(self, out: Folder) -> list[Path]:
        """Write speed.json and tradeoff.png to `out`, as the command does; their paths."""
        from glpsearch.report import tradeoff

        path = Path(out).expanduser()
        written = [self.record.write(path)]
        written.append(tradeoff.draw(replace(self._folder, path=path, speed=self.record)))
        return written


_TIMING = ("device", "batch_size", "latency_ms", "iqr_ms", "throughput", "speedup")


@dataclass
class Picked:
    """What `pick` returns: the depth chosen, what its score is, and how to export it."""

    choice: Choice
    scores: str  # what the scores are and where they come from
    seq_length: int
    export_command: str  # the `glpsearch export` line that ships it

    def lines(self) -> list[str]:
        """What `glpsearch pick` prints."""
        timing, score = self.choice.timing, self.choice.point.score  # timed on the target's
        return [
            f"scores: {self.scores}; latency: {timing['device']}, batch {timing['batch_size']}, "
            f"sequence length {self.seq_length} (speed.json)",
            f"pick: {self.choice.describe()}: score {score:.4f}, {timing['latency_ms']:.2f} ms "
            f"per batch, {timing['speedup']:.2f}x the unpruned model's speed",
            f"export it: {self.export_command}",
        ]


@dataclass
class Exported:
    """What `export` returns: the folder, the files written (glpsearch.json's facts among
    them), and the Hub page when pushed."""

    folder: Path
    files: list[Path]
    facts: dict  # glpsearch.json's content
    url: str | None = None

    def summary(self) -> str:
        """The line `glpsearch export` prints first."""
        facts = self.facts
        layers, finetuned = facts["layers"], facts["finetuned"]
        removed = " ".join(map(str, layers["removed"])) or "none"
        how = "not fine-tuned" if finetuned is None else "fine-tuned"
        distilled = " by distillation" if finetuned and finetuned["distill"] is not None else ""
        return (
            f"exported {facts['base_model']} without layers {removed} ({layers['kept']} of "
            f"{layers['base']} kept, {how}{distilled}) to {self.folder}"
        )


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
        evaluation = evaluate_with(told, _console(progress))
    if told.files.out is not None:
        evaluation.save(told.files.out)
    return evaluation


def speed(from_dir: Folder, *, progress: bool = True, **options: Any) -> Speeds:
    """Time every distinct model of an out folder against the unpruned one (CPU, and CUDA when
    there is one). Options as `glpsearch speed`'s (`batch_sizes=[1, 32]`, `devices=["cpu"]`,
    ...); `save(folder)` writes speed.json and tradeoff.png."""
    told = _told("speed", options, progress, from_dir=from_dir)
    with _one_error():
        return speed_with(told, _console(progress))


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
        return export_with(told, _console(progress))


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
        run = run_with(told, _console(progress), task)
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


def _console(progress: bool) -> Console:
    """Progress on stderr; its lines are not wrapped when stderr is not a terminal (a log)."""
    return Console(stderr=True, quiet=not progress, soft_wrap=True)


@contextmanager
def _one_error() -> Iterator[None]:
    """The store's errors as the API's one type, with the same message the CLI prints."""
    try:
        yield
    except StoreError as exc:
        raise GLPSearchError(str(exc)) from None


# -- the runs themselves: the CLI calls these too ----------------------------------------------
def search_with(told: Told, console: Console, task: TaskData | None = None) -> SearchRun:
    """One search as the options say, progress on `console`; writes no file."""
    started = time.perf_counter()
    setup = prepare(told, console, task)
    name = told.command.strategy
    strategy = _strategies(setup)[name]

    from glpsearch.report.display import Display
    from glpsearch.report.records import search_record
    from glpsearch.scoring.reference import judge

    with closing(setup), open_store(setup.cache) as store:
        setup.memo.save()
        console.print(f"[bold]{name}[/]: {setup.summary()}")
        with Display(console) as display:
            engine = setup.engine(store, display)
            noise = display.noise = _learned(setup, engine.lookup([frozenset()])[0], console)
            baseline, result = engine.run(strategy, setup.remove)
    record = search_record(
        result, baseline, engine.outcomes, setup.header(strategy=name), engine.counts
    )
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    judge(record, noise)
    return SearchRun(record, _source(setup), result, baseline, engine.outcomes)


def compare_with(told: Told, console: Console, task: TaskData | None = None) -> CompareRun:
    """One comparison as the options say, progress on `console`; writes no file."""
    started = time.perf_counter()
    setup = prepare(told, console, task)
    chosen = _strategies(setup)

    from glpsearch.report.display import Display
    from glpsearch.scoring.reference import judge

    with closing(setup), open_store(setup.cache) as store:
        setup.memo.save()
        console.print(f"[bold]compare {', '.join(chosen)}[/]: {setup.summary()}")
        with Display(console) as display:
            comparison = Comparison(lambda: setup.engine(store, display))
            noise = display.noise = _learned(setup, comparison.unpruned(), console)
            for name, strategy in chosen.items():
                console.print(f"[bold]{name}[/]")
                comparison.run(strategy, setup.remove)
    record = comparison.record(setup.header(strategies=list(chosen)))
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    judge(record, noise)
    return CompareRun(record, _source(setup), comparison.runs)


def _learned(setup: Setup, baseline: Outcome, console: Console) -> Noise:
    """The constant predictor and the held-out noise, after checking that the unpruned model
    (scored first) learned: if it did not, no candidate is worth fine-tuning, so the run stops
    with one line (exit 2) unless --force."""
    from glpsearch.scoring.reference import Noise, heldout_se, not_learned, trivial

    task = setup.task
    regression = task.label_names is None
    constant = trivial(task.train.labels, task.heldout.labels, task.metric, regression)
    se = None
    if baseline.value is not None:
        known = [score.se for score in baseline.scores]
        se = heldout_se(task.metric, baseline.value, len(task.heldout), known)
    noise = Noise(constant, se, len(baseline.results))
    problem = not_learned(noise, task.metric, baseline.value, baseline.std, baseline.loss)
    if problem is not None and not setup.run.force:
        raise GLPSearchError(f"{problem}, or pass --force to search anyway")
    if problem is not None:
        console.print(f"warning: {problem}; going on (--force)", markup=False, soft_wrap=True)
    elif se is None and baseline.value is not None:
        console.print(
            "the metric's standard error of the unpruned model is unknown (cached before "
            "glpsearch kept it): it is not checked, nor are candidates cached so",
            markup=False,
        )
    return noise


def _source(setup: Setup) -> _Source:
    return _Source(setup.recipe, setup.task, setup.evaluator, setup.cache)


def _strategies(setup: Setup) -> dict[str, strategies.Strategy]:
    """The run's strategies, built and checked against the model: a bad option is one line
    before the unpruned model is scored or the cache touched."""
    try:
        built = {name: strategies.make(name, setup.options) for name in setup.run.names}
        for strategy in built.values():
            strategy.check(setup.evaluator.n_layers, setup.remove)
    except strategies.OptionError as exc:
        raise GLPSearchError(str(exc)) from None
    return built


def evaluate_with(told: Told, console: Console) -> Evaluation:
    """The paper's final protocol for every depth of a search or compare: each model fine-tuned
    on all training data and scored on the dev set over the seeds, through the cache; writes no
    file (`files.out`, when given, must be writable: the caller writes there)."""
    started = time.perf_counter()
    given = told.command
    folder = read_from(told.source.from_dir)
    assert folder is not None
    if told.files.out is not None:
        check_writable_target(told.files.out)
    depths = [
        d
        for d in folder.depths()
        if (given.strategies is None or d.strategy in given.strategies)
        and (given.layers_removed is None or d.depth <= given.layers_removed)
    ]
    if not depths:
        raise UserError(f"{folder.selection} holds none of {', '.join(given.strategies)}")
    from glpsearch.report.display import Display
    from glpsearch.runs import final

    distill = distill_settings(given.distill, told.distill, given.seed)
    with console.status("loading data and model"):
        data = data_spec(told.data, folder.data_spec())
        settings = train_settings(told.train, data, folder.settings())
        device = resolve_device(told.work.device)
        recipe = recipe_of(given.model, data, folder, settings, True, distill, told.files.cache)
        evaluator = recipe.build(device)
        runner = make_runner(told.work, recipe, device)
    seeds = seeds_of(given.seed, given.seeds)
    cache = cache_of(told.files.cache)
    task = evaluator.task
    console.print(
        f"[bold]evaluate[/] {len({d.key for d in depths})} models of {folder.selection} with "
        f"{len(seeds)} seed{'s' * (len(seeds) > 1)}"
        f"{', distilled from the unpruned model' if distill else ''}: fine-tuned on "
        f"{len(task.train)} examples, scored on {len(task.heldout)} dev examples; cache {cache} "
        f"[dim]fingerprint {evaluator.fingerprint}[/]"
    )
    try:
        with open_store(cache) as store:
            earlier = told.files.out or folder.path  # an evaluate.json there: its distillation
            distilled = final.distill_info(earlier, evaluator.plain_fingerprint)
            if distill is not None:
                distilled = {**prepare_teacher(console, evaluator), "this_run": True}
            with Display(console) as display:
                engine = make_engine(evaluator, store, seeds, display, given.retry_failed, runner)
                outcomes = final.outcomes(engine, depths, students=distill is not None)
            other = None
            if distilled is not None:  # the variant this run did not compute, if cached
                fingerprint = evaluator.plain_fingerprint if distill else distilled["fingerprint"]
                other = final.cached(store, fingerprint, depths, seeds)
    finally:
        if runner is not None:
            runner.close()
    run = {
        "settings": asdict(settings),
        "n_train": len(task.train),
        "n_dev": len(task.heldout),
        "fingerprint": evaluator.plain_fingerprint,
        "cache": str(cache),
    }
    record = final.evaluation_record(
        header(Subject.of(evaluator), {"from": str(folder.selection)}, run),
        depths, outcomes, seeds, distilled, other,
    )  # fmt: skip
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    return Evaluation(record)


def speed_with(told: Told, console: Console, out: Path | None = None) -> Speeds:
    """Time every distinct model of the --from folder; writes no file (`out`, where the caller
    will, is checked writable before anything is timed)."""
    from glpsearch.ship import timing

    given = told.command
    folder = read_from(told.source.from_dir)
    assert folder is not None
    if out is not None and not os.access(out, os.W_OK):
        raise UserError(f"cannot write to {out}; copy the folder somewhere writable first")
    devices = _speed_devices(given.devices)
    repeats = {} if given.repeats is None else {"repeats": given.repeats}
    settings = timing.SpeedSettings(given.batch_sizes, devices, **repeats)
    models = folder.models()
    if given.threads is not None:
        import torch

        torch.set_num_threads(given.threads)
    with console.status("loading data and model") as status:
        data = data_spec(told.data, folder.data_spec())
        evaluator = recipe_of(given.model, data, folder, folder.settings()).build("cpu")
        if given.seq_length is None:
            length, rule = timing.sequence_length(evaluator)
        elif given.seq_length > evaluator.settings.max_length:
            raise UserError(
                f"--seq-length {given.seq_length} is longer than the search's --max-length "
                f"{evaluator.settings.max_length}"
            )
        else:
            length, rule = given.seq_length, "--seq-length"
        measured = timing.measure(evaluator, models, settings, length, status.update)
    chosen_by = {
        key: [{"strategy": d.strategy, "depth": d.depth} for d in depths]
        for key, depths in models.items()
    }
    from_record = header(Subject.read(folder.record), {"from": folder.selection.name})
    record = timing.speed_record(from_record, measured, chosen_by, settings, length, rule)
    return Speeds(record, folder)


def _speed_devices(names: tuple[str, ...] | None) -> tuple[str, ...]:
    """--devices of `speed`: each named; by default the CPU, and CUDA when there is one."""
    if names is None:
        import torch

        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    return tuple(dict.fromkeys(resolve_device(name) for name in names)) or ("cpu",)


def pick_with(told: Told) -> Picked:
    """The depth that meets the target, from the --from folder's measured numbers."""
    from glpsearch.ship.picking import export_command, pick

    folder = read_from(told.source.from_dir)
    assert folder is not None
    choice, scores = pick(folder, told.command)
    return Picked(choice, scores, folder.speed["seq_length"], export_command(folder, choice))


def export_with(told: Told, console: Console) -> Exported:
    """One pruned model written as the options say (and pushed, with push_to_hub)."""
    from glpsearch.ship.exporting import ExportPlan

    given = told.command
    distill = distill_settings(given.distill, told.distill, given.seed)
    _check_export(given.out, given.push_to_hub, given.private, distill, given.finetune)
    folder = read_from(given.from_dir)
    if given.remove is not None:
        if given.strategy is not None:
            raise UserError("--strategy goes with --layers-removed, not --remove")
        plan = ExportPlan(given.remove, given.finetune, given.seed)
    elif folder is None or given.layers_removed is None:
        raise UserError(
            "say which layers to export: --from OUT_DIR --layers-removed N, or --remove I,J,..."
        )
    else:
        chosen = folder.depth(given.strategy, given.layers_removed)
        plan = ExportPlan(chosen.removed, given.finetune, given.seed, chosen.strategy)
    with console.status("loading data and model"):
        data = data_spec(told.data, None if folder is None else folder.data_spec())
        base = None if folder is None else folder.settings()
        settings = train_settings(told.train, data, base)
        recipe = recipe_of(given.model, data, folder, settings, given.finetune, distill,
                           given.cache)  # fmt: skip
        evaluator = recipe.build(resolve_device(given.device))
    return _export(evaluator, plan, given.out, folder, given.push_to_hub, given.private,
                   cache_of(given.cache), console)  # fmt: skip


def _check_export(
    out: Path, repo: str | None, private: bool, distill: DistillSettings | None, finetune: bool
) -> None:
    """What an export refuses before anything is built."""
    from glpsearch.ship.exporting import check_target

    check_target(out)
    if repo is not None:
        from glpsearch.ship.push import check_repo

        check_repo(repo)
    elif private:
        raise UserError("--private goes with --push-to-hub REPO")
    if distill is not None and not finetune:
        raise UserError("--distill goes with --finetune")


def _export(
    evaluator: Evaluator,
    plan: ExportPlan,
    out: Path,
    folder: OutDir | None,
    repo: str | None,
    private: bool,
    cache: Path,
    console: Console,
) -> Exported:
    """Build (the teacher first, if distilling), write and push: the command's and the API's."""
    import json

    from glpsearch.ship.exporting import FACTS
    from glpsearch.ship.exporting import export as write_export

    teacher = None
    if evaluator.distill is not None:
        with open_store(cache):  # makes the folder a cache, for the teacher
            teacher = prepare_teacher(console, evaluator)
    with console.status("fine-tuning" if plan.finetune else "exporting") as status:
        written = write_export(
            evaluator,
            plan,
            out,
            folder,
            lambda step, total: status.update(f"fine-tuning: step {step} of {total}"),
            repo,
            teacher,
        )
    url = None
    if repo is not None:
        from glpsearch.ship.push import push_to_hub

        with console.status(f"uploading to {repo}"):
            url = push_to_hub(out, repo, private)
    return Exported(out, written, json.loads((out / FACTS).read_text()), url)
