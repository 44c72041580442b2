"""glpsearch from Python: `search` and `compare` take the CLI's options as keyword arguments
and return what they found as objects (scores, a DataFrame, the pruned model), not files.

The CLI's argparse parser is the one source of truth for the options: a call's keywords are
checked and converted by the same option declarations (`glpsearch.cli.arguments`), onto the
same defaults, so API and CLI cannot drift. `search_with` and `compare_with` are the runs
themselves; the CLI's search and compare commands call them too and only print and write. No
torch at import: torch-heavy modules load inside the functions that need them.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from glpsearch import strategies
from glpsearch.cli.setup import Setup, data_spec, make_engine, open_store, prepare
from glpsearch.comparison import Comparison, StrategyRun, write_compare
from glpsearch.config import DataSpec
from glpsearch.data import TaskData
from glpsearch.errors import GLPSearchError
from glpsearch.outdir import OutDir
from glpsearch.records import (
    Candidate,  # noqa: F401  (the API's, as glpsearch.Candidate)
    CompareRecord,
    SearchRecord,
    Selection,
    Step,
    entries,
    steps,
    write_search,
)
from glpsearch.store import StoreError

if TYPE_CHECKING:  # torch and pandas load only when a function needs them
    import pandas
    import torch

    from glpsearch.engine import Outcome
    from glpsearch.evaluator import Evaluator
    from glpsearch.parallel import Recipe
    from glpsearch.reference import Noise

ModelSource = str | os.PathLike | None
"""A hub id, a model folder, or None for the embedded all-MiniLM-L6-v2."""
Dataset = Any
"""A GLUE task name, a GLUE folder, a data file, None for the embedded task, or in memory: a
`datasets.Dataset` / `DatasetDict` or a pandas DataFrame."""

_Run = TypeVar("_Run", "SearchRun", "CompareRun")

# CLI options the API spells otherwise: --quiet is `progress=False`.
_RENAMED = {"quiet": "progress"}


@dataclass
class _Source:
    """What built the run's models: kept so `model()` and `export()` need no reloading."""

    recipe: Recipe
    task: TaskData
    evaluator: Evaluator
    final: Evaluator | None = None  # built on first fine-tuned export: all training data

    def evaluator_for(self, finetune: bool) -> Evaluator:
        if not finetune:
            return self.evaluator
        if self.final is None:
            recipe = replace(self.recipe, final=True)
            self.final = recipe.build(str(self.evaluator.device), self.task)
        return self.final


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

    def save(self, out: str | os.PathLike) -> list[Path]:
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
        folder: str | os.PathLike,
        layers_removed: int,
        finetune: bool = False,
        seed: int = 0,
        strategy: str | None = None,
        push_to_hub: str | None = None,
        private: bool = False,
    ) -> list[Path]:
        """Write the pruned model as a Hugging Face checkpoint with its model card, as
        `glpsearch export` does; returns the files written. `push_to_hub` ("namespace/name")
        then uploads the folder to that model repo (a token is needed: `hf auth login`), and
        the card's usage names the repo."""
        from glpsearch import push
        from glpsearch.export import ExportPlan, export

        if push_to_hub is not None:
            push.check_repo(push_to_hub)  # before anything is built
        depth = self._outdir().depth(strategy, layers_removed)
        plan = ExportPlan(depth.removed, finetune, seed, depth.strategy)
        evaluator = self._source.evaluator_for(finetune)
        path = Path(folder).expanduser()
        written = export(evaluator, plan, path, self._outdir(), repo=push_to_hub)
        if push_to_hub is not None:
            push.push_to_hub(path, push_to_hub, private)
        return written

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


# -- the public functions -----------------------------------------------------------------------
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


def _run(
    command: str,
    run_with: Callable[[argparse.Namespace, Console, TaskData | None], _Run],
    model: ModelSource,
    dataset: Dataset,
    progress: bool,
    options: Mapping[str, Any],
) -> _Run:
    args, task = arguments(command, model, dataset, progress, options)
    with _one_error():
        run = run_with(args, _console(progress), task)
    if args.out is not None:
        run.save(args.out)
    return run


