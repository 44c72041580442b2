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

from rich.console import Console

from glpsearch import strategies
from glpsearch.cli.setup import EXIT_FAILED, Setup, make_engine, open_store, prepare
from glpsearch.errors import UserError


def run_search(args: argparse.Namespace) -> int:
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    setup = prepare(args, console, [args.strategy])
    strategy = _strategies(args, [args.strategy], setup)[args.strategy]

    from glpsearch.progress import Display, steps_table
    from glpsearch.report import totals
    from glpsearch.results import search_record, write_search

    with closing(setup), open_store(setup.cache) as store:
        console.print(f"[bold]{args.strategy}[/]: {setup.summary()}")
        with Display(console) as display:
            engine = make_engine(args, setup, store, display)
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


def run_compare(args: argparse.Namespace) -> int:
    console = Console(stderr=True, quiet=args.quiet)
    started = time.perf_counter()
    setup = prepare(args, console, args.strategies)
    chosen = _strategies(args, args.strategies, setup)

    from glpsearch.compare import Comparison, write_compare
    from glpsearch.progress import Display
    from glpsearch.report import table, totals

    with closing(setup), open_store(setup.cache) as store:
        console.print(f"[bold]compare {', '.join(chosen)}[/]: {setup.summary()}")
        with Display(console) as display:
            comparison = Comparison(lambda: make_engine(args, setup, store, display))
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
        f"removed failed ({reason}{others}), so the search stopped there; see {record} "
        "(failures are cached: --retry-failed computes them again)",
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
