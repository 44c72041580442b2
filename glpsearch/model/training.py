"""The fine-tune loop, apart from the model it trains and from what it minimises.

The evaluator (glpsearch/model/evaluator.py) builds the model, tokenizes and collates the examples
and runs the model (`forward`: eager, or through torch.compile); this module draws the batches,
steps AdamW along the schedule and keeps what a checkpoint needs. What a fine-tune minimises is an
`Objective`: the task's own loss (`TaskLoss`) unless a student's (glpsearch/model/distill.py). An
objective runs the model only through the `forward` it is handed, so whatever it minimises, a
compiled fine-tune is compiled.

A fine-tune in progress (`Training`) can stop after a fraction of its steps and leave a
checkpoint from which a later one continues exactly as if it had never stopped. Checkpoints and
teacher files are written whole (glpsearch/atomic.py) and read by `load_checkpoint`, which
deletes a damaged file so that what it held is computed again, to the same result.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from glpsearch import atomic
from glpsearch.config import TrainSettings
from glpsearch.scoring.plan import Plan
from glpsearch.scoring.score import CandidateFailed

Progress = Callable[[int, int], None]
Batch = dict[str, torch.Tensor]
# runs a model on a batch's inputs: `model(**inputs)`, compiled or not
Forward = Callable[[torch.nn.Module, dict[str, Any]], Any]
# an objective's loss on one batch, as the evaluator runs it (its forward, its precision)
Loss = Callable[[torch.nn.Module, Batch], torch.Tensor]
# Steps between checks that the loss is finite: each check waits for the GPU, so not every step.
FINITE_CHECK_STEPS = 32


class Objective(abc.ABC):
    """What a fine-tune minimises."""

    def features(self, train: list[dict]) -> list[dict]:
        """The examples it trains on, from the tokenized training examples: as they are."""
        return train

    @abc.abstractmethod
    def loss(self, forward: Forward, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        """The loss on `batch`; the model runs as `forward(model, inputs)`, never directly."""


class TaskLoss(Objective):
    """The task's own loss, as the model computes it from the batch's labels."""

    def loss(self, forward: Forward, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return forward(model, batch).loss


def total_steps(n_examples: int, settings: TrainSettings) -> int:
    """Optimizer steps of a full fine-tune on `n_examples`."""
    batches = math.ceil(n_examples / settings.batch_size)
    return max(1, math.ceil(settings.epochs * batches))


@dataclasses.dataclass
class Training:
    """A fine-tune in progress: what a checkpoint keeps, so that a continued fine-tune goes on
    exactly as if it had never stopped (weights, optimizer, schedule, data order, dropout)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    generator: torch.Generator  # draws each epoch's order of batches
    loader: DataLoader
    device: torch.device
    total: int  # optimizer steps of the full run, which the schedule spans
    step: int = 0  # optimizer steps taken
    consumed: int = 0  # batches of the current epoch trained on
    rng: dict[str, torch.Tensor] | None = None  # dropout's random state still to take up
    epoch_start: torch.Tensor = dataclasses.field(init=False)  # `generator` before this epoch

    def __post_init__(self) -> None:
        self.epoch_start = self.generator.get_state()

    @classmethod
    def start(
        cls,
        model: torch.nn.Module,
        features: list[dict],
        settings: TrainSettings,
        seed: int,
        collate: Callable[[list[dict]], Batch],
        device: torch.device,
    ) -> Training:
        """A fine-tune of `model` at its first step: batches of similar lengths in an order
        drawn from `seed`, AdamW, the linear schedule with warmup over the full run."""
        from transformers import get_linear_schedule_with_warmup
        from transformers.trainer_pt_utils import LengthGroupedSampler

        s = settings
        generator = torch.Generator().manual_seed(seed)
        sampler = LengthGroupedSampler(
            s.batch_size, lengths=[len(f["input_ids"]) for f in features], generator=generator
        )
        loader = DataLoader(features, batch_size=s.batch_size, sampler=sampler, collate_fn=collate)
        total = total_steps(len(features), s)
        optimizer = torch.optim.AdamW(
            param_groups(model, s.weight_decay), lr=s.lr, fused=device.type in ("cpu", "cuda")
        )
        schedule = get_linear_schedule_with_warmup(optimizer, round(s.warmup_ratio * total), total)
        return cls(model, optimizer, schedule, generator, loader, device, total)

    def run(self, plan: Plan, loss: Loss, progress: Progress | None = None) -> None:
        """Train as `plan` says: continue its checkpoint, train on to its stop, and leave a
        checkpoint when that is short of the full run."""
        if plan.resume is not None:
            self.restore(plan.resume)
        self.until(plan.stop(self.total), loss, progress)
        if plan.save is not None and self.step < self.total:
            self.save(plan.save)

    def until(self, stop: int, loss: Loss, progress: Progress | None = None) -> None:
        """Train on to optimizer step `stop`, epoch after epoch."""
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        self.model.train()
        while self.step < stop:
            for batch in self.rest_of_epoch():
                value = loss(self.model, to_device(batch, self.device))
                finite &= torch.isfinite(value)  # on the device: no wait for the GPU each step
                if (self.step + 1) % FINITE_CHECK_STEPS == 0 or self.step + 1 == stop:
                    _check_finite(finite, self.step + 1)
                self.update(value)
                if progress is not None:
                    progress(self.step, stop)
                if self.step == stop:
                    break
            else:  # the epoch is done: the next draws a new order
                self.consumed = 0

    def rest_of_epoch(self) -> Iterator[Batch]:
        """This epoch's batches not yet trained on, on the CPU: its order is drawn now (all of
        a new epoch's, the rest of a restored one's); dropout takes up where a restored
        checkpoint left it."""
        self.epoch_start = self.generator.get_state()
        batches = iter(self.loader)  # draws this epoch's order from `generator`
        for _ in range(self.consumed):  # continuing a checkpoint: skip what it trained on
            next(batches)
        if self.rng is not None:  # dropout goes on exactly where the checkpoint left it
            set_rng(self.rng, self.device)
            self.rng = None
        return batches

    def update(self, loss: torch.Tensor) -> None:
        """One optimizer step on the gradients of `loss`, clipped to norm 1."""
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.schedule.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.consumed += 1

    def restore(self, path: str) -> None:
        """Continue the checkpoint at `path`; none there (or a damaged one): start over."""
        state = load_checkpoint(path, lambda found: found.keys() >= CHECKPOINT_KEYS)
        if state is None:
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        self.generator.set_state(state["epoch_generator"])
        self.epoch_start = self.generator.get_state()
        self.step, self.consumed, self.rng = state["step"], state["consumed"], state["rng"]

    def save(self, path: str) -> None:
        """Leave a checkpoint at `path` that `restore` continues."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
            "step": self.step,
            "consumed": self.consumed,
            "epoch_generator": self.epoch_start,
            "rng": get_rng(self.device) if self.rng is None else self.rng,  # None: trained on
        }
        save_checkpoint(path, state)


CHECKPOINT_KEYS = {"model", "optimizer", "schedule", "step", "consumed", "epoch_generator", "rng"}


def save_checkpoint(path: str | Path, state: dict) -> None:
    """`state` written whole: a kill leaves the old file or the new one. A failed write raises
    its OSError, the environment's fault (glpsearch/scoring/failures.py), not the candidate's."""
    atomic.replace(Path(path), lambda stream: torch.save(state, stream))


def load_checkpoint(path: str | Path, fits: Callable[[dict], bool]) -> dict | None:
    """The state saved at `path` (on the CPU, where random states must be; load_state_dict
    copies weights to the device) if it `fits` its reader; None when there is none (another
    search deleted it meanwhile, having finished with it), and None when it is damaged
    (truncated by a full disk, a copy cut short) or of another shape, which deletes it: what it
    held is computed again, to the same result, instead of failing for the file's fault."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        return None
    except Exception:  # RuntimeError (a torn zip), OSError, UnpicklingError: unreadable
        state = None
    if isinstance(state, dict) and fits(state):
        return state
    with contextlib.suppress(OSError):
        os.unlink(path)
    return None


def get_rng(device: torch.device) -> dict[str, torch.Tensor]:
    """The global random state a fine-tune draws dropout masks from."""
    rng = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def set_rng(rng: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(rng["cpu"])
    if device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and normalisation weights, as BERT's recipe prescribes."""
    decay, plain = [], []
    for param in model.parameters():
        if param.requires_grad:
            (plain if param.ndim < 2 else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]


def to_device(batch: Batch, device: torch.device) -> Batch:
    """On a GPU, pinned batches are copied without waiting for the work queued before them."""
    if device.type == "cuda":
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
    return {k: v.to(device) for k, v in batch.items()}


def _check_finite(finite: torch.Tensor, step: int) -> None:
    if not finite.item():
        raise CandidateFailed(f"training loss became nan or inf by step {step}")