# -- keywords into the CLI's options -------------------------------------------------------------
def arguments(
    command: str, model: ModelSource, dataset: Dataset, progress: bool, given: Mapping[str, Any]
) -> tuple[argparse.Namespace, TaskData | None]:
    """The options `glpsearch <command>` would parse from the same values: its defaults, each
    keyword converted and checked by its option's declaration. In-memory data comes back as
    the task itself (the options then only name its columns)."""
    parser = _command_parser(command)
    args = parser.parse_args([])
    args.out = None  # from Python, files are written only when asked (`out=` or `save`)
    args.quiet = not progress
    known = _options(parser)
    for name, value in given.items():
        if name not in known:
            allowed = ", ".join(sorted(["model", "dataset", "progress", *known]))
            raise GLPSearchError(f"{command}() has no option {name!r}; the options are: {allowed}")
        action = known[name]
        setattr(args, action.dest, _convert(name, value, action))
    if model is not None:
        args.model = _path_text(model)
    task = None
    if dataset is not None:
        if args.task is not None or args.train is not None:
            raise GLPSearchError("give the dataset once: as the second argument, or task=/train=")
        if isinstance(dataset, str | os.PathLike):
            path = Path(dataset).expanduser()
            if path.is_file():
                args.train = path
            else:
                args.task = str(path) if path.exists() else os.fspath(dataset)
        else:
            if args.jobs != 1 or args.backend != "loky":
                raise GLPSearchError(
                    "in-memory data is scored in this process: leave jobs and backend as they are, "
                    "or save the data to a file and give its path"
                )
            task = task_from_memory(dataset, data_spec(args))
    return args, task


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
    from glpsearch.data import task_from_dataset

    return task_from_dataset(dataset, spec)


def _command_parser(command: str) -> argparse.ArgumentParser:
    from glpsearch.cli.arguments import build_parser  # not at the top: the CLI imports this

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise AssertionError("the glpsearch parser has no commands")


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Keyword name -> option: --text-column is `text_column`."""
    known = {}
    for action in parser._actions:
        for flag in action.option_strings:
            name = flag.removeprefix("--").replace("-", "_")
            if flag.startswith("--") and name != "help" and name not in _RENAMED:
                known[name] = action
    known.pop("model", None)  # the first argument
    return known


def _convert(name: str, value: Any, action: argparse.Action) -> Any:
    """The value as the option's parser would turn its text into it; errors name the keyword."""
    if value is None:
        return action.default
    if action.nargs == 0:  # a switch, e.g. --regression
        if not isinstance(value, bool):
            raise GLPSearchError(f"{name}={value!r}: give True or False")
        return value
    if isinstance(value, bool):
        raise GLPSearchError(f"{name}={value!r}: not a switch, give a value")
    if isinstance(value, Sequence) and not isinstance(value, str):
        text = ",".join(map(str, value))  # the comma lists: text_column, strategies, devices
    else:
        text = _path_text(value) if action.type is Path else str(value)
    try:
        converted = text if action.type is None else action.type(text)
    except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
        raise GLPSearchError(f"{name}={value!r}: {exc}") from None
    if action.choices is not None and converted not in action.choices:
        raise GLPSearchError(f"{name}={value!r}: choose from {', '.join(map(str, action.choices))}")
    return converted


def _path_text(value: str | os.PathLike) -> str:
    text = os.fspath(value)
    return os.path.expanduser(text) if text.startswith("~") else text


def _console(progress: bool) -> Console:
    return Console(stderr=True, quiet=not progress)


@contextmanager
def _one_error() -> Iterator[None]:
    """The store's errors as the API's one type, with the same message the CLI prints."""
    try:
        yield
    except StoreError as exc:
        raise GLPSearchError(str(exc)) from None


