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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.managers import SyncManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glpsearch.config import DataSpec, DistillSettings, TrainSettings
from glpsearch.engine.core import Job, JobProgress, Result, Scorer, compute
from glpsearch.scoring.failures import reason

if TYPE_CHECKING:
    from glpsearch.data.task import TaskData
    from glpsearch.model.evaluator import Evaluator

WORKER_RETRIES = 2  # a candidate whose worker died is retried this often, then the run stops


@dataclass(frozen=True)
class Recipe:
    """Everything an evaluator is built from: the one way to build one (the driver's, every
    worker's, the commands' after a search, the API's), so they cannot drift apart."""

    model: str | None
    data: DataSpec
    settings: TrainSettings
    final: bool = False  # the final protocol: all training data, scored on the dev set
    distill: DistillSettings | None = None  # students of the teacher kept in `teachers`
    teachers: Path | None = None

    def build(self, device: str, task: TaskData | None = None) -> Evaluator:
        """The evaluator on `device`; `task`: the data `data` names, already loaded (the driver
        has it; the API's data in memory has no file to load), else it is loaded here. Cheap:
        weights load and data tokenizes on its first fine-tune (glpsearch/model/evaluator.py)."""
        from glpsearch.data.task import load_task
        from glpsearch.model.evaluator import Evaluator

        task = load_task(self.data) if task is None else task
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
    alone: bool = True,
) -> Result | Crowded:
    """Runs in a worker process; `alone`: no other candidate runs at the same time."""
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

    return _compute_beside_others(_loaded[recipe], job, report, alone)


@dataclass(frozen=True)
class Crowded:
    """A worker's answer instead of a `Result`: the candidate ran out of memory while others
    shared the machine, so it says nothing about the candidate; the driver runs it again alone."""

    job: Job


class _Watched:
    """A worker's scorer, noting whether a candidate's evaluation ran out of memory (`compute`
    calls only `score`)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer
        self.out_of_memory = False

    def score(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        try:
            return self.scorer.score(*args, **kwargs)
        except (torch.cuda.OutOfMemoryError, MemoryError):
            self.out_of_memory = True
            raise


def _compute_beside_others(
    scorer: Scorer, job: Job, report: Callable[[int, int], None] | None, alone: bool
) -> Result | Crowded:
    """`compute`, except that running out of memory beside other candidates is no result.
    A worker hands its cached GPU memory back after each candidate (a few allocations to redo
    next time, against a whole fine-tune), so the workers beside it can use that memory."""
    import torch

    watched = _Watched(scorer)
    result = compute(watched, job, report)  # type: ignore[arg-type]  # score is all it calls
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
    return Crowded(job) if watched.out_of_memory and not alone else result


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

    def run(self, jobs: Sequence[Job], progress: JobProgress) -> Iterator[Result]:
        yield from self._retrying_crowded_alone(jobs, progress)

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

    def _retrying_crowded_alone(
        self, jobs: Sequence[Job], progress: JobProgress
    ) -> Iterator[Result]:
        """Results of `jobs`; a candidate that ran out of memory beside others is run again
        with nothing else running (memory is what co-location took from it, not what it needs),
        and only its result then counts."""
        crowded = []
        for result in self._attempts(jobs, progress, alone=self.jobs == 1 or len(jobs) == 1):
            if isinstance(result, Crowded):
                crowded.append(result.job)
            else:
                yield result
        for job in crowded:
            yield from self._attempts([job], progress, alone=True)  # yields no Crowded: alone

    def _attempts(
        self, jobs: Sequence[Job], progress: JobProgress, alone: bool
    ) -> Iterator[Result | Crowded]:
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
                            self.recipe,
                            job,
                            self.devices,
                            self._tokens,
                            self.threads,
                            channel,
                            alone,
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

    def close(self) -> None:
        if self._client is not None:
            cluster = self._client.cluster
            self._client.close()
            if cluster is not None:
                cluster.close()
        if self._manager is not None:
            with contextlib.suppress(OSError, EOFError):  # its process may have died
                self._manager.shutdown()


def _relay(channel: Any, progress: JobProgress, stop: threading.Event) -> None:
    """Forward workers' training progress to the driver's display."""
    if channel is None:
        return
    while not stop.is_set():
        try:
            job, step, total = channel.get(timeout=0.2)
        except (queue.Empty, EOFError, OSError):
            continue
        progress(job, step, total)
