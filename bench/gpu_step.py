"""One greedy step on one GPU: glpsearch with 1, 2, 4, 8 workers against the seed's procedure.

For each model, MiniLM-L6 (the embedded default) and a 12-layer bert-base shape (random
weights from a BertConfig, the embedded tokenizer), it times the step's candidates (every
one-layer removal, or the first --candidates of bench/search_cost.py's spread order):
  - the seed procedure, candidate after candidate: `search_cost.seed_procedure` (reload,
    re-tokenize padded to 128, the Hugging Face Trainer in fp32, `trainer.predict`);
  - glpsearch's engine on a fresh cache, for each --jobs N: 1 computes in this process (what
    `--jobs 1` does), N > 1 seats N loky workers on the one GPU (what `--jobs N` does); `auto`
    is the count `--jobs auto` picks here. Workers first load the weights and tokenize
    (printed as startup, not counted in the step: a search pays it once).
Each row: the step's wall time, candidates per hour, its ratio to the seed procedure (goal
<= 0.25), mean GPU utilisation and most GPU memory in use (nvidia-smi sampled every 0.2 s,
all processes), and this process's peak torch.cuda.max_memory_allocated (the Trainer's, or
glpsearch's at --jobs 1). Then every candidate's held-out score per row: glpsearch's must not
depend on the worker count, and should agree with the seed procedure's within seed noise.
--buckets L1,L2,... adds a row per --tuned-jobs (default: --jobs) with batches padded up to
those lengths (the evaluator's `length_buckets`, off in glpsearch until this shows it pays);
--compile MODE[,MODE] adds rows with those buckets and the forward (and so the backward)
through torch.compile in that mode (`compile_options`, off likewise; `reduce-overhead` adds
CUDA graphs, which need the repeating shapes). Every row first warms its workers with a short
fine-tune each (weights, tokens, and the compile of the shapes it meets: the startup column, a
search pays it once per worker). A row that raises is reported and the next one runs;
--deadline S starts no row after S seconds, so a run on a lent GPU ends inside its limit.

Machines are noisy: only numbers from one run are comparable. Needs the `bench` extra
(`pip install -e ".[bench]"`: the Trainer needs accelerate).

    python bench/gpu_step.py [--models minilm,bert-base] [--jobs 1,2,4,8,auto]
                             [--task GLUE_FOLDER] [--train-limit 8000] [--candidates K]
                             [--epochs E] [--batch-size B] [--buckets 32,64,128]
                             [--compile reduce-overhead] [--tuned-jobs 1,8] [--deadline S]
                             [--minilm FOLDER] [--device cuda]
    python bench/gpu_step.py --smoke   # CPU, tiny data, 2 candidates: proves the script
                                       # (compile rows through backend aot_eager: inductor
                                       # takes minutes to compile on a small CPU)

The issue's setting (the one its 0.87x and 0.79x were measured in) is
`--task ../shared/data/glue/SST-2 --train-limit 8000`; with little device time, first cut
--train-limit or --candidates (each row trains every candidate once). bench/device/ runs it
on a lent GPU in one prepared command.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import datasets
import torch
import transformers
from search_cost import candidates, seed_procedure, timed

from glpsearch.config import EMBEDDED_SETTINGS, DataSpec, TrainSettings
from glpsearch.data.task import TaskData, load_task
from glpsearch.engine import placement
from glpsearch.engine.core import Engine
from glpsearch.engine.parallel import JoblibRunner, Recipe
from glpsearch.model import source as models
from glpsearch.model.evaluator import Evaluator
from glpsearch.store import Store

BERT_BASE = {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12,
             "intermediate_size": 3072}  # fmt: skip
# --smoke's stand-in for bert-base
TINY_BERT = {"num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 2,
             "intermediate_size": 128}  # fmt: skip


# short fine-tunes that warm each worker: enough steps to meet every bucket's shape
WARM_STEPS = 32


@dataclasses.dataclass(frozen=True)
class Variant:
    """How a row's evaluators run: batches padded up to `buckets`, the forward through
    torch.compile with `compile` (its keywords as pairs, so a recipe stays hashable)."""

    name: str
    buckets: tuple[int, ...] = ()
    compile: tuple[tuple[str, str], ...] | None = None

    def apply(self, evaluator: Evaluator) -> Evaluator:
        evaluator.length_buckets = self.buckets
        evaluator.compile_options = None if self.compile is None else dict(self.compile)
        return evaluator


@dataclasses.dataclass(frozen=True)
class TunedRecipe(Recipe):
    """A worker's evaluator in a `Variant` (pickled by value: __main__)."""

    variant: Variant = Variant("")

    def build(self, device: str) -> Evaluator:
        return self.variant.apply(super().build(device))


