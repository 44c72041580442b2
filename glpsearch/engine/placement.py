"""Where parallel workers run: how many candidates each device holds at once.

`--jobs N` spreads N workers over the devices in turn, several to a GPU when N exceeds them: a
small encoder's fine-tune step at batch 16 keeps a GPU busy for a fraction of its time (the rest
is Python and kernel launches), so candidates side by side fill it. `--jobs auto` sizes each
GPU's share from its free memory and the memory one candidate was measured to take. On a CPU it
means one worker: a fine-tune already uses every core, and workers would only split them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from glpsearch.scoring.plan import Plan

if TYPE_CHECKING:
    from glpsearch.engine.parallel import Recipe
    from glpsearch.model.evaluator import Evaluator

# A worker process's CUDA context and kernels: GPU memory torch's allocator does not count.
CONTEXT_BYTES = 600 * 2**20
# On top of the measured peak: fragmentation after many candidates of different sizes.
HEADROOM = 1.25

FreeMemory = Callable[[str], int]


def free_gpu_memory(device: str) -> int:
    """Bytes free on a GPU now, as the driver sees it (other processes' use included)."""
    import torch

    return torch.cuda.mem_get_info(torch.device(device))[0]


def candidate_memory(evaluator: Evaluator) -> int:
    """GPU bytes one candidate takes at its peak: the unpruned model's first training step (the
    length-grouped sampler puts the batch with the longest example first) and held-out scoring."""
    import torch

    device = evaluator.device
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_reserved(device)
    evaluator.score((), 0, None, Plan(1 / evaluator.total_steps))
    peak = torch.cuda.max_memory_reserved(device) - before
    torch.cuda.empty_cache()
    return peak


def workers_per_device(
    devices: Sequence[str],
    need: int,
    free: FreeMemory = free_gpu_memory,
    cores: int | None = None,
) -> dict[str, int]:
    """Candidates each device runs at once: a CPU 1; a GPU as many as its free memory holds at
    `need` bytes each (with headroom and a CUDA context per worker), at least 1, and at most its
    share of the CPU cores (each worker's Python drives its GPU)."""
    distinct = list(dict.fromkeys(devices))
    gpus = [d for d in distinct if d.startswith("cuda")]
    most = max(1, (cores or os.cpu_count() or 1) // max(1, len(gpus)))
    per_worker = need * HEADROOM + CONTEXT_BYTES
    return {d: max(1, min(most, int(free(d) // per_worker))) if d in gpus else 1 for d in distinct}


def seats(counts: dict[str, int]) -> tuple[str, ...]:
    """One device per worker, taking the devices in turn, so the first workers land on
    different GPUs."""
    order: list[str] = []
    for round_ in range(max(counts.values(), default=0)):
        order += [device for device, n in counts.items() if n > round_]
    return tuple(order)


def auto_seats(
    recipe: Recipe, devices: Sequence[str], free: FreeMemory = free_gpu_memory
) -> tuple[str, ...]:
    """`--jobs auto`: a device per worker, sized by measuring one candidate on the first GPU."""
    gpus = [d for d in devices if d.startswith("cuda")]
    need = candidate_memory(recipe.build(gpus[0])) if gpus else 0
    return seats(workers_per_device(devices, need, free))
