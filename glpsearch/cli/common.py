"""What the commands share: exit codes, where tables go, and the parsed arguments as the
library's option dataclasses (`told`), whose checks then speak in flags."""

from __future__ import annotations

import argparse
import os

from rich.console import Console

from glpsearch.errors import UserError
from glpsearch.options import Given, OptionError, flag_of, given
from glpsearch.runs.assemble import COMMANDS, GIVEN, Told

EXIT_FAILED = 1  # every candidate of a depth failed: the search stopped short of --remove
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# stdout that is a file or a pipe (a log, CI, a notebook's subprocess) gets tables this wide:
# rich would otherwise fit them into 80 columns and cut their numbers short ("0.01…").
LOG_WIDTH = 200


def output(quiet: bool = False) -> Console:
    """Where tables and results go: stdout, as wide as the terminal, or LOG_WIDTH when it is not
    one (and $COLUMNS does not say otherwise)."""
    console = Console(quiet=quiet)
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(quiet=quiet, width=LOG_WIDTH)


def progress(quiet: bool) -> Console:
    """Where progress goes: stderr, its lines never wrapped when it is not a terminal (a log
    keeps each line whole, as the tables on stdout are)."""
    return Console(stderr=True, quiet=quiet, soft_wrap=True)


def told(args: argparse.Namespace) -> Told:
    """The command's options as its dataclasses (glpsearch.runs.assemble.COMMANDS); a value
    refused when built is one line naming its flag, e.g. `--warmup-ratio must be between 0 and
    1`."""
    built = {}
    for key, cls in COMMANDS[args.command].items():
        values = given(args, cls)
        try:
            built[key] = Given(cls, values) if key in GIVEN else cls(**values)
        except OptionError as exc:
            raise UserError(f"{flag_of(cls, exc.name)} {exc.message}") from None
    return Told(**built)
