"""A pruned model as a standard Hugging Face checkpoint a user can ship, with its model card.

The folder loads with plain transformers (AutoModelForSequenceClassification, AutoTokenizer),
no glpsearch needed: the config's num_hidden_layers is the kept count, the weights are the kept
layers' only, and id2label names the task's labels. README.md (the model card) and
glpsearch.json say the same facts for people and for programs: what was removed, chosen how,
how well it scores and how fast it runs. The card's metadata, written with huggingface_hub's
ModelCardData, is what the Hub reads: the base model it links to, the dataset, the license and
the scores (model-index).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from glpsearch.atomic import atomic_write
from glpsearch.data.task import GLUE, GLUE_HUB, TaskData
from glpsearch.errors import UserError
from glpsearch.model import source as models
from glpsearch.model.evaluator import Evaluator, Progress
from glpsearch.report.outdir import OutDir
from glpsearch.report.text import score_text
from glpsearch.ship import timing
from glpsearch.version import __version__

FACTS = "glpsearch.json"
TAGS = ["pruning", "layer-pruning", "glpsearch"]
# glpsearch's metric names as the Hub (and the evaluate library) name them
HUB_METRICS = {
    "accuracy": "accuracy",
    "f1": "f1",
    "matthews": "matthews_correlation",
    "spearman": "spearmanr",
    "pearson": "pearsonr",
}


@dataclass(frozen=True)
class ExportPlan:
    """What to export: which layers go, and whether the result is fine-tuned first."""

    removed: tuple[int, ...]  # in removal order
    finetune: bool = False
    seed: int = 0
    strategy: str | None = None  # the strategy that chose the set, when it came from a record


def check_target(out: Path) -> None:
    """Refuse a folder holding anything but an earlier export: nothing of the user's is lost."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / FACTS).is_file())):
        raise UserError(f"{out} exists and is not an earlier export; choose a new --out folder")


def export(
    evaluator: Evaluator,
    plan: ExportPlan,
    out: Path,
    folder: OutDir | None = None,
    progress: Progress | None = None,
    repo: str | None = None,
    teacher: dict | None = None,
) -> list[Path]:
    """Build (and with plan.finetune, fine-tune) the pruned model and write it to `out`.

    An evaluator with distillation settings fine-tunes it as a student; `teacher` (what
    `runs.prepare_teacher` says of it) goes into the card and glpsearch.json.

    To fine-tune as the paper does after pruning, give an evaluator of `task.final()`: all
    training data, the held-out part included. `folder` (the search's out folder) adds its
    scores and speed to the card; without speed.json, speed is measured here, CPU, batch 1.
    `repo`, the Hub repo the folder is for, is the name the card's usage snippet loads.
    """
    check_target(out)
    _check_layers(plan.removed, evaluator.n_layers)
    if plan.finetune:
        model = evaluator.train(plan.removed, plan.seed, progress)
    else:
        model = evaluator.build(plan.removed, plan.seed)
    facts = _facts(evaluator, plan, folder, repo, teacher)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="glpsearch-export-") as staging:
        # transformers writes in place; each file then goes in whole, so none is ever half there
        model.cpu().save_pretrained(staging)
        evaluator.tokenizer.save_pretrained(staging)
        written = [
            atomic_write(out / path.name, path.read_bytes())
            for path in sorted(Path(staging).iterdir())
        ]
    written.append(atomic_write(out / FACTS, json.dumps(facts, indent=2) + "\n"))
    written.append(atomic_write(out / "README.md", card(facts, out)))
    return written


def _check_layers(removed: tuple[int, ...], n_layers: int) -> None:
    if len(set(removed)) != len(removed):
        raise UserError(f"--remove names a layer twice: {','.join(map(str, removed))}")
    outside = [i for i in removed if not 0 <= i < n_layers]
    if outside:
        raise UserError(f"the model has layers 0 to {n_layers - 1}; there is no layer {outside[0]}")
    if len(removed) >= n_layers:
        raise UserError(f"cannot remove all {n_layers} layers; keep at least one")


