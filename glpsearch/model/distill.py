"""Knowledge distillation from the fine-tuned unpruned model into a pruned one (`--distill`).

The teacher is the unpruned model fine-tuned on the same training data with the same settings
and the teacher seed: the plain fine-tune of the empty removed set. It is trained once; its
weights and its logits on every training example (computed once, dropout off) go into one file,
`<cache>/teachers/<plain fingerprint>/<seed>.pt`, which every student of every later run reads.
A file lock makes concurrent processes (parallel workers, two runs on one cache) wait for the
one that trains it. A damaged file is deleted and trained again, to the same teacher.

A student's loss is Hinton's: alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) +
(1 - alpha) * the task loss; a regression student matches the teacher's prediction by squared
error instead. With hidden matching, each kept layer's output also matches (MSE over real
tokens) the output of the teacher layer it is a copy of: a layer-removal student's layer k IS
the teacher's layer `surgery.kept_layers(...)[k]`. Those teacher states are computed per batch,
one forward pass of the teacher without gradients, not cached: caching would take examples x
layers x length x width floats, gigabytes on a GLUE task. The loss is a `training.Objective`:
it runs both models through the evaluator's forward, so a compiled fine-tune compiles it too.

What this needs of an evaluator is `Trainer`, so that it never imports the evaluator (which
imports it).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import torch
import torch.nn.functional as F
from filelock import FileLock

from glpsearch.config import DistillSettings
from glpsearch.hashing import json_sha256
from glpsearch.model import surgery, training
from glpsearch.model.training import Batch, Forward, Progress
from glpsearch.scoring.plan import FULL, Plan

if TYPE_CHECKING:
    from glpsearch.data.task import TaskData

# Bump whenever the distillation loss changes: it invalidates every distilled score.
DISTILL_VERSION = 1


class Trainer(Protocol):
    """What distillation needs of an evaluator (glpsearch/model/evaluator.py's `Evaluator`)."""

    task: TaskData
    device: torch.device
    n_layers: int
    distill: DistillSettings | None
    teachers: Path | None  # where teachers are kept; None: in memory only

    @property
    def plain_fingerprint(self) -> str: ...

    @property
    def train_features(self) -> list[dict]: ...

    def build(self, removed: Iterable[int], seed: int) -> torch.nn.Module: ...

    def fine_tune(
        self,
        model: torch.nn.Module,
        seed: int,
        progress: Progress | None = None,
        plan: Plan = FULL,
        objective: training.Objective | None = None,
    ) -> None: ...

    def batches(self, features: list[dict]) -> Iterator[tuple[list[int], Batch]]: ...

    def autocast(self) -> contextlib.AbstractContextManager: ...

    def forward(self, model: torch.nn.Module, batch: dict[str, Any]) -> Any: ...


def fingerprint(plain: str, settings: DistillSettings) -> str:
    """The fingerprint of distilled fine-tunes: the plain one (which names the teacher, with
    the teacher seed) and every distillation setting. Never equal to a plain fingerprint."""
    payload = {"teacher": plain, "distill": asdict(settings), "version": DISTILL_VERSION}
    return json_sha256(payload)[:20]


def teacher_path(folder: Path, plain: str, seed: int) -> Path:
    """Where the teacher of fine-tunes with the plain fingerprint `plain` is kept."""
    return Path(folder) / plain / f"{seed}.pt"


def layer_pairs(n_layers: int, removed: Iterable[int]) -> list[tuple[int, int]]:
    """(student layer, teacher layer) for each kept layer: the layer it was copied from."""
    return list(enumerate(surgery.kept_layers(n_layers, removed)))


@dataclass(frozen=True)
class Teacher:
    state: dict[str, torch.Tensor]  # the fine-tuned weights, on the CPU
    logits: torch.Tensor  # (training examples, outputs), float32 on the CPU, in example order
    seconds: float  # its fine-tune's, a distilled run's fixed cost


def obtain(evaluator: Trainer, progress: Progress | None = None) -> Teacher:
    """The evaluator's teacher: read from its file, else fine-tuned once and saved there (in
    memory only when the evaluator has no teachers folder)."""
    assert evaluator.distill is not None
    seed = evaluator.distill.teacher_seed
    if evaluator.teachers is None:
        return _train(evaluator, seed, progress)
    path = teacher_path(evaluator.teachers, evaluator.plain_fingerprint, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        found = _read(path, len(evaluator.train_features))
        if found is not None:
            return found
        teacher = _train(evaluator, seed, progress)
        state = {"model": teacher.state, "logits": teacher.logits, "seconds": teacher.seconds}
        training.save_checkpoint(path, state)
        return teacher


def _train(evaluator: Trainer, seed: int, progress: Progress | None) -> Teacher:
    start = time.perf_counter()
    model = evaluator.build((), seed)
    evaluator.fine_tune(model, seed, progress)  # the plain fine-tune, the task's loss
    seconds = time.perf_counter() - start
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return Teacher(state, _logits(evaluator, model), seconds)


@torch.inference_mode()
def _logits(evaluator: Trainer, model: torch.nn.Module) -> torch.Tensor:
    """The teacher's logits on every training example, dropout off."""
    model.eval()
    found: dict[int, torch.Tensor] = {}
    for chunk, batch in evaluator.batches(evaluator.train_features):
        batch.pop("labels")
        with evaluator.autocast():
            logits = evaluator.forward(model, batch).logits.float().cpu()
        found.update(zip(chunk, logits, strict=True))
    return torch.stack([found[i] for i in range(len(found))])


def _read(path: Path, n_examples: int) -> Teacher | None:
    """The teacher in `path`, or None when there is none, or when it is damaged (a disk that
    filled up, a copy cut short), which deletes it: then it is trained again."""
    state = training.load_checkpoint(
        path, lambda found: "model" in found and len(found.get("logits", ())) == n_examples
    )
    if state is None:
        return None
    return Teacher(state["model"], state["logits"], float(state.get("seconds", 0.0)))


class StudentLoss(training.Objective):
    """A student's training loss, in place of the task's. Training examples carry their index,
    so each batch finds its cached teacher logits."""

    def __init__(self, evaluator: Trainer, teacher: Teacher, removed: Iterable[int]) -> None:
        settings = evaluator.distill
        assert settings is not None
        self.settings = settings
        self.regression = evaluator.task.label_names is None
        self.logits = teacher.logits.to(evaluator.device)
        self.pairs = layer_pairs(evaluator.n_layers, removed)
        self.teacher: torch.nn.Module | None = None
        if settings.hidden:
            self.teacher = evaluator.build((), settings.teacher_seed)
            self.teacher.load_state_dict(teacher.state)
            self.teacher.eval().requires_grad_(False)

    def features(self, train: list[dict]) -> list[dict]:
        return [{**feature, "index": i} for i, feature in enumerate(train)]

    def loss(self, forward: Forward, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        index = batch.pop("index")
        output = forward(model, {**batch, "output_hidden_states": self.teacher is not None})
        student, target = output.logits.float(), self.logits[index]
        alpha, t = self.settings.alpha, self.settings.temperature
        if self.regression:
            soft = F.mse_loss(student[:, 0], target[:, 0])
        else:
            soft = (
                t
                * t
                * F.kl_div(
                    F.log_softmax(student / t, -1),
                    F.log_softmax(target / t, -1),
                    log_target=True,
                    reduction="batchmean",
                )
            )
        loss = alpha * soft + (1 - alpha) * output.loss
        if self.teacher is not None:
            inputs: dict[str, Any] = {k: v for k, v in batch.items() if k != "labels"}
            inputs["output_hidden_states"] = True
            with torch.no_grad():
                theirs = forward(self.teacher, inputs).hidden_states
            mask = batch.get("attention_mask")
            loss = loss + hidden_loss(output.hidden_states, theirs, self.pairs, mask)
        return loss


def hidden_loss(
    student: Sequence[torch.Tensor],
    teacher: Sequence[torch.Tensor],
    pairs: Sequence[tuple[int, int]],
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Mean squared error between each student layer's output and its source layer's, over
    real tokens. hidden_states[0] is the embeddings: layer k's output is hidden_states[k + 1]."""
    first = student[0]
    weight = torch.ones(first.shape[:2], device=first.device) if mask is None else mask.float()
    weight = weight.unsqueeze(-1)
    total = sum(
        (((student[k + 1].float() - teacher[i + 1].float()) ** 2) * weight).sum() for k, i in pairs
    )
    return total / (weight.sum() * first.shape[-1] * len(pairs))