# -- the runs themselves: the CLI calls these too -----------------------------------------------
def search_with(
    args: argparse.Namespace, console: Console, task: TaskData | None = None
) -> SearchRun:
    """One search as the parsed options say, progress on `console`; writes no file."""
    started = time.perf_counter()
    setup = prepare(args, console, [args.strategy], task)
    strategy = _strategies(args, [args.strategy], setup)[args.strategy]

    from glpsearch.progress import Display
    from glpsearch.records import search_record
    from glpsearch.reference import judge

    with closing(setup), open_store(setup.cache) as store:
        setup.memo.save()
        console.print(f"[bold]{args.strategy}[/]: {setup.summary()}")
        with Display(console) as display:
            engine = make_engine(args, setup, store, display)
            noise = display.noise = _learned(args, setup, engine.lookup([frozenset()])[0], console)
            baseline, result = engine.run(strategy, setup.remove)
    header = setup.header(args, strategy=args.strategy)
    record = search_record(result, baseline, engine.outcomes, header, engine.counts)
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    judge(record, noise)
    return SearchRun(record, _source(args, setup), result, baseline, engine.outcomes)


def compare_with(
    args: argparse.Namespace, console: Console, task: TaskData | None = None
) -> CompareRun:
    """One comparison as the parsed options say, progress on `console`; writes no file."""
    started = time.perf_counter()
    setup = prepare(args, console, args.strategies, task)
    chosen = _strategies(args, args.strategies, setup)

    from glpsearch.progress import Display
    from glpsearch.reference import judge

    with closing(setup), open_store(setup.cache) as store:
        setup.memo.save()
        console.print(f"[bold]compare {', '.join(chosen)}[/]: {setup.summary()}")
        with Display(console) as display:
            comparison = Comparison(lambda: make_engine(args, setup, store, display))
            noise = display.noise = _learned(args, setup, comparison.unpruned(), console)
            for name, strategy in chosen.items():
                console.print(f"[bold]{name}[/]")
                comparison.run(strategy, setup.remove)
    record = comparison.record(setup.header(args, strategies=list(chosen)))
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    judge(record, noise)
    return CompareRun(record, _source(args, setup), comparison.runs)


def _learned(args: argparse.Namespace, setup: Setup, baseline: Outcome, console: Console) -> Noise:
    """The constant predictor and the held-out noise, after checking that the unpruned model
    (scored first) learned: if it did not, no candidate is worth fine-tuning, so the run stops
    with one line (exit 2) unless --force."""
    from glpsearch.reference import Noise, heldout_se, not_learned, trivial

    task = setup.task
    regression = task.label_names is None
    constant = trivial(task.train.labels, task.heldout.labels, task.metric, regression)
    se = None
    if baseline.value is not None:
        known = [score.se for score in baseline.scores]
        se = heldout_se(task.metric, baseline.value, len(task.heldout), known)
    noise = Noise(constant, se, len(baseline.results))
    problem = not_learned(noise, task.metric, baseline.value, baseline.std, baseline.loss)
    if problem is not None and not args.force:
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


def _source(args: argparse.Namespace, setup: Setup) -> _Source:
    from glpsearch.parallel import Recipe

    return _Source(Recipe(args.model, setup.data, setup.settings), setup.task, setup.evaluator)


def _strategies(
    args: argparse.Namespace, names: Sequence[str], setup: Setup
) -> dict[str, strategies.Strategy]:
    """The named strategies, built and checked against the model: a bad option is one line
    before the unpruned model is scored or the cache touched."""
    options = strategies.StrategyOptions(
        seed=args.seed,
        beam_width=args.beam_width,
        max_evaluations=args.max_evaluations,
        ranking=setup.ranking,
        min_budget=setup.min_budget,
        eta=args.eta,
    )
    try:
        built = {name: strategies.make(name, options) for name in names}
        for strategy in built.values():
            strategy.check(setup.evaluator.n_layers, setup.remove)
    except strategies.OptionError as exc:
        raise GLPSearchError(str(exc)) from None
    return built