def _facts(
    evaluator: Evaluator,
    plan: ExportPlan,
    folder: OutDir | None,
    repo: str | None,
    teacher: dict | None = None,
) -> dict:
    """glpsearch.json: everything the card says, for programs."""
    task, key = evaluator.task, tuple(sorted(plan.removed))
    searched = None if folder is None else folder.find(key)
    return {
        "glpsearch": __version__,
        "base_model": evaluator.model_name,
        "task": task.name,
        "metric": task.metric,
        "labels": task.label_names,
        "layers": {
            "base": evaluator.n_layers,
            "removed": list(plan.removed),
            "kept": evaluator.n_layers - len(plan.removed),
        },
        "strategy": plan.strategy,
        "search": None if folder is None else str(folder.selection),
        "finetuned": None
        if not plan.finetune
        else {
            "seed": plan.seed,
            "examples": len(task.train),
            "settings": asdict(evaluator.settings),
            "distill": _distill(teacher),
        },
        "scores": {
            "heldout": None
            if folder is None
            else {
                "pruned": None if searched is None else searched.heldout,
                "unpruned": folder.record["baseline"]["score"],
            },
            "dev": None
            if folder is None or folder.evaluation is None
            else {"pruned": _dev(folder, key, teacher), "unpruned": _dev(folder, ())},
        },
        "speed": _speed(evaluator, folder, key),
        "hub": _hub(evaluator, repo),
    }


def _hub(evaluator: Evaluator, repo: str | None) -> dict:
    """What the Hub links and shows: the base model's id and license, the task's dataset."""
    task = evaluator.task
    glue = _glue(task)
    return {
        "repo": repo,
        "base_model": models.hub_id(evaluator.model_name, evaluator.model_dir),
        "license": _license(evaluator.model_dir),
        "dataset": None if glue is None else GLUE_HUB,
        "dataset_config": None if glue is None else task.name,
        "dataset_name": task.name if glue is None else f"GLUE {GLUE[task.name].folder}",
        "dev_split": None if glue is None else GLUE[task.name].dev_split,
    }


def _glue(task: TaskData) -> str | None:
    """The GLUE task's name when the data is GLUE's (from the hub or its download), else None."""
    is_glue = task.name in GLUE and task.source.startswith(("hub:", "glue-folder:"))
    return task.name if is_glue else None


def _license(model_dir: Path) -> dict | None:
    """The base model's license, from its own card's front matter, when the folder has one."""
    from huggingface_hub import ModelCard

    readme = model_dir / "README.md"
    if not readme.is_file():
        return None
    try:
        data = ModelCard.load(readme, ignore_metadata_errors=True).data
    except Exception:  # someone else's file: a broken card only means no license is carried
        return None
    found = {k: getattr(data, k, None) for k in ("license", "license_name", "license_link")}
    return {k: v for k, v in found.items() if isinstance(v, str)} if found["license"] else None


def _distill(teacher: dict | None) -> dict | None:
    """The distillation a fine-tune learned by: its settings and its teacher."""
    if teacher is None:
        return None
    found = teacher["teacher"]
    return {
        **teacher["settings"],
        "teacher": {
            "model": "the unpruned base model fine-tuned on the same examples and settings",
            "seed": found["seed"],
            "fingerprint": found["fingerprint"],
        },
        "fingerprint": teacher["fingerprint"],
    }


def _dev(folder: OutDir, key: tuple[int, ...], teacher: dict | None = None) -> dict | None:
    """evaluate.json's dev scores of the set; for a distilled export, those of its students of
    the same teacher and settings (None when they were not evaluated)."""
    entry = folder.dev(key)
    if teacher is not None:
        evaluation = folder.evaluation or {}
        same = (evaluation.get("distill") or {}).get("fingerprint") == teacher["fingerprint"]
        entry = next(
            (
                e.get("distilled")
                for e in evaluation.get("results", ())
                if same and tuple(sorted(e["removed"])) == key and e.get("distilled")
            ),
            None,
        )
    if entry is None or entry["mean"] is None:
        return None
    return {k: entry[k] for k in ("mean", "std", "scores")}


