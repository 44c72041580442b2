"""Ctrl-C that is not lost: a KeyboardInterrupt can land in a library's cleanup code, which
prints and drops it, so the press is remembered and raised again at the next engine event.
Kept apart so the CLI's `main` (which installs it) and every run's engine (which heeds it,
glpsearch/runs/assemble.py) share it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch loads only when a command needs it: --help stays fast
    from glpsearch.engine.core import Event

_interrupted = threading.Event()


@contextmanager
def sticky_interrupt() -> Iterator[None]:
    """Ctrl-C that stays pressed: a KeyboardInterrupt that lands in a library's cleanup code
    (one raised in a __del__ is printed and dropped) is raised again at the next engine event
    (`heeding`). Only the main thread can set signal handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        _interrupted.set()
        raise KeyboardInterrupt

    _interrupted.clear()
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def heeding(display: Callable[[Event], None]) -> Callable[[Event], None]:
    """The display, raising KeyboardInterrupt again once Ctrl-C was pressed (see above)."""

    def on_event(event: Event) -> None:
        if _interrupted.is_set() and threading.current_thread() is threading.main_thread():
            raise KeyboardInterrupt
        display(event)

    return on_event
