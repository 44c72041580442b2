"""The one error type glpsearch raises for what a user can fix: the CLI prints its message as
one line and exits with code 2; from Python (`glpsearch.search`, ...) it is raised as is."""

from __future__ import annotations


class GLPSearchError(Exception):
    """Bad input: the message, one line, names the problem and the fix."""


UserError = GLPSearchError  # the name the code base raises it by


def first_line(exc: BaseException, limit: int, joined: bool = False) -> str:
    """A library's error as one line of at most `limit` characters, to quote in ours: its first
    line, or all of its lines joined (`datasets` may give the reason on a later one); its type's
    name when it says nothing."""
    text = str(exc).strip()
    if joined:
        text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return (text.splitlines() or [type(exc).__name__])[0][:limit]
