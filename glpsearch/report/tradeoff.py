"""tradeoff.png: what removing layers costs in score and gains in speed, in one figure.

Two panels over one axis of layers removed: the score of each strategy's model (dev mean ± std
when evaluate.json exists, else held-out), and the measured speedup per device and batch size.
Speedup depends on how many layers go, hardly on which, so the lower panel averages the sets
of one depth. Drawn by `glpsearch speed` and `glpsearch report`; no torch.
"""

from __future__ import annotations

import io
import math
import statistics
from pathlib import Path

from glpsearch.atomic import atomic_write
from glpsearch.report.outdir import OutDir
from glpsearch.report.tables import MARKERS, model_label


def draw(folder: OutDir) -> Path | None:
    """Write OUT_DIR/tradeoff.png if the folder has speed.json; None when it has none."""
    if folder.speed is None:
        return None
    return atomic_write(folder.path / "tradeoff.png", plot(folder))


def plot(folder: OutDir) -> bytes:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 7), dpi=120, layout="constrained")
    score_axes, speed_axes = figure.subplots(2, 1, sharex=True)
    scores = folder.scored()
    points = scores.points
    strategies = list(dict.fromkeys(p.depth.strategy for p in points))
    for i, strategy in enumerate(strategies):
        mine = sorted(
            (p for p in points if p.depth.strategy == strategy), key=lambda p: p.depth.depth
        )
        score_axes.errorbar(
            [p.depth.depth for p in mine],
            [math.nan if p.score is None else p.score for p in mine],
            yerr=[p.std or 0.0 for p in mine] if any(p.std for p in mine) else None,
            marker=MARKERS[i % len(MARKERS)],
            capsize=3,
            label=strategy,
        )
    score_axes.set_ylabel(scores.what)
    score_axes.set_title(
        f"Layer pruning of {model_label(folder.record)} on {folder.record['task']}", wrap=True
    )
    score_axes.legend()

    speed = folder.speed
    assert speed is not None
    configurations = [(t["device"], t["batch_size"]) for t in speed["models"][0]["timings"]]
    for i, (device, batch_size) in enumerate(configurations):
        by_depth: dict[int, dict[tuple[int, ...], float]] = {}
        for point in points:
            timing = folder.timing(point.depth.key, device, batch_size)
            if timing is not None:
                by_depth.setdefault(point.depth.depth, {})[point.depth.key] = timing["speedup"]
        depths = sorted(by_depth)
        speed_axes.plot(
            depths,
            [statistics.mean(by_depth[d].values()) for d in depths],
            marker=MARKERS[i % len(MARKERS)],
            label=f"{device}, batch {batch_size}",
        )
    speed_axes.axhline(1.0, color="0.3", linestyle="--", linewidth=1)
    speed_axes.set_ylabel("speedup over the unpruned model")
    speed_axes.set_xlabel(
        f"layers removed (of {folder.record['n_layers']}); sequence length {speed['seq_length']}"
    )
    speed_axes.legend()
    deepest = max((p.depth.depth for p in points), default=0)
    speed_axes.set_xticks(range(deepest + 1))
    for axes in (score_axes, speed_axes):
        axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
