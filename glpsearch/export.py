"""A pruned model as a standard Hugging Face checkpoint a user can ship, with its model card.

The folder loads with plain transformers (AutoModelForSequenceClassification, AutoTokenizer),
no glpsearch needed: the config's num_hidden_layers is the kept count, the weights are the kept
layers' only, and id2label names the task's labels. README.md (the model card) and
glpsearch.json say the same facts for people and for programs: what was removed, chosen how,
how well it scores and how fast it runs.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from glpsearch import __version__, speed
from glpsearch.errors import UserError
from glpsearch.evaluator import Evaluator, Progress
from glpsearch.outdir import OutDir
from glpsearch.progress import score_text
from glpsearch.results import atomic_write

FACTS = "glpsearch.json"


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
) -> list[Path]:
    """Build (and with plan.finetune, fine-tune) the pruned model and write it to `out`.

    To fine-tune as the paper does after pruning, give an evaluator of `task.final()`: all
    training data, the held-out part included. `folder` (the search's out folder) adds its
    scores and speed to the card; without speed.json, speed is measured here, CPU, batch 1.
    """
    check_target(out)
    _check_layers(plan.removed, evaluator.n_layers)
    if plan.finetune:
        model = evaluator.train(plan.removed, plan.seed, progress)
    else:
        model = evaluator.build(plan.removed, plan.seed)
    names = evaluator.task.label_names
    if names is not None:
        model.config.id2label = dict(enumerate(names))
        model.config.label2id = {name: i for i, name in enumerate(names)}
    facts = _facts(evaluator, plan, folder)
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


def _facts(evaluator: Evaluator, plan: ExportPlan, folder: OutDir | None) -> dict:
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
            else {"pruned": _dev(folder, key), "unpruned": _dev(folder, ())},
        },
        "speed": _speed(evaluator, folder, key),
    }


def _dev(folder: OutDir, key: tuple[int, ...]) -> dict | None:
    entry = folder.dev(key)
    return None if entry is None else {k: entry[k] for k in ("mean", "std", "scores")}


def _speed(evaluator: Evaluator, folder: OutDir | None, key: tuple[int, ...]) -> dict:
    """The set's measured speed from speed.json, else measured now on the CPU at batch 1."""
    found = None if folder is None else (folder.measured(key), folder.measured(()))
    if found is not None and None not in found:
        pruned, unpruned = found
        source, length = str(folder.path / "speed.json"), folder.speed["seq_length"]
    else:
        length, _ = speed.sequence_length(evaluator)
        settings = speed.SpeedSettings(batch_sizes=(1,), devices=("cpu",))
        measured = {m.removed: asdict(m) for m in speed.measure(evaluator, [key], settings, length)}
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
    """README.md: the facts of glpsearch.json as a model card."""
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
        "",
        *_scores(facts["scores"], metric, len(layers["removed"])),
        *_speed_lines(facts["speed"]),
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        "",
        f'model = AutoModelForSequenceClassification.from_pretrained("{out}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{out}")',
        "```",
        "",
    ]
    return "\n".join(lines)


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
