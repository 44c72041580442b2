"""Per-candidate cost of the GLP seed paper's procedure (a) against glpsearch's evaluator (b).

(a) is what the GLP seed code did for every candidate: read the pretrained model from disk,
remove the layers, re-tokenize the task padded to 128 tokens, fine-tune with the Hugging Face
`Trainer` and score the held-out split with `trainer.predict`. (b) is
`glpsearch.model.evaluator.Evaluator.score`: weights read and data tokenized once per process,
length-grouped batches padded to their longest example. Both use the same data, model, epochs,
learning rate, batch sizes, warmup, weight decay and seed, and are interleaved per candidate
(machines are noisy: only ratios from one run are comparable). The one-time cost (b) pays per
process is reported apart and amortised over a search of --search-size candidates.

The default 1000 examples (850 train / 150 held-out) take about 4 minutes on 2 idle CPU cores;
with 600, one epoch leaves both procedures predicting the majority class, which hides whether
their scores agree. On a shared machine torch's spinning OpenMP threads turn other jobs' load
into several-fold slowdowns of either side: check the load averages printed first and last.

Needs the `bench` extra (`pip install -e ".[bench]"`: the `Trainer` needs accelerate).

    python bench/search_cost.py [--candidates 3] [--train-limit 1000] [--epochs E] [--lr LR]
                                [--batch-size B] [--seed 0] [--search-size 15] [--device cpu]
                                [--model FOLDER] [--task GLUE_FOLDER]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import TypeVar

import datasets
import numpy as np
import torch
import transformers
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PrinterCallback,
    Trainer,
    TrainingArguments,
    default_data_collator,
)

from glpsearch.config import EMBEDDED_SETTINGS, DataSpec, TrainSettings
from glpsearch.data.task import Examples, TaskData, load_task
from glpsearch.model import source as models
from glpsearch.model import surgery
from glpsearch.model.evaluator import Evaluator
from glpsearch.scoring import metrics

T = TypeVar("T")

SEED_MAX_LENGTH = 128  # the seed code padded every input to this length


def seed_procedure(
    removed: frozenset[int],
    model_name: str | None,
    task: TaskData,
    settings: TrainSettings,
    seed: int,
    device: str,
) -> float:
    """(a): everything the seed code redid per candidate, from reading the weights to scoring."""
    folder = models.resolve(model_name)
    transformers.set_seed(seed)  # before the model, so the new head is seeded as in run_glue
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=task.num_labels)
    surgery.remove_layers(model, removed)

    def dataset(examples: Examples) -> datasets.Dataset:
        columns = {"text_a": examples.text_a, "label": examples.labels}
        if examples.text_b is not None:
            columns["text_b"] = examples.text_b
        texts = ("text_a", "text_b") if examples.text_b is not None else ("text_a",)
        return datasets.Dataset.from_dict(columns).map(
            lambda batch: tokenizer(
                *(batch[c] for c in texts),
                padding="max_length",
                max_length=SEED_MAX_LENGTH,
                truncation=True,
            ),
            batched=True,
            remove_columns=list(texts),
        )

    train, heldout = dataset(task.train), dataset(task.heldout)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            num_train_epochs=settings.epochs,
            learning_rate=settings.lr,
            per_device_train_batch_size=settings.batch_size,
            per_device_eval_batch_size=settings.eval_batch_size,
            warmup_steps=settings.warmup_ratio,  # a float in [0, 1) is a ratio in transformers 5
            weight_decay=settings.weight_decay,
            seed=seed,
            save_strategy="no",
            logging_strategy="no",
            eval_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=device == "cpu",
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=train,
            data_collator=default_data_collator,
        )
        trainer.remove_callback(PrinterCallback)  # it prints the final training metrics
        trainer.train()
        output = trainer.predict(heldout)
    predictions = np.argmax(output.predictions, axis=-1).tolist()
    return metrics.compute(task.metric, task.heldout.labels, predictions)


def candidates(n_layers: int, count: int) -> list[frozenset[int]]:
    """`count` one-layer removals spread over the depth: last, first, then evens, then odds."""
    order = [n_layers - 1, 0, *range(2, n_layers - 1, 2), *range(1, n_layers - 1, 2)]
    return [frozenset({layer}) for layer in order[:count]]


def timed(run: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    value = run()
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=3, help="one-layer removals to time")
    parser.add_argument("--train-limit", type=int, default=1000)
    parser.add_argument("--epochs", type=float, default=EMBEDDED_SETTINGS.epochs)
    parser.add_argument("--lr", type=float, default=EMBEDDED_SETTINGS.lr)
    parser.add_argument("--batch-size", type=int, default=EMBEDDED_SETTINGS.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--search-size", type=int, default=15, help="candidates to amortise (b)'s one-time cost"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", help="model folder (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--task", help="GLUE folder or task name (default: the embedded task)")
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()

    settings = dataclasses.replace(
        EMBEDDED_SETTINGS, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size
    )
    task = load_task(DataSpec(task=args.task, train_limit=args.train_limit))
    evaluator, once = timed(lambda: Evaluator(args.model, task, settings, args.device))
    chosen = candidates(evaluator.n_layers, args.candidates)
    if len(chosen) < args.candidates:
        parser.error(f"--candidates is at most {evaluator.n_layers} (one-layer removals)")

    print(
        f"{evaluator.model_name} on {task.name}: {len(task.train)} train / "
        f"{len(task.heldout)} held-out, {settings.epochs:g} epoch(s), lr {settings.lr:g}, "
        f"batch {settings.batch_size}, seed {args.seed}, {args.device} "
        f"({evaluator.precision}), "
        f"{torch.get_num_threads()} torch threads, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    optim = {f.name: f.default for f in dataclasses.fields(TrainingArguments)}["optim"]
    print(
        f"(a) seed procedure: reload + re-tokenize per candidate, pad to {SEED_MAX_LENGTH}, "
        f"Trainer.train/predict (optim {optim})"
    )
    print("(b) glpsearch Evaluator.score: weights and tokens once per process, dynamic padding")
    print(
        f"{'removed':<10}{'(a) s':>8}{'(b) s':>8}{'(b)/(a)':>9}{'(a) ' + task.metric:>14}"
        f"{'(b) ' + task.metric:>14}",
        flush=True,
    )
    seconds: dict[str, list[float]] = {"a": [], "b": []}
    for i, removed in enumerate(chosen):
        runs = {
            "a": lambda r=removed: seed_procedure(
                r, args.model, task, settings, args.seed, args.device
            ),
            "b": lambda r=removed: evaluator.score(r, args.seed).value,
        }
        scores = {}
        for kind in ("a", "b") if i % 2 == 0 else ("b", "a"):  # alternate who goes first
            scores[kind], spent = timed(runs[kind])
            seconds[kind].append(spent)
        a, b = seconds["a"][-1], seconds["b"][-1]
        label = "{" + ",".join(map(str, sorted(removed))) + "}"
        print(
            f"{label:<10}{a:>8.1f}{b:>8.1f}{b / a:>9.2f}{scores['a']:>14.3f}{scores['b']:>14.3f}",
            flush=True,
        )
    # medians: a burst of load from another process spoils one candidate, not the summary
    mid_a, mid_b = statistics.median(seconds["a"]), statistics.median(seconds["b"])
    ratio = statistics.median(b / a for a, b in zip(seconds["a"], seconds["b"], strict=True))
    print(f"{'median':<10}{mid_a:>8.1f}{mid_b:>8.1f}{ratio:>9.2f}")
    if task.label_names is not None:
        majority = max(collections.Counter(task.heldout.labels).values())
        print(f"majority class on the held-out split: {majority / len(task.heldout):.3f}")
    n = args.search_size
    print(f"(b) one-time cost per process (read weights, tokenize, fingerprint): {once:.1f} s")
    print(
        f"amortised over a {n}-candidate search (e.g. greedy removal of 3 of 6 layers: 6+5+4), "
        f"(b) {(once + n * mid_b) / n:.1f} s per candidate vs (a) {mid_a:.1f} s (medians): "
        f"(b)/(a) = {(once + n * mid_b) / (n * mid_a):.2f} (goal <= 0.3)"
    )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
