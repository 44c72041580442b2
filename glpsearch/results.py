"""The files a search leaves for its user: layers.txt (GLP's layer file) and search.json."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

from glpsearch.engine import Outcome
from glpsearch.errors import UserError
from glpsearch.strategies import SearchResult


def outcome_record(outcome: Outcome) -> dict:
    """One removed set: its score (the mean over seeds), each seed's, and what they cost."""
    return {
        "removed": sorted(outcome.removed),
        "score": outcome.value,
        "budget": outcome.budget,  # below 1: greedy-halving stopped its fine-tune short
        "std": outcome.std,
        "loss": outcome.loss,  # the mean held-out loss: what ranks short fine-tunes
        "se": outcome.se,  # the score's standard error over held-out examples
        "seeds": {
            str(r.job.seed): None if r.score is None else r.score.value for r in outcome.results
        },
        "failure": outcome.failure,
        "cached": outcome.cached,
        "computed": outcome.computed,
        "seconds": round(outcome.seconds, 3),
        "train_seconds": round(sum(s.train_seconds for s in outcome.scores), 3),
    }


def search_record(
    result: SearchResult, baseline: Outcome, outcomes: dict, header: dict, counts: dict
) -> dict:
    """Everything needed to audit or redraw the search without fine-tuning anything."""
    return {
        **header,
        "baseline": outcome_record(baseline),
        "steps": steps_record(result, outcomes),
        "order": result.order,
        "evaluations": counts,
    }


def steps_record(result: SearchResult, outcomes: dict) -> list[dict]:
    """Each depth's chosen set and every candidate's outcome (score, cached or computed, time)."""
    return [
        {
            "depth": step.depth,
            "chosen": None if step.chosen is None else sorted(step.chosen),
            "score": step.score,
            "candidates": [outcome_record(outcomes[c]) for c, _ in step.candidates],
        }
        for step in result.steps
    ]


def write_search(out: Path, record: dict) -> list[Path]:
    """Write search.json, and layers.txt when the result is a removal order."""
    written = [atomic_write(out / "search.json", json.dumps(record, indent=2) + "\n")]
    order = record.get("order")
    if order:
        written.append(atomic_write(out / "layers.txt", "".join(f"{i}\n" for i in order)))
    return written


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Readers see the old file or the new one, never half of one, even after a kill. A failed
    write (a full disk, a folder in the way) leaves no temporary file and is one line naming the
    path: what a search computed is in the cache, so running it again only writes."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "wb" if isinstance(data, bytes) else "w") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; results are not
        os.replace(temporary, path)
    except BaseException as exc:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        if isinstance(exc, OSError):
            raise UserError(
                f"cannot write {path}: {exc.strerror or exc}; every finished result is cached, "
                "so the same command writes it without fine-tuning once that is fixed"
            ) from None
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
