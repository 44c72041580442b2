"""Fine-tune and score a model with a given set of encoder layers removed.

All torch and transformers work of a search lives here. What can be refused (the config, the layer
list, the tokenizer, --max-length, a folder without weights) is checked when it is built; the
pretrained weights are read and the task tokenized on the first fine-tune, once per process, so a
search the cache answers entirely never pays for them, nor `speed`/`export` for the fingerprint
(computed when first asked for). Each candidate then costs one copy of the weights plus its
fine-tune. A fine-tune runs as its `Plan` (glpsearch/scoring/plan.py) says: it may stop after a
fraction (`budget`) of its steps and leave a checkpoint from which a later call continues it exactly
as if it had never stopped; the loop, its checkpoints and what it minimises (an `Objective`: the
task's loss, or a student's) are glpsearch/model/training.py's. Knows nothing of search order or the
cache.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

from glpsearch import memo
from glpsearch.config import DistillSettings, TrainSettings
from glpsearch.data.task import Examples, TaskData
from glpsearch.errors import UserError, first_line
from glpsearch.hashing import json_sha256
from glpsearch.model import distill as distillation
from glpsearch.model import source as models
from glpsearch.model import surgery, training
from glpsearch.model.training import Progress
from glpsearch.scoring import metrics, reference
from glpsearch.scoring.plan import FULL, Plan
from glpsearch.scoring.score import CandidateFailed, Score
from glpsearch.version import __version__

# Bump whenever the fine-tune or scoring procedure changes: it invalidates every cached score.
# 2: fused AdamW (one kernel per step instead of one per tensor; same updates to 1e-6).
EVALUATOR_VERSION = 2


class Evaluator:
    # Lengths a batch is padded up to, so a GPU sees a few shapes again and again (what CUDA
    # graphs and torch.compile need); () pads each batch to its longest example. Attention
    # masks keep scores the same to float noise. Off everywhere and not in the fingerprint:
    # only bench/gpu_step.py --buckets sets it, until a GPU measurement shows it pays (on a
    # CPU padding only costs); turning it on for users needs a fingerprint entry.
    length_buckets: tuple[int, ...] = ()
    # torch.compile's keywords (e.g. {"mode": "reduce-overhead"}) for the model's forward in the
    # fine-tune step and the eval loop (the backward is compiled with it); None: eager. One
    # compiled function serves every candidate of the process (same code, new weights). Off
    # and not in the fingerprint, like length_buckets: only bench/gpu_step.py --compile sets
    # it. Inductor's kernels draw dropout masks from another random stream than eager's, so a
    # compiled fine-tune is another random run: turning it on for users needs a fingerprint
    # entry. (tests/glpsearch/test_compile.py: backend aot_eager scores exactly as eager.)
    compile_options: dict[str, Any] | None = None

    def __init__(
        self,
        model: str | None,
        task: TaskData,
        settings: TrainSettings,
        device: str = "cpu",
        distill: DistillSettings | None = None,
        teachers: Path | None = None,
    ) -> None:
        """`distill`: train every model as a student of the fine-tuned unpruned model, kept
        in the folder `teachers` (glpsearch/model/distill.py)."""
        self.task = task
        self.settings = settings
        self.device = torch.device(device)
        self.model_dir = models.resolve(model)
        self.model_name = model or models.EMBEDDED_MODEL
        # bf16 autocast where the hardware has it (a GPU's tensor cores); float32 on CPU, where
        # bf16 matrix work is slower on most machines and scores would change.
        self.precision = (
            "bf16" if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
        )
        facts = memo.recall("model", self._model_key, self._check_model)
        self.n_layers, self._inputs = facts["n_layers"], set(facts["inputs"])
        limit = facts["max_length"]
        if limit is not None and settings.max_length > limit:
            raise UserError(
                f"--max-length {settings.max_length} exceeds what the model can read ({limit})"
            )
        self.distill, self.teachers = distill, teachers
        self._teacher: distillation.Teacher | None = None

    def _model_key(self) -> list:
        """What `_check_model`'s answer depends on: the model's files, the labels its config
        names, and the code that reads them."""
        task = self.task
        return [
            self._digest,
            task.label_names,
            task.num_labels,
            version("transformers"),
            __version__,
            EVALUATOR_VERSION,
        ]

    def _check_model(self) -> dict[str, Any]:
        """What a fine-tune relies on, checked from the config, the tokenizer and a weightless
        copy of the model (no weights read), so what can be refused is refused now, not at the
        first candidate. Remembered (glpsearch/memo.py), keyed by the model's files: it imports
        transformers and the model's code, over two seconds a cached re-run has no use for."""
        config = self._config
        inputs = _architecture(self.model_dir, config)
        tokenizer = self.tokenizer
        if len(tokenizer) <= len(set(tokenizer.all_special_tokens)):
            # transformers builds a tokenizer of special tokens only when the folder has no
            # tokenizer files: every word would be [UNK] and every score meaningless
            raise UserError(
                f"{self.model_dir} has no tokenizer files (its tokenizer knows no words); "
                "give a folder saved with the model's tokenizer (tokenizer.save_pretrained)"
            )
        return {
            "n_layers": config.num_hidden_layers,
            "inputs": inputs,
            "max_length": _max_length(tokenizer, config),
        }

    @functools.cached_property
    def _config(self) -> Any:
        """The config, naming the task's labels so every model built from it says them."""
        return _load_config(self.model_dir, self.task)

    @functools.cached_property
    def tokenizer(self) -> Any:
        try:
            return _transformers().AutoTokenizer.from_pretrained(self.model_dir)
        except Exception as exc:
            raise UserError(f"cannot load the tokenizer of {self.model_dir}: {exc}") from None

    @functools.cached_property
    def _digest(self) -> str:
        """The model's files, hashed (a tenth of a second for MiniLM's 90 MB)."""
        return models.digest(self.model_dir)

    @functools.cached_property
    def plain_fingerprint(self) -> str:
        """The fingerprint without distillation: a distilled run's teacher's. It hashes the
        model's files and the data, never loaded weights or tokens."""
        payload = {
            "model": self._digest,
            "data": self.task.digest(),
            "settings": asdict(self.settings),
            "num_labels": self.task.num_labels,
            "evaluator_version": EVALUATOR_VERSION,
            "precision": self.precision,
        }
        return json_sha256(payload)[:20]

    @functools.cached_property
    def fingerprint(self) -> str:
        if self.distill is None:
            return self.plain_fingerprint
        return distillation.fingerprint(self.plain_fingerprint, self.distill)

    @functools.cached_property
    def _template(self) -> tuple[dict, set[str]]:
        """The pretrained state dict and the weights the checkpoint lacks (new heads): read on
        the first model built."""
        return _load_weights(self.model_dir, self._config)

    @functools.cached_property
    def train_features(self) -> list[dict]:
        """The training examples tokenized, with their labels: what a fine-tune trains on."""
        return self._tokenize(self.task.train)

    @functools.cached_property
    def _heldout(self) -> list[dict]:
        return self._tokenize(self.task.heldout)

    def describe(self) -> dict:
        """What the fingerprint stands for, in words a person can read (`glpsearch status`)."""
        return {
            "model": self.model_name,
            "model_dir": str(self.model_dir),
            "task": self.task.name,
            "source": self.task.source,
            "metric": self.task.metric,
            "n_layers": self.n_layers,
            "n_train": len(self.task.train),
            "n_heldout": len(self.task.heldout),
            "settings": asdict(self.settings),
            "evaluator_version": EVALUATOR_VERSION,
            "precision": self.precision,
            **({} if self.distill is None else {"distill": asdict(self.distill)}),
        }

    def teacher(self, progress: Progress | None = None) -> distillation.Teacher:
        """The fine-tuned unpruned model students learn from: trained once, then read."""
        if self._teacher is None:
            self._teacher = distillation.obtain(self, progress)
        return self._teacher

    def build(self, removed: Iterable[int], seed: int) -> torch.nn.Module:
        """The pretrained model with `removed` layers gone; new heads initialised from `seed`."""
        state, fresh = self._template  # first: loading draws on the random stream
        torch.manual_seed(seed)
        model = _transformers().AutoModelForSequenceClassification.from_config(
            copy.deepcopy(self._config)
        )
        model.load_state_dict({k: v for k, v in state.items() if k not in fresh}, strict=False)
        return surgery.remove_layers(model, removed).to(self.device)

    @property
    def total_steps(self) -> int:
        """Optimizer steps of a full fine-tune (counted from the examples: no tokenizing)."""
        return training.total_steps(len(self.task.train), self.settings)

    def training_batches(self, limit: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """The first `limit` training examples as model inputs (no labels), batched on the
        device: what a measurement of the pretrained model, such as block influence, reads."""
        for _, batch in self.batches(self.train_features[:limit]):
            batch.pop("labels")
            yield batch

    def train(
        self,
        removed: Iterable[int],
        seed: int,
        progress: Progress | None = None,
        plan: Plan = FULL,
    ) -> torch.nn.Module:
        """The pruned model fine-tuned on the task's training part as `plan` says (all of the
        fine-tune, from its start, unless told otherwise): a candidate, or an export."""
        objective = None  # before the student is built: its seed then starts its random stream
        if self.distill is not None:
            objective = distillation.StudentLoss(self, self.teacher(progress), removed)
        model = self.build(removed, seed)
        self.fine_tune(model, seed, progress, plan, objective)
        return model

    def score(
        self,
        removed: Iterable[int],
        seed: int,
        progress: Progress | None = None,
        plan: Plan = FULL,
    ) -> Score:
        start = time.perf_counter()
        model = self.train(removed, seed, progress, plan)
        trained = time.perf_counter()
        value, loss, se, examples = self._score(model, self._heldout, self.task.heldout)
        return Score(
            value=value,
            metric=self.task.metric,
            train_seconds=trained - start,
            eval_seconds=time.perf_counter() - trained,
            n_train=len(self.task.train),
            n_eval=len(self.task.heldout),
            loss=loss,
            se=se,
            examples=examples,
        )

    # -- training and scoring -------------------------------------------------------------
    def fine_tune(
        self,
        model: torch.nn.Module,
        seed: int,
        progress: Progress | None = None,
        plan: Plan = FULL,
        objective: training.Objective | None = None,
    ) -> None:
        """Train `model` on the task's training part as `plan` says, minimising `objective`
        (the task's loss unless told otherwise; glpsearch/model/training.py)."""
        objective = training.TaskLoss() if objective is None else objective
        features = objective.features(self.train_features)
        loop = training.Training.start(
            model, features, self.settings, seed, self._collate, self.device
        )
        loop.run(plan, functools.partial(self._loss, objective), progress)

    def _loss(
        self, objective: training.Objective, model: torch.nn.Module, batch: training.Batch
    ) -> torch.Tensor:
        """`objective`'s loss in the evaluator's precision, the model run by `forward`."""
        with self.autocast():
            return objective.loss(self.forward, model, batch)

    @torch.inference_mode()
    def _score(
        self, model: torch.nn.Module, features: list[dict], examples: Examples
    ) -> tuple[float, float, float, str | tuple[float, ...]]:
        """The task metric, the mean loss, the metric's standard error on `features` and what
        pairs the score with another candidate's (Score.examples)."""
        model.eval()
        order: list[int] = []
        outputs = []  # kept on the device until the end: one wait for the GPU, not one a batch
        loss = torch.zeros((), device=self.device)
        for chunk, batch in self.batches(features):
            labels = batch.pop("labels")
            with self.autocast():
                logits = self.forward(model, batch).logits.float()
            if self.task.label_names is None:
                loss += torch.nn.functional.mse_loss(logits[:, 0], labels, reduction="sum")
                outputs.append(logits[:, 0])
            else:
                loss += torch.nn.functional.cross_entropy(logits, labels, reduction="sum")
                outputs.append(logits.argmax(-1))
            order.extend(chunk)
        values = torch.cat(outputs).cpu().tolist() if outputs else []
        predictions: dict[int, Any] = dict(zip(order, values, strict=True))
        if self.task.label_names is None and not all(map(math.isfinite, predictions.values())):
            raise CandidateFailed("the model predicts non-finite values")
        predicted = [predictions[i] for i in range(len(features))]
        value = metrics.compute(self.task.metric, examples.labels, predicted)
        se, paired = reference.heldout_noise(self.task.metric, examples.labels, predicted)
        return value, loss.item() / max(1, len(features)), se, paired

    def forward(self, model: torch.nn.Module, batch: dict[str, Any]) -> Any:
        """`model(**batch)`, through torch.compile when `compile_options` asks for it."""
        options = self.compile_options
        if options is None:
            return model(**batch)
        compiled = getattr(self, "_compiled", None)
        if compiled is None or compiled[0] != options:  # compiled anew when the options change
            # Dynamo's limit counts per code object, and `_call` serves every model, shape and
            # mode (train, eval) of the process: past 8 it would quietly run eager
            torch._dynamo.config.recompile_limit = max(64, torch._dynamo.config.recompile_limit)
            compiled = self._compiled = (dict(options), torch.compile(_call, **options))
        return compiled[1](model, batch)

    def autocast(self) -> torch.autocast:
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )

    def batches(self, features: list[dict]) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
        """(indices, inputs and labels on the device), shortest first to pad little."""
        order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
        size = self.settings.eval_batch_size
        for start in range(0, len(order), size):
            chunk = order[start : start + size]
            yield (
                chunk,
                training.to_device(self._collate([features[i] for i in chunk]), self.device),
            )

    def _tokenize(self, examples: Examples) -> list[dict]:
        encoded = self.tokenizer(
            examples.text_a,
            examples.text_b,
            truncation=True,
            max_length=self.settings.max_length,
        )
        keys = [k for k in encoded if k in self._inputs]
        return [
            {**{k: encoded[k][i] for k in keys}, "labels": label}
            for i, label in enumerate(examples.labels)
        ]

    def _collate(self, features: list[dict]) -> dict[str, torch.Tensor]:
        """Padded to the batch's longest example, or up to the shortest of `length_buckets`
        that holds it."""
        if not hasattr(self, "_collator"):
            self._collator = _transformers().DataCollatorWithPadding(self.tokenizer)
        longest = max(len(f["input_ids"]) for f in features)
        bucket = next((n for n in self.length_buckets if n >= longest), None)
        collate = self._collator
        if bucket is not None:
            collate = dataclasses.replace(collate, padding="max_length", max_length=bucket)
        batch = collate(features)
        if self.task.label_names is None:
            batch["labels"] = batch["labels"].float()
        return batch