def _speed(evaluator: Evaluator, folder: OutDir | None, key: tuple[int, ...]) -> dict:
    """The set's measured speed from speed.json, else measured now on the CPU at batch 1."""
    found = None if folder is None else (folder.measured(key), folder.measured(()))
    if found is not None and None not in found:
        pruned, unpruned = found
        source, length = str(folder.path / "speed.json"), folder.speed["seq_length"]
    else:
        length, _ = timing.sequence_length(evaluator)
        settings = timing.SpeedSettings(batch_sizes=(1,), devices=("cpu",))
        timed = timing.measure(evaluator, [key], settings, length)
        measured = {m.removed: asdict(m) for m in timed}
        pruned, unpruned, source = measured[key], measured[()], "measured at export"
    return {
        "from": source,
        "seq_length": length,
        "parameters": {"pruned": pruned["parameters"], "unpruned": unpruned["parameters"]},
        "file_bytes": {"pruned": pruned["file_bytes"], "unpruned": unpruned["file_bytes"]},
        "timings": [
            {**mine, "unpruned_ms": theirs["latency_ms"]}
            for mine, theirs in zip(pruned["timings"], unpruned["timings"], strict=True)
        ],
    }


# -- the model card ---------------------------------------------------------------------------
def card(facts: dict, out: Path) -> str:
    """README.md: the facts of glpsearch.json as a model card, its metadata for the Hub."""
    from huggingface_hub import ModelCard, ModelCardData

    hub = facts["hub"]
    where = hub["repo"] or str(out)
    results = _eval_results(facts)
    data = ModelCardData(
        base_model=hub["base_model"],
        datasets=None if hub["dataset"] is None else [hub["dataset"]],
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=TAGS,
        **(hub["license"] or {}),
        model_name=(hub["repo"] or out.resolve().name).split("/")[-1] if results else None,
        eval_results=results or None,
    )
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_body(facts, where)}"))


def _eval_results(facts: dict) -> list:
    """The pruned set's scores as model-index entries: held-out (search) and dev (evaluate).

    Only for a fine-tuned export: the Hub shows model-index scores as this checkpoint's own, and
    an untrained classification head scores nothing like the fine-tuned set did."""
    from huggingface_hub import EvalResult

    if facts["finetuned"] is None:
        return []

    hub, metric, scores = facts["hub"], facts["metric"], facts["scores"]
    common = {
        "task_type": "text-classification",
        "dataset_type": hub["dataset"] or facts["task"],
        "dataset_name": hub["dataset_name"],
        "dataset_config": hub["dataset_config"],
        "metric_type": HUB_METRICS.get(metric, metric),
    }
    results = []
    heldout, dev = scores["heldout"], scores["dev"]
    if heldout is not None and heldout["pruned"] is not None:
        results.append(
            EvalResult(
                **common,
                dataset_split="train",
                metric_value=float(heldout["pruned"]),
                metric_name=f"held-out {metric} (search: part of train, set aside)",
            )
        )
    if dev is not None and dev["pruned"] is not None:
        seeds = len(dev["pruned"]["scores"])
        results.append(
            EvalResult(
                **common,
                dataset_split=hub["dev_split"],
                metric_value=float(dev["pruned"]["mean"]),
                metric_name=f"dev {metric} (mean over {seeds} fine-tuning seeds)",
            )
        )
    return results


