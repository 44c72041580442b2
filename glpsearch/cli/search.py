"""The search and compare commands: the runs themselves are the library's (`glpsearch.api`),
so these only print, write the out folder, and give a search that stopped short of --remove
its exit code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glpsearch import strategies
from glpsearch.cli.common import EXIT_FAILED, output, progress, told
from glpsearch.runs.assemble import classes
from glpsearch.runs.commands import compare_with, search_with


def run_search(args: argparse.Namespace) -> int:
    from glpsearch.report.display import steps_table
    from glpsearch.report.tables import totals
    from glpsearch.scoring.reference import closing_lines

    run = search_with(told(args), progress(args.quiet))
    written = run.save(args.out)
    out = output(args.quiet)
    steps = steps_table(run.result, run.baseline, run.outcomes, run.record)
    steps.title = f"{steps.title}: {run.record['task']}, {classes(run.record.get('labels'))}"
    out.print(steps)
    out.print(totals(run.record))
    for line in closing_lines(run.record):
        out.print(line, markup=False, soft_wrap=True)
    if run.order:
        out.print(f"removal order: {' '.join(map(str, run.order))}")
    out.print("wrote " + ", ".join(str(p) for p in written))
    return _stopped_short(run.result, run.outcomes, written[0])


def run_compare(args: argparse.Namespace) -> int:
    from glpsearch.report.tables import table, totals
    from glpsearch.scoring.reference import closing_lines

    run = compare_with(told(args), progress(args.quiet))
    written = run.save(args.out)
    out = output(args.quiet)
    out.print(table(run.record))
    out.print(totals(run.record))
    for line in closing_lines(run.record):
        out.print(line, markup=False, soft_wrap=True)
    out.print("wrote " + ", ".join(str(p) for p in written))
    return 0


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
        f"removed failed ({reason}{others}), so the search stopped there; see {record} "
        "(failures are cached: --retry-failed computes them again)",
        file=sys.stderr,
    )
    return EXIT_FAILED
