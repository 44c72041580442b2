"""The commands that work on what a search left behind: report, evaluate, export, speed and
pick read its out folder (--from), status lists the cache. Each loads only what it needs."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from rich.console import Console

from glpsearch.cli.interrupt import heeding
from glpsearch.cli.setup import (
    check_writable_target,
    data_spec,
    default_cache,
    distill_settings,
    load_evaluator,
    make_runner,
    open_store,
    output,
    prepare_teacher,
    read_from,
    resolve_device,
    seeds_of,
    train_settings,
)
from glpsearch.errors import UserError
from glpsearch.records import Subject, header


def run_report(args: argparse.Namespace) -> int:
    from glpsearch import tradeoff
    from glpsearch.report import redraw, table, totals

    out = output()
    for record, written in redraw(args.out_dir):
        out.print(table(record))
        out.print(totals(record))
        out.print("wrote " + ", ".join(str(p) for p in written))
    drawn = tradeoff.draw(read_from(args.out_dir))
    if drawn is not None:
        out.print(f"wrote {drawn}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from rich.table import Table

    cache = args.cache or default_cache()
    if not (Path(cache) / "cache.db").exists():
        raise UserError(f"no glpsearch cache at {cache}")
    if args.fix and not args.check:
        raise UserError("--fix goes with --check: glpsearch status --check --fix")
    with open_store(cache) as store:
        summaries = store.summaries()
        checkpoints = store.checkpoint_bytes()
        damaged = store.damaged() if args.check else []
        if args.fix:
            store.drop(damaged)
    table = Table(title=f"cache {cache}")
    columns = ["fingerprint", "model", "task", "settings", "scores", "failures"]
    unreadable = sum(s.unreadable for s in summaries)
    for column in columns + ["unreadable"] * bool(unreadable):
        table.add_column(column)
    for s in summaries:
        table.add_row(
            s.fingerprint[:12],
            str(s.info.get("model", "?")),
            f"{s.info.get('task', '?')} ({s.info.get('n_train', '?')} train)",
            _settings_text(s.info.get("settings")),
            str(s.scores),
            str(s.failures),
            *[str(s.unreadable)] * bool(unreadable),
        )
    console = output()
    console.print(table)
    if args.check:
        for key in damaged:
            console.print(f"unreadable: {key}", markup=False)
        them = "it" if len(damaged) == 1 else "them"
        verdict = "dropped" if args.fix else f"run glpsearch status --check --fix to drop {them}"
        console.print(
            f"{len(damaged)} unreadable row{'s' * (len(damaged) != 1)}"
            + (f"; {verdict} (their results are computed again when asked)" if damaged else "")
        )
    elif unreadable:
        console.print(
            f"{unreadable} unreadable row{'s' * (unreadable != 1)}: they are computed again "
            "when asked; glpsearch status --check lists them, --check --fix drops them"
        )
    if checkpoints:
        size = (
            f"{checkpoints / 1e9:.2f} GB" if checkpoints >= 1e9 else f"{checkpoints / 1e6:.1f} MB"
        )
        console.print(
            f"checkpoints of unfinished greedy-halving fine-tunes: {size} "
            "(search --checkpoint-space bounds them)"
        )
    return 0


def _settings_text(settings: object) -> str:
    try:
        return "{epochs:g} ep, lr {lr:g}, batch {batch_size}, len {max_length}".format(**settings)
    except (KeyError, TypeError, ValueError):  # a fingerprint row of an odd shape
        return "?"


def run_export(args: argparse.Namespace) -> int:
    from glpsearch.export import ExportPlan, check_target, export

    console = Console(stderr=True, quiet=args.quiet)
    check_target(args.out)
    if args.push_to_hub is not None:
        from glpsearch.push import check_repo

        check_repo(args.push_to_hub)
    elif args.private:
        raise UserError("--private goes with --push-to-hub REPO")
    folder = read_from(args.from_dir)
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
    distill = distill_settings(args)
    if distill is not None and not args.finetune:
        raise UserError("--distill goes with --finetune")
    with console.status("loading data and model") as status:
        settings = train_settings(args, None if folder is None else folder.settings())
        evaluator = load_evaluator(
            args, folder, settings, resolve_device(args.device), args.finetune, distill
        )
    teacher = None
    if distill is not None:
        with open_store(args.cache or default_cache()):  # makes the folder a cache, for the teacher
            teacher = prepare_teacher(console, evaluator)
    with console.status("fine-tuning" if args.finetune else "exporting") as status:
        written = export(
            evaluator,
            plan,
            args.out,
            folder,
            lambda step, total: status.update(f"fine-tuning: step {step} of {total}"),
            args.push_to_hub,
            teacher,
        )
    out = output(args.quiet)
    removed = " ".join(map(str, plan.removed)) or "none"
    out.print(
        f"exported {evaluator.model_name} without layers {removed} "
        f"({evaluator.n_layers - len(plan.removed)} of {evaluator.n_layers} kept, "
        f"{'fine-tuned' if plan.finetune else 'not fine-tuned'}"
        f"{' by distillation' if distill is not None else ''}) to {args.out}"
    )
    out.print("wrote " + ", ".join(p.name for p in written))
    if args.push_to_hub is not None:
        from glpsearch.push import push_to_hub

        with console.status(f"uploading to {args.push_to_hub}"):
            url = push_to_hub(args.out, args.push_to_hub, args.private)
        out.print(f"pushed to {url}")
    return 0


def run_speed(args: argparse.Namespace) -> int:
    from glpsearch import speed, tradeoff

    console = Console(stderr=True, quiet=args.quiet)
    folder = read_from(args.from_dir)
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
        evaluator = load_evaluator(args, folder, folder.settings(), "cpu")
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
    from_record = header(Subject.read(folder.record), {"from": folder.selection.name})
    record = speed.speed_record(from_record, measured, chosen_by, settings, length, rule)
    written = [record.write(folder.path)]
    written.append(tradeoff.draw(replace(folder, speed=record)))
    out = output(args.quiet)
    out.print(speed.table(record))
    out.print("wrote " + ", ".join(str(p) for p in written))
    warning = speed.noise(record)
    if warning is not None:
        print(f"glpsearch: warning: {warning}", file=sys.stderr)
    return 0


def _speed_devices(text: str | None) -> tuple[str, ...]:
    """--devices of `speed`: a comma list; by default the CPU, and CUDA when there is one."""
    if text is None:
        import torch

        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    names = [name.strip() for name in text.split(",") if name.strip()]
    return tuple(dict.fromkeys(resolve_device(name) for name in names)) or ("cpu",)


def run_evaluate(args: argparse.Namespace) -> int:
    """The paper's final protocol for every depth of a search or compare: each model fine-tuned
    on all training data and scored on the dev set over --seeds seeds, through the cache."""
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    folder = read_from(args.from_dir)
    assert folder is not None  # --from is required
    out = args.out or folder.path
    check_writable_target(out)
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

    distill = distill_settings(args)
    with console.status("loading data and model"):
        settings = train_settings(args, folder.settings())
        device = resolve_device(args.device)
        data = data_spec(args, folder.data_spec())
        evaluator = load_evaluator(args, folder, settings, device, True, distill)
        recipe = Recipe(
            args.model or folder.model, data, settings, True, distill, evaluator.teachers
        )
        runner = make_runner(args, recipe, device)
    seeds = seeds_of(args)
    cache = args.cache or default_cache()
    task = evaluator.task
    console.print(
        f"[bold]evaluate[/] {len({d.key for d in depths})} models of {folder.selection} with "
        f"{len(seeds)} seed{'s' * (len(seeds) > 1)}"
        f"{', distilled from the unpruned model' if distill else ''}: fine-tuned on "
        f"{len(task.train)} examples, scored on {len(task.heldout)} dev examples; cache {cache} "
        f"[dim]fingerprint {evaluator.fingerprint}[/]"
    )
    from glpsearch.engine import Engine

    try:
        with open_store(cache) as store:
            distilled = final.distill_info(out, evaluator.plain_fingerprint)
            if distill is not None:
                distilled = {**prepare_teacher(console, evaluator), "this_run": True}
            with Display(console) as display:
                engine = Engine(
                    evaluator, store, seeds, heeding(display), args.retry_failed, runner
                )
                outcomes = final.evaluate(engine, depths, students=distill is not None)
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
    written = record.write(out)
    view = output(args.quiet)
    view.print(final.table(record))
    from glpsearch.report import totals

    view.print(totals(record))
    view.print(f"wrote {written}")
    return 0


def run_pick(args: argparse.Namespace) -> int:
    from glpsearch.pick import Target, export_command, pick

    folder = read_from(args.from_dir)
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