class GpuSampler:
    """nvidia-smi's utilisation and memory in use, sampled while a row runs."""

    def __init__(self, device: str) -> None:
        self.index = torch.device(device).index or 0
        self.enabled = torch.device(device).type == "cuda" and shutil.which("nvidia-smi")
        self.samples: list[tuple[float, float]] = []

    def __enter__(self) -> GpuSampler:
        if self.enabled:
            query = "--query-gpu=utilization.gpu,memory.used"
            self._process = subprocess.Popen(
                [
                    "nvidia-smi",
                    f"--id={self.index}",
                    query,
                    "--format=csv,noheader,nounits",
                    "--loop-ms=200",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        for line in self._process.stdout:  # type: ignore[union-attr]
            try:
                util, memory = (float(x) for x in line.split(","))
            except ValueError:
                continue
            self.samples.append((util, memory / 1024))

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._process.terminate()
            self._process.wait()
            self._reader.join(timeout=2)

    def summary(self) -> tuple[str, str]:
        if not self.samples:
            return "-", "-"
        util = statistics.fmean(u for u, _ in self.samples)
        return f"{util:.0f}", f"{max(m for _, m in self.samples):.1f}"


@dataclasses.dataclass
class Row:
    label: str
    seconds: float
    scores: list[float | None]
    util: str
    memory: str
    peak: str
    startup: str = "-"


def _peak_start(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak(device: str) -> str:
    if torch.device(device).type != "cuda":
        return "-"
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.1f}"


def seed_row(
    step: Sequence[frozenset[int]], model: str | None, task: TaskData, args: argparse.Namespace
) -> Row:
    settings = args.settings
    _peak_start(args.device)
    with GpuSampler(args.device) as gpu:
        scores, seconds = timed(
            lambda: [seed_procedure(r, model, task, settings, args.seed, args.device) for r in step]
        )
    return Row("Trainer (seed)", seconds, list(scores), *gpu.summary(), _peak(args.device))


def glpsearch_row(
    step: Sequence[frozenset[int]],
    evaluator: Evaluator,
    recipe: Recipe,
    jobs: int,
    label: str,
    args: argparse.Namespace,
) -> Row:
    runner = JoblibRunner(recipe, jobs, (args.device,)) if jobs > 1 else None
    try:
        with tempfile.TemporaryDirectory() as cache, Store(cache) as store:
            # every worker (at --jobs 1 this process) loads the weights, tokenizes and compiles
            # the shapes it meets: a short fine-tune each, on sets the step does not hold
            warm = Engine(evaluator, store, (args.seed,), runner=runner)
            pairs = [frozenset(p) for p in _pairs(evaluator.n_layers)][:jobs]
            budget = min(1.0, WARM_STEPS / evaluator.total_steps)
            _, startup = timed(lambda: warm.lookup(pairs, budget=budget))
            engine = Engine(evaluator, store, (args.seed,), runner=runner)
            _peak_start(args.device)
            with GpuSampler(args.device) as gpu:
                outcomes, seconds = timed(lambda: engine.lookup(step))
    finally:
        if runner is not None:
            runner.close()
    peak = _peak(args.device) if jobs == 1 else "-"
    failures = {o.failure for o in outcomes if o.failure is not None}
    if failures:
        print(f"  {label}: failures {sorted(failures)}")
    if jobs == 1 and evaluator.compile_options is not None:
        from torch._dynamo.utils import counters

        graphs = counters["stats"]["unique_graphs"]
        print(f"  {label}: torch.compile made {graphs} graphs in this process so far")
    values = [o.value for o in outcomes]
    return Row(label, seconds, values, *gpu.summary(), peak, f"{startup:.1f}")


def _pairs(n_layers: int) -> list[tuple[int, int]]:
    return [(a, b) for a in range(n_layers) for b in range(a + 1, n_layers)]


def variants(args: argparse.Namespace) -> list[tuple[Variant, tuple[str, ...]]]:
    """The rows' variants, each with its --jobs: plain, then bucketed, then compiled."""
    chosen = [(Variant(""), args.jobs)]
    tuned = args.tuned_jobs or args.jobs
    if args.buckets:
        chosen.append((Variant(" buckets", args.buckets), tuned))
    for mode in args.compile or ():
        # --smoke compiles through aot_eager: inductor takes minutes to compile on a small CPU
        options = {"backend": "aot_eager"} if args.smoke else {"mode": mode}
        name = f" buckets+{'aot_eager' if args.smoke else mode}"
        chosen.append((Variant(name, args.buckets, tuple(options.items())), tuned))
    return chosen


def run_model(name: str, model: str, task: TaskData, args: argparse.Namespace) -> None:
    settings = args.settings
    evaluator, once = timed(lambda: Evaluator(model, task, settings, args.device))
    step = candidates(evaluator.n_layers, args.candidates or evaluator.n_layers)
    print(
        f"\n{name} ({evaluator.n_layers} layers) on {task.name}: {len(task.train)} train / "
        f"{len(task.heldout)} held-out, {settings.epochs:g} epoch(s), batch "
        f"{settings.batch_size}, {len(step)} candidates, {args.device} (glpsearch "
        f"{evaluator.precision}, Trainer fp32); evaluator loaded in {once:.1f} s",
        flush=True,
    )
    recipe = Recipe(model, DataSpec(task=args.task, train_limit=args.train_limit), settings)
    if evaluator.device.type == "cuda":
        _auto_seats(evaluator, args.device)  # prints what --jobs auto would seat here
    rows = [seed_row(step, model, task, args)]
    _print_row(rows[0], rows[0].seconds, len(step), header=True)
    for variant, jobs in variants(args):
        chosen = TunedRecipe(**vars(recipe), variant=variant)
        for text, count in _counts(jobs, evaluator, args.device):
            label = f"glpsearch x{text}{variant.name}"
            if time.perf_counter() - START > args.deadline:
                print(f"{label}: skipped (--deadline {args.deadline:g} s passed)", flush=True)
                continue
            try:
                rows.append(
                    glpsearch_row(step, variant.apply(evaluator), chosen, count, label, args)
                )
            except Exception as exc:  # report it; the rows after it still say something
                print(f"{label}: raised {type(exc).__name__}: {exc}"[:600], flush=True)
                continue
            _print_row(rows[-1], rows[0].seconds, len(step))
    _print_scores(step, rows)


def _counts(jobs: Sequence[str], evaluator: Evaluator, device: str) -> Iterator[tuple[str, int]]:
    for value in jobs:
        if value == "auto":
            auto = len(_auto_seats(evaluator, device))
            yield f"auto={auto}", auto
        else:
            yield value, int(value)


def _auto_seats(evaluator: Evaluator, device: str) -> tuple[str, ...]:
    """What `--jobs auto` seats on this device (the CLI measures through a fresh evaluator)."""
    if torch.device(device).type != "cuda":
        return (device,)
    need = placement.candidate_memory(evaluator)
    counts = placement.workers_per_device([device], need)
    print(f"--jobs auto: one candidate peaks at {need / 2**30:.2f} GiB reserved -> {counts}")
    return placement.seats(counts)


LABEL = 38  # the procedure column: "glpsearch x8 buckets+reduce-overhead"


def _print_row(row: Row, seed_seconds: float, n: int, header: bool = False) -> None:
    if header:
        print(
            f"{'procedure':<{LABEL}}{'step s':>8}{'cand/h':>8}{'ratio':>7}{'startup s':>10}"
            f"{'GPU %':>7}{'GPU GiB':>9}{'peak alloc GiB':>16}"
        )
    print(
        f"{row.label:<{LABEL}}{row.seconds:>8.1f}{n * 3600 / row.seconds:>8.0f}"
        f"{row.seconds / seed_seconds:>7.2f}{row.startup:>10}{row.util:>7}{row.memory:>9}"
        f"{row.peak:>16}",
        flush=True,
    )


def _print_scores(step: Sequence[frozenset[int]], rows: list[Row]) -> None:
    """One line per procedure, one column per candidate; then each row's largest gap to the
    first glpsearch row (worker count must not matter; buckets and compile are other random
    runs) and glpsearch's mean lead over the Trainer (seed noise, on average)."""

    def text(value: float | None) -> str:
        return "failed" if value is None else f"{value:.4f}"

    names = ["{" + ",".join(map(str, sorted(removed))) + "}" for removed in step]
    print("held-out scores".ljust(LABEL) + "".join(f"{n:>9}" for n in names))
    for row in rows:
        print(row.label.ljust(LABEL) + "".join(f"{text(v):>9}" for v in row.scores))
    if len(rows) < 2:
        return
    reference = rows[1]
    for row in rows[2:]:
        pairs = zip(row.scores, reference.scores, strict=True)
        gaps = [abs(a - b) for a, b in pairs if None not in (a, b)]
        failed = sum(a is None for a in row.scores)
        print(
            f"max |{row.label} - {reference.label}| = {max(gaps, default=0.0):.2e}"
            + (f" ({failed} failed)" if failed else "")
        )
    pairs = [(a, b) for a, b in zip(rows[0].scores, reference.scores, strict=True)]
    pairs = [(a, b) for a, b in pairs if None not in (a, b)]
    if pairs:
        mean = statistics.fmean(b - a for a, b in pairs)
        print(f"mean ({reference.label} - Trainer) = {mean:+.4f} over {len(pairs)} candidates")


def bert_shape(folder: Path, sizes: dict[str, int], tokenizer_from: str) -> str:
    """A randomly initialised BERT of the given shape, with another model's tokenizer."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_from)
    config = transformers.BertConfig(vocab_size=tokenizer.vocab_size, **sizes)
    torch.manual_seed(0)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def _list(kind: Callable[[str], object]) -> Callable[[str], tuple]:
    return lambda text: tuple(kind(x.strip()) for x in text.split(",") if x.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=_list(str), default=("minilm", "bert-base"))
    parser.add_argument("--jobs", type=_list(str), default=("1", "2", "4", "8"))
    parser.add_argument("--task", help="GLUE folder or task name (default: the embedded task)")
    parser.add_argument("--train-limit", type=int, default=8000)
    parser.add_argument("--candidates", type=int, help="first K of the step (default: all)")
    parser.add_argument("--epochs", type=float, default=EMBEDDED_SETTINGS.epochs)
    parser.add_argument("--lr", type=float, default=EMBEDDED_SETTINGS.lr)
    parser.add_argument("--batch-size", type=int, default=EMBEDDED_SETTINGS.batch_size)
    parser.add_argument("--max-length", type=int, default=EMBEDDED_SETTINGS.max_length)
    parser.add_argument("--buckets", type=_list(int), help="also pad batches up to these lengths")
    parser.add_argument(
        "--compile", type=_list(str), help="also torch.compile in these modes (with --buckets)"
    )
    parser.add_argument("--tuned-jobs", type=_list(str), help="--jobs of the buckets/compile rows")
    parser.add_argument("--deadline", type=float, default=math.inf, help="no row starts after")
    parser.add_argument(
        "--minilm", help="MiniLM-L6 folder (default: the embedded model); its tokenizer is the "
        "bert-base shape's too"
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny data, 2 candidates")
    args = parser.parse_args()
    if args.smoke:
        args.device, args.train_limit, args.candidates = "cpu", 60, 2
        args.jobs, args.tuned_jobs = ("1", "2", "auto"), ("1", "2")
        args.buckets, args.compile = args.buckets or (16, 32), args.compile or ("default",)
        args.max_length = 32
    if any(j != "auto" and not j.isdigit() for j in (*args.jobs, *(args.tuned_jobs or ()))):
        parser.error("--jobs and --tuned-jobs take counts and auto, e.g. 1,2,4,8,auto")
    if args.compile and not args.buckets:
        parser.error("--compile needs --buckets: compiled code pays on shapes that repeat")
    unknown = set(args.models) - {"minilm", "bert-base"}
    if unknown:
        parser.error(f"--models: unknown {sorted(unknown)} (minilm, bert-base)")
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    args.settings = TrainSettings(
        **{
            **dataclasses.asdict(EMBEDDED_SETTINGS),
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
        }
    )
    task = load_task(DataSpec(task=args.task, train_limit=args.train_limit))
    minilm = str(models.resolve(args.minilm))
    print(
        f"{torch.cuda.get_device_name(args.device) if args.device.startswith('cuda') else 'cpu'}"
        f", torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}"
        f"{' (--smoke)' if args.smoke else ''}; MiniLM from {minilm}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models:
            if time.perf_counter() - START > args.deadline:
                print(f"\n{name}: skipped (--deadline {args.deadline:g} s passed)")
                continue
            if name == "minilm":
                run_model("MiniLM-L6", minilm, task, args)
            else:
                shape = TINY_BERT if args.smoke else BERT_BASE
                folder = bert_shape(Path(scratch, "bert"), shape, minilm)
                run_model("bert-base shape" if not args.smoke else "tiny bert", folder, task, args)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


START = time.perf_counter()  # --deadline counts from here

if __name__ == "__main__":
    main()
    print(f"whole run {time.perf_counter() - START:.0f} s")
