"""The search and compare commands, and what only they use: building the strategies and
checking their options before anything is trained, and the exit code of a search that stopped
short of --remove."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from glpsearch import strategies
from glpsearch.cli.setup import EXIT_FAILED, Setup, classes, make_engine, prepare
from glpsearch.errors import UserError
from glpsearch.store import Store

if TYPE_CHECKING:  # torch-free, but only the commands that run need them
    from glpsearch.engine import Outcome
    from glpsearch.reference import Noise


def run_search(args: argparse.Namespace) -> int:
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    setup = prepare(args, console, [args.strategy])
    strategy = _strategies(args, [args.strategy], setup)[args.strategy]

    from glpsearch.progress import Display, steps_table
    from glpsearch.reference import closing_lines, judge
    from glpsearch.report import totals
    from glpsearch.results import search_record, write_search

    with closing(setup), Store(setup.cache) as store:
        console.print(f"[bold]{args.strategy}[/]: {setup.summary()}")
        with Display(console) as display:
            engine = make_engine(args, setup, store, display)
            noise = display.noise = _learned(args, setup, engine.lookup([frozenset()])[0], console)
            baseline, result = engine.run(strategy, setup.remove)
    header = setup.header(args, strategy=args.strategy)
    record = search_record(result, baseline, engine.outcomes, header, engine.counts)
    record["wall_seconds"] = round(time.perf_counter() - started, 3)
    judge(record, noise)
    written = write_search(args.out, record)
    out = Console(quiet=args.quiet)
    steps = steps_table(result, baseline, engine.outcomes, record)
    steps.title = f"{steps.title}: {setup.task.name}, {classes(setup.task.label_names)}"
    out.print(steps)
    out.print(totals(record))
    for line in closing_lines(record):
        out.print(line, markup=False, soft_wrap=True)
    if result.order:
        out.print(f"removal order: {' '.join(map(str, result.order))}")
    out.print("wrote " + ", ".join(str(p) for p in written))
    return _stopped_short(result, engine.outcomes, written[0])


def run_compare(args: argparse.Namespace) -> int:
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    setup = prepare(args, console, args.strategies)
    chosen = _strategies(args, args.strategies, setup)

    from glpsearch.compare import Comparison, write_compare
    from glpsearch.progress import Display
    from glpsearch.reference import closing_lines, judge
    from glpsearch.report import table, totals

    with closing(setup), Store(setup.cache) as store:
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
    written = write_compare(args.out, record)
    out = Console(quiet=args.quiet)
    out.print(table(record))
    out.print(totals(record))
    for line in closing_lines(record):
        out.print(line, markup=False, soft_wrap=True)
    out.print("wrote " + ", ".join(str(p) for p in written))
    return 0


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
        raise UserError(f"{problem}, or pass --force to search anyway")
    if problem is not None:
        console.print(f"warning: {problem}; going on (--force)", markup=False, soft_wrap=True)
    elif se is None and baseline.value is not None:
        console.print(
            "the metric's standard error of the unpruned model is unknown (cached before "
            "glpsearch kept it): it is not checked, nor are candidates cached so",
            markup=False,
        )
    return noise


def _strategies(
    args: argparse.Namespace, names: Sequence[str], setup: Setup
) -> dict[str, strategies.Strategy]:
    options = strategies.StrategyOptions(
        seed=args.seed,
        beam_width=args.beam_width,
        budget=args.budget,
        ranking=setup.ranking,
        min_budget=setup.min_budget,
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
