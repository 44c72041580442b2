"""The argparse parser, built from the options' declarations (glpsearch/config.py dataclasses,
strategies' StrategyOptions, pick's Target): this module only groups them per command and says
where a command's default or help differs. A bad value is one line and exit code 2."""

from __future__ import annotations

import argparse
from pathlib import Path

from glpsearch import strategies
from glpsearch.cli.after_search import (
    run_evaluate,
    run_export,
    run_pick,
    run_report,
    run_speed,
    run_status,
)
from glpsearch.cli.common import EXIT_USAGE
from glpsearch.cli.search import run_compare, run_search
from glpsearch.config import (
    DATA_OPTIONS,
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
from glpsearch.options import add_arguments
from glpsearch.ship.picking import Target
from glpsearch.version import __version__

DESCRIPTION = "The `glpsearch` command. Bad input ends in one line on stderr and exit code 2."
RUN = ("remove", "seed", "seeds", "retry_failed", "force")  # then the strategies' options
HALVING = ("min_budget",)  # between StrategyOptions' beam_width, max_evaluations and eta


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not usage + traceback-like noise
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="glpsearch", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"glpsearch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    search = commands.add_parser("search", help="search which layers to remove")
    search.set_defaults(run=run_search)
    add_arguments(_run_arguments(search), Search, ("strategy",))

    compare = commands.add_parser(
        "compare", help="run several strategies through one cache and compare them"
    )
    compare.set_defaults(run=run_compare)
    add_arguments(_run_arguments(compare), Compare, ("strategies",), strategies={
        "help": f"comma-separated, of {', '.join(sorted(strategies.REGISTRY))} "
        f"(default: {','.join(Compare.strategies)})"})  # fmt: skip

    report = commands.add_parser(
        "report", help="redraw the table, CSV and plot of a compare or search out folder"
    )
    report.set_defaults(run=run_report)
    report.add_argument("out_dir", type=Path, metavar="OUT_DIR")

    evaluate = commands.add_parser(
        "evaluate",
        help="fine-tune each chosen model on all training data and score it on the dev set, "
        "over several seeds (the paper's final protocol)",
    )
    evaluate.set_defaults(run=run_evaluate)
    add_arguments(evaluate, From)
    add_arguments(evaluate.add_argument_group("which models"), Evaluate,
                  ("strategies", "layers_removed"))  # fmt: skip
    add_arguments(evaluate.add_argument_group("seeds"), Evaluate,
                  ("seed", "seeds", "retry_failed"))  # fmt: skip
    _task_arguments(evaluate, Evaluate)
    _train_arguments(evaluate, "fine-tuning (default: the record's settings)")
    _distill_arguments(evaluate, Evaluate)
    _work_arguments(evaluate)
    out = {"help": "where evaluate.json goes (default: the --from folder)"}
    add_arguments(evaluate.add_argument_group("files"), Files, out=out)

    status = commands.add_parser("status", help="list what a cache holds")
    status.set_defaults(run=run_status)
    status.add_argument("--cache", type=Path)
    status.add_argument(
        "--check", action="store_true", help="list every unreadable (damaged) row of the cache"
    )
    status.add_argument(
        "--fix",
        action="store_true",
        help="with --check: drop the damaged rows (their results are computed again when asked)",
    )

    export = commands.add_parser(
        "export", help="write a pruned model as a Hugging Face checkpoint with a model card"
    )
    export.set_defaults(run=run_export)
    which = export.add_argument_group("which layers")
    add_arguments(which, Export, ("from_dir",))
    add_arguments(which.add_mutually_exclusive_group(), Export, ("layers_removed", "remove"))
    add_arguments(which, Export, ("strategy",))
    _task_arguments(export, Export)
    train = _train_arguments(export, "fine-tuning (with --finetune; default: the record's)", False)
    add_arguments(train, Export, ("finetune", "seed", "device"))
    _distill_arguments(export, Export)
    add_arguments(export, Export, ("cache",))
    add_arguments(export, Export, ("out",), out={"required": True})
    add_arguments(export.add_argument_group("the Hugging Face Hub"), Export,
                  ("push_to_hub", "private"))  # fmt: skip
    add_arguments(export, Export, ("quiet",))

    speed = commands.add_parser(
        "speed", help="measure latency, throughput and size of each model of an out folder"
    )
    speed.set_defaults(run=run_speed)
    add_arguments(speed, From)
    add_arguments(speed, Speed, ("batch_sizes", "devices", "seq_length", "repeats", "threads"))
    _task_arguments(speed, Speed)
    add_arguments(speed, Speed, ("quiet",))

    pick = commands.add_parser(
        "pick", help="the best depth within a latency, or the fastest above a score"
    )
    pick.set_defaults(run=run_pick)
    add_arguments(pick, From)
    target = pick.add_mutually_exclusive_group(required=True)
    add_arguments(target, Target, ("max_latency_ms", "min_score"))
    add_arguments(pick, Target, ("batch_size", "device"))
    return parser


def _run_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The options search and compare share; returns the search group for their strategy option."""
    _task_arguments(parser, Run)
    how = parser.add_argument_group("search")
    add_arguments(how, Run, RUN)
    add_arguments(how, strategies.StrategyOptions, ("max_seeds", "beam_width", "max_evaluations"))
    add_arguments(how, Run, HALVING)
    add_arguments(how, strategies.StrategyOptions, ("eta",))
    add_arguments(how, Run, ("checkpoint_space",))
    _train_arguments(parser, "fine-tuning of each candidate")
    _work_arguments(parser)
    out = {"default": Path("glp-out"), "help": "output folder (default: glp-out)"}
    add_arguments(parser.add_argument_group("files"), Files, out=out)
    return how


def _work_arguments(parser: argparse.ArgumentParser) -> None:
    add_arguments(parser.add_argument_group("parallel work"), Work,
                  ("jobs", "devices", "backend", "scheduler"))  # fmt: skip


def _task_arguments(parser: argparse.ArgumentParser, command: type) -> None:
    """--model (the command's) and where the data is."""
    what = parser.add_argument_group("model and data")
    add_arguments(what, command, ("model",))
    add_arguments(what, DataSpec, DATA_OPTIONS)


def _train_arguments(
    parser: argparse.ArgumentParser, title: str, device: bool = True
) -> argparse._ArgumentGroup:
    """Fine-tuning options, those not given from the task's or the record's settings; with
    `device`, the run's --device (export declares its own)."""
    train = parser.add_argument_group(title)
    add_arguments(train, TrainSettings)
    if device:
        add_arguments(train, Work, ("device",))
    return train


def _distill_arguments(parser: argparse.ArgumentParser, command: type) -> None:
    """--distill (the command's) and its settings (glpsearch/model/distill.py)."""
    distill = parser.add_argument_group("distillation")
    add_arguments(distill, command, ("distill",))
    add_arguments(distill, DistillSettings)
