"""The commands that work on what a search left behind: report, evaluate, export, speed and
pick read its out folder (--from), status lists the cache. The runs are the library's
(`glpsearch.api`); these print and write."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from glpsearch.cli.common import output, progress, told
from glpsearch.errors import UserError
from glpsearch.runs.assemble import cache_of, open_store, read_from
from glpsearch.runs.commands import evaluate_with, export_with, pick_with, speed_with


def run_report(args: argparse.Namespace) -> int:
    from glpsearch.report import tradeoff
    from glpsearch.report.tables import redraw, table, totals

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

    cache = cache_of(args.cache)
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
    exported = export_with(told(args), progress(args.quiet))
    out = output(args.quiet)
    out.print(exported.summary())
    out.print("wrote " + ", ".join(p.name for p in exported.files))
    if exported.url is not None:
        out.print(f"pushed to {exported.url}")
    return 0


def run_speed(args: argparse.Namespace) -> int:
    from glpsearch.ship import timing

    measured = speed_with(told(args), progress(args.quiet), out=args.from_dir)
    written = measured.save(args.from_dir)
    out = output(args.quiet)
    out.print(timing.table(measured.record))
    out.print("wrote " + ", ".join(str(p) for p in written))
    warning = timing.noise(measured.record)
    if warning is not None:
        print(f"glpsearch: warning: {warning}", file=sys.stderr)
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """The paper's final protocol for every depth of a search or compare: each model fine-tuned
    on all training data and scored on the dev set over --seeds seeds, through the cache."""
    from glpsearch.report.tables import totals
    from glpsearch.runs import final

    options = told(args)
    out = options.files.out or args.from_dir  # evaluate.json goes beside the record it reads
    evaluation = evaluate_with(
        replace(options, files=replace(options.files, out=out)), progress(args.quiet)
    )
    written = evaluation.save(out)
    view = output(args.quiet)
    view.print(final.table(evaluation.record))
    view.print(totals(evaluation.record))
    view.print(f"wrote {written}")
    return 0


def run_pick(args: argparse.Namespace) -> int:
    for line in pick_with(told(args)).lines():
        print(line)
    return 0