def _body(facts: dict, where: str) -> str:
    """The card's text for people: what was removed, how well it scores, how fast it runs."""
    layers, metric = facts["layers"], facts["metric"]
    removed = ", ".join(map(str, layers["removed"])) or "none"
    trained = facts["finetuned"]
    labels = ", ".join(facts["labels"]) if facts["labels"] else "none, a regression target"
    chosen = (
        "given by hand"
        if facts["strategy"] is None
        else f"chosen by {facts['strategy']} in {facts['search']}"
    )
    lines = [
        f"# {facts['base_model']} with {len(layers['removed'])} of {layers['base']} encoder "
        "layers removed",
        "",
        f"Whole encoder layers of {facts['base_model']} removed for {facts['task']} with "
        f"glpsearch {facts['glpsearch']} (Greedy-layer Pruning, Peer et al. 2022).",
        "",
        "| | |",
        "|---|---|",
        f"| base model | {facts['base_model']} ({layers['base']} layers) |",
        f"| removed layers, in removal order | {removed} ({chosen}) |",
        f"| kept layers | {layers['kept']} |",
        f"| task | {facts['task']} (labels: {labels}) |",
        f"| parameters | {_millions(facts['speed']['parameters'])} |",
        f"| weights file | {_mebibytes(facts['speed']['file_bytes'])} |",
        "| fine-tuned | "
        + (
            "no: the classification head is untrained; fine-tune before use, or export with "
            "--finetune |"
            if trained is None
            else f"yes, on all {trained['examples']} training examples (seed {trained['seed']}, "
            f"{_epochs(trained['settings']['epochs'])}, lr {trained['settings']['lr']:g}) |"
        ),
        *_distill_line(trained),
        "",
        *_scores(facts["scores"], metric, len(layers["removed"])),
        *_speed_lines(facts["speed"]),
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        "",
        f'model = AutoModelForSequenceClassification.from_pretrained("{where}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{where}")',
        "```",
        "",
    ]
    return "\n".join(lines)


def _distill_line(trained: dict | None) -> list[str]:
    distill = None if trained is None else trained.get("distill")
    if distill is None:
        return []
    hidden = "; each kept layer also matched its source layer's output" * distill["hidden"]
    return [
        f"| distilled | from {distill['teacher']['model']} (seed {distill['teacher']['seed']}, "
        f"glpsearch fingerprint {distill['teacher']['fingerprint']}): alpha "
        f"{distill['alpha']:g}, temperature {distill['temperature']:g}{hidden} |"
    ]


def _scores(scores: dict, metric: str, depth: int) -> list[str]:
    heldout, dev = scores["heldout"], scores["dev"]
    if heldout is None and dev is None:
        return []
    header, rule = ["model"], ["---"]
    if heldout is not None:
        header.append(f"held-out {metric} (search)")
    if dev is not None:
        header.append(f"dev {metric} (mean ± std over seeds)")
    rule += ["---:"] * (len(header) - 1)
    lines = ["## Scores", "", "| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    for name, which in ((f"pruned (-{depth} layers)", "pruned"), ("unpruned", "unpruned")):
        cells = [name]
        if heldout is not None:
            cells.append("not searched" if heldout[which] is None else f"{heldout[which]:.4f}")
        if dev is not None:
            cells.append(_mean_std(dev[which]))
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _mean_std(entry: dict | None) -> str:
    if entry is None:
        return "not evaluated"
    return f"{score_text(entry['mean'], entry['std'])} ({len(entry['scores'])} seeds)"


def _speed_lines(facts: dict) -> list[str]:
    lines = [
        "## Speed",
        "",
        f"Forward pass at sequence length {facts['seq_length']}, float32, median of interleaved "
        f"rounds ({facts['from']}).",
        "",
        "| device | batch | ms per batch | unpruned ms | speedup | examples/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for t in facts["timings"]:
        lines.append(
            f"| {t['device']} | {t['batch_size']} | {t['latency_ms']:.2f} | "
            f"{t['unpruned_ms']:.2f} | {t['speedup']:.2f}x | {t['throughput']:.1f} |"
        )
    return [*lines, ""]


def _epochs(epochs: float) -> str:
    return f"{epochs:g} epoch{'s' * (epochs != 1)}"


def _millions(counts: dict) -> str:
    return f"{counts['pruned'] / 1e6:.2f}M (unpruned {counts['unpruned'] / 1e6:.2f}M)"


def _mebibytes(sizes: dict) -> str:
    return f"{sizes['pruned'] / 2**20:.1f} MiB (unpruned {sizes['unpruned'] / 2**20:.1f} MiB)"
