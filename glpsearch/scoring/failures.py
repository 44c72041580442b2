"""Whose fault a failed fine-tune is: the candidate's, or the environment's around it.

A candidate's own failure (a diverged loss, out of memory at that size, non-finite predictions,
any error of the model or its code) is a fact about that set: it is cached and skipped, and
`--retry-failed` recomputes it. A failure of the environment (I/O, a damaged file, a dead worker
or pipe, an unusable device) says nothing about the set: caching it would make a later search
on a healthy machine choose another answer. Such a failure is never cached; the run stops with
one line instead (exit 2), and the same command resumes once the cause is fixed. No torch.
"""

from __future__ import annotations

from glpsearch.errors import UserError

# OSError covers I/O errors, a full disk, broken pipes and refused connections (a dead worker's
# manager); EOFError a pipe closed mid-message.
ENVIRONMENT = (OSError, EOFError)


class EnvironmentFailure(UserError):
    """A job failed for a reason outside the candidate; nothing was cached for it."""


# A fault of the accelerator itself (an illegal memory access, an ECC error, a lost device):
# torch raises `torch.AcceleratorError` (a RuntimeError); older releases a RuntimeError whose
# message starts so. Out of memory is neither: at that size it is the candidate's.
ACCELERATOR_FAULTS = ("AcceleratorError",)
ACCELERATOR_MESSAGES = ("CUDA error", "CUDA driver error", "cuDNN error", "CUBLAS_STATUS_")


def environmental(exc: BaseException) -> bool:
    """Whether `exc` came from around the candidate rather than from fine-tuning it."""
    if isinstance(exc, (*ENVIRONMENT, EnvironmentFailure)):
        return True
    if any(kind.__name__ in ACCELERATOR_FAULTS for kind in type(exc).__mro__):
        return True
    return isinstance(exc, RuntimeError) and str(exc).lstrip().startswith(ACCELERATOR_MESSAGES)


def reason(exc: BaseException) -> str:
    """One line naming the exception: 'Type: first line of its message' (at most 500 chars)."""
    text = str(exc).strip()  # MemoryError() has no message: no "MemoryError: " then
    lines = (f"{type(exc).__name__}: {text}" if text else type(exc).__name__).splitlines()
    return lines[0][:500]
