from __future__ import annotations

from glpsearch.cli import run

run()
