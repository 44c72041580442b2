"""Each command's run, as the API and the CLI both call it: `search_with`, `compare_with`,
`evaluate_with`, `speed_with`, `pick_with` and `export_with` take the built options (`Told`,
runs/assemble.py), show progress on a console, and return the results of runs/results.py;
they write no file (the callers save what they are asked to).
"""

from __future__ import annotations

import os
import time
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from glpsearch import strategies
from glpsearch.data.task import TaskData
from glpsearch.errors import GLPSearchError, UserError
from glpsearch.report.records import (
    Candidate,  # noqa: F401  (the API's, as glpsearch.Candidate)
    Subject,
    header,
)
from glpsearch.runs.assemble import (
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
from glpsearch.runs.comparison import Comparison
from glpsearch.runs.results import (
    CompareRun,
    Evaluation,
    Exported,
    Picked,
    SearchRun,
    Source,
    Speeds,
    check_export,
    export_model,
)

if TYPE_CHECKING:
    from glpsearch.engine.core import Outcome
    from glpsearch.scoring.reference import Noise


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


def _source(setup: Setup) -> Source:
    return Source(setup.recipe, setup.task, setup.evaluator, setup.cache)


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
    check_export(given.out, given.push_to_hub, given.private, distill, given.finetune)
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
    return export_model(evaluator, plan, given.out, folder, given.push_to_hub, given.private,
                   cache_of(given.cache), console)  # fmt: skip
