"""Files replaced whole: the out folder's records and drawings, an export's files, the cache's
small facts, fine-tune checkpoints and teacher files. A reader sees the old file or the new
one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from glpsearch.errors import UserError


def atomic_write(path: Path, data: str | bytes) -> Path:
    """`replace(path, data)`, its failure (a full disk, a folder in the way) one line naming the
    path: what a search computed is in the cache, so running it again only writes."""
    try:
        return replace(path, data)
    except OSError as exc:
        raise UserError(
            f"cannot write {path}: {exc.strerror or exc}; every finished result is cached, "
            "so the same command writes it without fine-tuning once that is fixed"
        ) from None


def replace(path: Path, data: str | bytes | Callable[[BinaryIO], object]) -> Path:
    """Write `data` (or what `data(stream)` writes: torch.save) to a temporary name, then rename:
    readers see the old file or the new one, never half of one, even after a kill. A failed
    write leaves no temporary file and raises as it failed: a fine-tune's files let an OSError
    through, the environment's fault (glpsearch/scoring/failures.py), not the candidate's."""
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w" if isinstance(data, str) else "wb") as stream:
            if callable(data):
                data(stream)
            else:
                stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; results are not
        os.replace(temporary, path)
    except BaseException:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
