"""The depth that meets a latency or score target, from measured data only.

Latency comes from speed.json, scores from evaluate.json's dev means when the folder has one
(the paper's final protocol, several seeds), else from the search's held-out scores. A removed
set that several strategies chose is one model and is judged once.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from glpsearch.errors import UserError
from glpsearch.options import check, option
from glpsearch.report.outdir import OutDir, Point


@dataclass(frozen=True)
class Target:
    """Exactly one of max_latency_ms (then the best score within it) and min_score (then the
    fastest that reaches it), judged on one device at one batch size: `pick`'s options."""

    max_latency_ms: float | None = option(
        None, "the best score within X ms", kind=float, low=0, inclusive=False
    )
    min_score: float | None = option(None, "the fastest scoring >= S", kind=float, low=-1)
    device: str = option("cpu", "as speed.json names it (default: cpu)")
    batch_size: int = option(1, "(default: 1)", kind=int, low=1)

    def __post_init__(self) -> None:
        check(self)
        if (self.max_latency_ms is None) == (self.min_score is None):
            raise UserError("give one of max_latency_ms and min_score")  # the CLI asks first


@dataclass(frozen=True)
class Choice:
    point: Point
    timing: dict  # speed.json's timing of its model on the target's device and batch size

    @property
    def latency(self) -> float:
        return self.timing["latency_ms"]

    def describe(self) -> str:
        depth = self.point.depth
        if not depth.removed:
            return "the unpruned model"
        return (
            f"{depth.strategy} with {depth.depth} layer{'s' * (depth.depth > 1)} removed "
            f"({' '.join(map(str, depth.removed))})"
        )


def pick(folder: OutDir, target: Target) -> tuple[Choice, str]:
    """(the choice, what its score is); UserError naming the closest when nothing qualifies."""
    scores, choices = candidates(folder, target)
    where = f"on {target.device} at batch {target.batch_size}"
    if target.max_latency_ms is not None:
        fit = [c for c in choices if c.latency <= target.max_latency_ms]
        if not fit:
            fastest = min(choices, key=lambda c: c.latency)
            raise UserError(
                f"no model runs within {target.max_latency_ms:g} ms {where}: the fastest, "
                f"{fastest.describe()}, takes {fastest.latency:.2f} ms"
            )
        return max(fit, key=lambda c: (c.point.score, -c.latency)), scores
    assert target.min_score is not None
    fit = [c for c in choices if c.point.score >= target.min_score]
    if not fit:
        best = max(choices, key=lambda c: (c.point.score, -c.latency))
        raise UserError(
            f"no model scores {target.min_score:g} or more ({scores}): the best, "
            f"{best.describe()}, scores {best.point.score:.4f}"
        )
    return min(fit, key=lambda c: (c.latency, -c.point.score)), scores


def candidates(folder: OutDir, target: Target) -> tuple[str, list[Choice]]:
    """(what the scores are, each distinct model that has a score and a timing)."""
    if folder.speed is None:
        raise UserError(
            f"no speed.json in {folder.path}; run `glpsearch speed --from {folder.path}` first"
        )
    scores = folder.scored()
    choices: dict[tuple[int, ...], Choice] = {}
    for point in scores.points:
        timing = folder.timing(point.depth.key, target.device, target.batch_size)
        if point.score is not None and timing is not None:
            choices.setdefault(point.depth.key, Choice(point, timing))
    if not choices:
        measured = sorted(
            {(t["device"], t["batch_size"]) for m in folder.speed["models"] for t in m["timings"]}
        )
        have = ", ".join(f"{device} at batch {size}" for device, size in measured)
        raise UserError(
            f"speed.json has no scored model timed on {target.device} at batch "
            f"{target.batch_size} (it has {have or 'no timings'}); choose --device and "
            f"--batch-size from those, or run `glpsearch speed --from {folder.path}` again"
        )
    return f"{scores.what} ({scores.source})", list(choices.values())


def export_command(folder: OutDir, choice: Choice) -> str:
    """The `glpsearch export` line that ships the choice, fine-tuned as the paper prescribes."""
    depth = choice.point.depth
    out = folder.path / f"{depth.strategy}-{depth.depth}"
    return shlex.join(
        ["glpsearch", "export", "--from", str(folder.path), "--strategy", depth.strategy,
         "--layers-removed", str(depth.depth), "--finetune", "--out", str(out)]
    )  # fmt: skip
