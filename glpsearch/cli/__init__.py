"""The `glpsearch` command's entry points: `main` parses the options and runs one command,
turning bad input into one line on stderr and exit code 2 and Ctrl-C into exit code 130; `run`
is the console script. The parser is built in `arguments` from the options' declarations
(glpsearch/config.py); search and compare are in `search`; the commands on a finished out
folder (and the cache) in `after_search`; what they share in `common`. Each command calls the
library's run (glpsearch/api.py) and only prints and writes."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from glpsearch.cli.arguments import build_parser
from glpsearch.cli.common import EXIT_INTERRUPTED, EXIT_USAGE
from glpsearch.errors import UserError
from glpsearch.runs.interrupt import sticky_interrupt
from glpsearch.store import StoreError

__all__ = ["main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with sticky_interrupt():
        try:
            return args.run(args)
        except (UserError, StoreError) as exc:
            print(f"glpsearch: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print(
                "\nglpsearch: interrupted; every finished evaluation is cached, "
                "run the same command again to resume",
                file=sys.stderr,
            )
            return EXIT_INTERRUPTED


def run() -> None:
    """The `glpsearch` command. After Ctrl-C every finished result is already committed, so it
    exits at once: waiting on libraries' teardown (worker pools, native thread pools) can hang
    or abort a process that was told to stop."""
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
