"""Evaluate several candidates at once in worker processes, through joblib.

Each worker builds its own evaluator from a small picklable `Recipe` the first time it is used
and keeps it for every later candidate, so weights are read and data tokenized once per worker.
Results stream back as they finish; only the driver touches the store (SQLite must never be
opened from another machine). With `backend="dask"` the same calls run on a Dask cluster
through joblib's Dask backend.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import Any

from glpsearch.config import DataSpec, DistillSettings, TrainSettings
from glpsearch.engine import Job, Progress, Result, Scorer, compute
from glpsearch.failures import reason

WORKER_RETRIES = 2  # a candidate whose worker died is retried this often, then the run stops


@dataclass(frozen=True)
class Recipe:
    """Everything a worker needs to build the same evaluator as the driver."""

    model: str | None
    data: DataSpec
    settings: TrainSettings
    final: bool = False  # the final protocol: all training data, scored on the dev set
    distill: DistillSettings | None = None  # students of the teacher kept in `teachers`
    teachers: Path | None = None

    def build(self, device: str) -> Scorer:
        from glpsearch.data import load_task
        from glpsearch.evaluator import Evaluator

        task = load_task(self.data)
        task = task.final() if self.final else task
        return Evaluator(self.model, task, self.settings, device, self.distill, self.teachers)


_loaded: dict[Recipe, Scorer] = {}  # per worker process: the evaluator it built


def _work(
    recipe: Recipe,
    job: Job,
    devices: Sequence[str],
    tokens: Any,
    threads: int,
    progress: Any,
) -> Result:
    """Runs in a worker process."""
    if recipe not in _loaded:
        import torch

        torch.set_num_threads(threads)
        _loaded.clear()
        _loaded[recipe] = recipe.build(_device_for_this_worker(devices, tokens))
    report = None
    if progress is not None:

        def report(step: int, total: int) -> None:
            nonlocal progress
            if progress is not None and (step == total or step % max(1, total // 50) == 0):
                try:  # ~50 updates a candidate
                    progress.put((job, step, total))
                except (OSError, EOFError):  # the driver's relay is gone: only the display
                    progress = None  # loses, never the candidate

    return compute(_loaded[recipe], job, report)


def _device_for_this_worker(devices: Sequence[str], tokens: Any) -> str:
    """Each new worker takes the next device token (so N workers spread over N devices);
    workers beyond the tokens (a Dask cluster, a respawned worker) go by process id."""
    if tokens is not None:
        try:
            return tokens.get_nowait()
        except (queue.Empty, EOFError, OSError):
            pass
    return devices[os.getpid() % len(devices)]


class JoblibRunner:
    """A `Runner` for the engine that computes up to `jobs` fine-tunes at once."""

    slots = None  # hand it a whole step: joblib keeps every worker busy until the step is done

    def __init__(
        self,
        recipe: Recipe,
        jobs: int,
        devices: Sequence[str] = ("cpu",),
        backend: str = "loky",
        scheduler: str | None = None,
    ) -> None:
        self.recipe = recipe
        self.jobs = jobs
        self.devices = tuple(devices)
        self.backend = backend
        self.threads = max(1, (os.cpu_count() or 1) // jobs)
        self._client: Any = None
        self._manager: SyncManager | None = None
        if backend == "dask":
            from glpsearch.errors import UserError

            try:
                from distributed import Client, LocalCluster
            except ImportError:
                raise UserError(
                    "--backend dask needs Dask: pip install 'dask[distributed]'"
                ) from None
            try:
                self._client = (
                    Client(scheduler)
                    if scheduler
                    else Client(
                        LocalCluster(
                            n_workers=jobs,
                            threads_per_worker=1,
                            processes=True,
                            dashboard_address=None,
                        )
                    )
                )
            except OSError as exc:
                raise UserError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        else:  # live progress and device tokens for the local workers
            self._manager = SyncManager()
            self._manager.start()
        self._tokens = None
        if self._manager is not None:
            self._tokens = self._manager.Queue()
            for i in range(jobs):
                self._tokens.put(self.devices[i % len(self.devices)])

    def run(self, jobs: Sequence[Job], progress: Progress) -> Iterator[Result]:
        from joblib import Parallel, delayed, parallel_config

        remaining = list(jobs)
        for attempt in range(WORKER_RETRIES + 1):
            channel = self._channel()  # anew each try: the manager may have died meanwhile
            stop = threading.Event()
            drain = threading.Thread(target=_relay, args=(channel, progress, stop), daemon=True)
            drain.start()
            try:
                with parallel_config(backend=self.backend, n_jobs=self.jobs):
                    results = Parallel(return_as="generator_unordered")(
                        delayed(_work)(
                            self.recipe, job, self.devices, self._tokens, self.threads, channel
                        )
                        for job in remaining
                    )
                    for result in results:
                        remaining.remove(result.job)
                        yield result
                return
            except Exception as exc:  # a worker died (killed, segfault, OOM-killer)
                if attempt == WORKER_RETRIES:  # not the candidates' fault: never cached
                    why = f"worker died: {reason(exc)}"[:500]
                    for job in remaining:
                        yield Result(job, None, why, 0.0, environment=True)
            finally:
                stop.set()

    def _channel(self) -> Any:
        """A queue for workers' live progress; None without a manager process, or when it died
        (then the device tokens, its queue too, go: a worker could not even unpickle them)."""
        if self._manager is None:
            return None
        try:
            return self._manager.Queue()
        except (OSError, EOFError):
            self._tokens = None
            return None

    def close(self) -> None:
        if self._client is not None:
            cluster = self._client.cluster
            self._client.close()
            if cluster is not None:
                cluster.close()
        if self._manager is not None:
            with contextlib.suppress(OSError, EOFError):  # its process may have died
                self._manager.shutdown()


def _relay(channel: Any, progress: Progress, stop: threading.Event) -> None:
    """Forward workers' training progress to the driver's display."""
    if channel is None:
        return
    while not stop.is_set():
        try:
            job, step, total = channel.get(timeout=0.2)
        except (queue.Empty, EOFError, OSError):
            continue
        progress(job, step, total)