def _load_config(folder: Path, task: TaskData) -> Any:
    """The config, naming the task's labels so every model built from it says them; a folder
    without a weights file is refused now, not at the first candidate."""
    names = task.label_names
    labels = {}
    if names is not None:
        ids = {name: i for i, name in enumerate(names)}
        labels = {"id2label": dict(enumerate(names)), "label2id": ids}
    try:
        config = _transformers().AutoConfig.from_pretrained(
            folder,
            num_labels=task.num_labels,
            problem_type="regression" if names is None else "single_label_classification",
            **labels,
        )
        if not any(path.name.endswith(_WEIGHTS) for path in folder.iterdir()):
            raise FileNotFoundError(f"no weights file ({', '.join(_WEIGHTS)})")
    except Exception as exc:
        raise _unloadable(folder, exc) from None
    return config


def _architecture(folder: Path, config: Any) -> list[str]:
    """The inputs the model's forward takes (DistilBERT has no token_type_ids, whatever the
    tokenizer makes), from a copy without weights (on the meta device) whose class loads and
    whose encoder layer list is found."""
    try:
        with torch.device("meta"):
            skeleton = _transformers().AutoModelForSequenceClassification.from_config(
                copy.deepcopy(config)
            )
    except Exception as exc:
        raise _unloadable(folder, exc) from None
    surgery.layer_list(skeleton)
    return sorted(inspect.signature(skeleton.forward).parameters)


