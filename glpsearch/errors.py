"""The one error type glpsearch raises for what a user can fix: the CLI prints its message as
one line and exits with code 2; from Python (`glpsearch.search`, ...) it is raised as is."""

from __future__ import annotations


class GLPSearchError(Exception):
    """Bad input: the message, one line, names the problem and the fix."""


UserError = GLPSearchError  # the name the code base raises it by
