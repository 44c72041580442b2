"""Files replaced whole: the out folder's records and drawings, an export's files, the cache's
small facts. A reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from glpsearch.errors import UserError


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