_WEIGHTS = (".safetensors", ".bin")  # what transformers reads weights from, sharded or not


def _load_weights(folder: Path, config: Any) -> tuple[dict, set[str]]:
    """The pretrained state dict and the weights the checkpoint lacks (new heads)."""
    try:
        model, info = _transformers().AutoModelForSequenceClassification.from_pretrained(
            folder, config=config, output_loading_info=True, ignore_mismatched_sizes=True
        )
    except Exception as exc:
        raise _unloadable(folder, exc) from None
    fresh = set(info.get("missing_keys", ())) | {k for k, *_ in info.get("mismatched_keys", ())}
    return model.state_dict(), fresh


def _transformers() -> Any:
    """transformers, imported when first needed (over a second: a re-run the cache answers
    entirely never needs it), its logging quiet (failures become one line of ours)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def _unloadable(folder: Path, exc: Exception) -> UserError:
    return UserError(f"cannot load a classification model from {folder}: {first_line(exc, 300)}")


def _max_length(tokenizer: Any, config: Any) -> int | None:
    """The longest input the model reads: the tokenizer knows offsets (RoBERTa) the config hides."""
    known = getattr(tokenizer, "model_max_length", None)
    if isinstance(known, int) and known < 1_000_000:
        return known
    return getattr(config, "max_position_embeddings", None)


def _call(model: torch.nn.Module, batch: dict[str, Any]) -> Any:
    """What torch.compile compiles: the model is an argument, so a new candidate (another
    model of the same shape) reuses the compiled code instead of compiling again."""
    return model(**batch)
