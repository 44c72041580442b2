"""Table, CSV and plot of a saved search or compare record, with no torch and no fine-tuning.

A search record (search.json) reads as a comparison of one strategy, so `glpsearch report`
redraws the out folder of either command. matplotlib is imported only to draw, which keeps
`glpsearch --help` fast.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from glpsearch.atomic import atomic_write
from glpsearch.errors import UserError
from glpsearch.report.records import Selection, entries, read_selection, selections
from glpsearch.report.text import NOTHING, layers_text

MARKERS = "osD^v<>phX*"


@dataclass(frozen=True)
class Row:
    """One strategy at one depth: the set it kept and what that depth cost."""

    strategy: str
    depth: int
    removed: tuple[int, ...] | None
    score: float | None
    candidates: int
    computed: int
    cached: int
    failed: int
    seconds: float
    # From a judged record (glpsearch.scoring.reference); None in records written before.
    learned_nothing: bool | None = None  # the kept set's
    lead: float | None = None  # the best candidate's over the runner-up
    noise: float | None = None  # one candidate's standard error (the rule before pairing)
    lead_inside_noise: bool | None = None  # against the noise `noise_rule` names
    tie_rule_alone: bool | None = None
    paired_noise: float | None = None  # the paired SE of the lead's difference (+ seed spread)
    noise_rule: str | None = None  # "paired" or "unpaired": which noise decided
    race: str | None = None  # a raced step: "lead" (cleared the noise) or "cap" (most seeds)


def strategy_rows(entry: dict) -> list[Row]:
    rows = []
    for step in entry["steps"]:
        tried = step["candidates"]
        rows.append(
            Row(
                strategy=entry["strategy"],
                depth=step["depth"],
                removed=None if step["chosen"] is None else tuple(step["chosen"]),
                score=step["score"],
                candidates=len(tried),
                computed=sum(not c["cached"] for c in tried),
                cached=sum(c["cached"] for c in tried),
                failed=sum(c["failure"] is not None for c in tried),
                seconds=sum(c["seconds"] for c in tried),
                learned_nothing=_kept(step).get("learned_nothing"),
                lead=step.get("lead"),
                noise=step.get("noise"),
                lead_inside_noise=step.get("lead_inside_noise"),
                tie_rule_alone=step.get("tie_rule_alone"),
                paired_noise=step.get("paired_noise"),
                noise_rule=step.get("noise_rule"),
                race=step.get("race"),
            )
        )
    return rows


def _kept(step: dict) -> dict:
    """The candidate record of the set a step kept (its full fine-tune), or {}."""
    for candidate in step["candidates"]:
        if candidate["removed"] == step["chosen"] and candidate.get("budget", 1.0) == 1.0:
            return candidate
    return {}


def rows(record: dict) -> list[Row]:
    return [row for entry in entries(record) for row in strategy_rows(entry)]


# -- the terminal table -----------------------------------------------------------------------
def table(record: dict) -> Table:
    """Strategies by layers removed; each cell: score, the set removed, fine-tunes, their time."""
    every = rows(record)
    depths = sorted({row.depth for row in every})
    best: dict[int, float] = {}  # the top score of each depth, to pick out
    for row in every:
        if row.score is not None and row.score > best.get(row.depth, -math.inf):
            best[row.depth] = row.score
    caption = f"unpruned: {_fmt(record['baseline']['score'])}"
    if "reference" in record:
        from glpsearch.scoring.reference import Trivial

        constant = Trivial.from_record(record["reference"]["trivial"])
        caption += f" · {constant.describe(record['metric'])}"
    caption += (
        " · each cell: score, layers removed, fine-tunes computed (new) or answered from the "
        "cache, time spent"
    )
    if "reference" in record:
        caption += f"; {NOTHING}: at the constant's level; ~: the pick led by less than the SE"
    result = Table(
        title=f"{model_label(record)} on {record['task']}{_labels(record)}: held-out "
        f"{record['metric']} "
        f"by layers removed (of {record['n_layers']})",
        caption=caption,
        show_lines=True,
    )
    result.add_column("strategy")
    for depth in depths:
        result.add_column(f"-{depth} layer{'s' * (depth > 1)}", justify="right")
    result.add_column("total", justify="right")
    for entry in entries(record):
        mine = {row.depth: row for row in strategy_rows(entry)}
        cells = [_cell(mine[d], best.get(d)) if d in mine else "-" for d in depths]
        spent = list(mine.values())
        total = (
            f"{sum(r.computed for r in spent)} new · {sum(r.cached for r in spent)} cached\n"
            f"{_duration(sum(r.seconds for r in spent))}"
        )
        result.add_row(entry["strategy"], *cells, total)
    return result


def _labels(record: dict) -> str:
    """(classes neg, pos) for records that name them (written since glpsearch names them)."""
    names = record.get("labels")
    return f" (classes {', '.join(names)})" if names else ""


def totals(record: dict) -> str:
    """One line: what the run computed, what the cache answered, and what sharing saved."""
    counts = record["evaluations"]
    line = (
        f"evaluations: {counts['computed']} computed, {counts['cached']} from cache, "
        f"{counts['failed']} failed"
    )
    if "shared" in counts:
        line += (
            f"; the strategies asked for {counts['requested']} sets, {counts['distinct']} "
            f"distinct ({counts['shared']} fine-tunes shared)"
        )
    if "wall_seconds" in record:
        line += f" · {record['wall_seconds']:.1f} s"
    return line


def _cell(row: Row, best: float | None) -> str:
    score = _fmt(row.score)
    if row.score is not None and row.score == best:
        score = f"[bold green]{score}[/]"
    if row.lead_inside_noise:
        score = f"~ {score}"
    if row.learned_nothing:
        score += f"\n[yellow]{NOTHING}[/]"
    removed = "-" if row.removed is None else layers_text(frozenset(row.removed))
    spent = f"{row.computed} new · {row.cached} cached\n{_duration(row.seconds)}"
    return f"{score}\n[dim]{removed}\n{spent}[/]"


# -- files ------------------------------------------------------------------------------------
def draw(out: Path, stem: str, record: dict) -> list[Path]:
    """<stem>.csv (one row per strategy and depth, the unpruned model first) and <stem>.png."""
    return [
        atomic_write(out / f"{stem}.csv", csv_text(record)),
        atomic_write(out / f"{stem}.png", plot(record)),
    ]


def redraw(out: Path) -> list[tuple[Selection, list[Path]]]:
    """Each saved record in `out` with the files drawn anew from it."""
    found = selections(out)
    if not found:
        raise UserError(
            f"no compare.json or search.json in {out}; give the --out folder of a compare or search"
        )
    if not os.access(out, os.W_OK):
        raise UserError(f"cannot write to {out}; copy the folder somewhere writable first")
    drawn = []
    for path in found:
        record = read_selection(path).tabled(path)
        drawn.append((record, draw(out, path.stem, record)))
    return drawn


def csv_text(record: dict) -> str:
    """One row per strategy and depth, the unpruned model first. A judged record adds whether
    the kept set learned nothing, the step's lead and its standard error, whether the lead is
    inside it and whether the tie rule alone chose; every row carries the constant predictor's
    score and loss (empty in records written before); the last columns say how a lead was
    judged (the paired noise, the rule that decided) and how a raced step ended."""
    baseline = record["baseline"]
    reference = baseline["score"]
    constant = record.get("reference", {}).get("trivial", {})
    fixed = [_blank(constant.get("value")), _blank(constant.get("loss"))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["strategy", "layers_removed", "removed", "score", "delta", "candidates", "computed",
         "cached", "failed", "seconds", "learned_nothing", "lead", "noise", "lead_inside_noise",
         "tie_rule_alone", "constant_score", "constant_loss", "paired_noise", "noise_rule",
         "race"]
    )  # fmt: skip
    writer.writerow(
        ["unpruned", 0, "", reference, 0.0 if reference is not None else "", 1,
         int(not baseline["cached"]), int(baseline["cached"]), int(baseline["failure"] is not None),
         baseline["seconds"], _blank(baseline.get("learned_nothing")), "", "", "", "", *fixed,
         "", "", ""]
    )  # fmt: skip
    for row in rows(record):
        delta = None if row.score is None or reference is None else row.score - reference
        writer.writerow(
            [row.strategy, row.depth, " ".join(map(str, row.removed or ())),
             "" if row.score is None else row.score, "" if delta is None else round(delta, 6),
             row.candidates, row.computed, row.cached, row.failed, round(row.seconds, 3),
             _blank(row.learned_nothing), _blank(row.lead), _blank(row.noise),
             _blank(row.lead_inside_noise), _blank(row.tie_rule_alone), *fixed,
             _blank(row.paired_noise), _blank(row.noise_rule), _blank(row.race)]
        )  # fmt: skip
    return buffer.getvalue()


def _blank(value: object) -> object:
    """A CSV cell: booleans as 0/1, None as empty."""
    if value is None:
        return ""
    return int(value) if isinstance(value, bool) else value


def plot(record: dict) -> bytes:
    """PNG of score versus layers removed: one line per strategy, each starting from the
    unpruned score at 0, which is also drawn dashed across. Strategies are set a little apart
    sideways, so equal scores (common) stay visible instead of hiding each other."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), dpi=120, layout="constrained")
    axes = figure.subplots()
    n_layers = record["n_layers"]
    reference = record["baseline"]["score"]
    start = math.nan if reference is None else reference
    strategies = entries(record)
    deepest = max((row.depth for row in rows(record)), default=0)
    step = 0.015 * max(deepest, 1)  # about a marker's width
    for i, entry in enumerate(strategies):
        mine = strategy_rows(entry)
        apart = (i - (len(strategies) - 1) / 2) * step
        axes.plot(
            [apart, *(row.depth + apart for row in mine)],
            [start, *(math.nan if row.score is None else row.score for row in mine)],
            marker=MARKERS[i % len(MARKERS)],
            label=entry["strategy"],
        )
    axes.set_xticks(range(deepest + 1))
    if reference is not None:
        axes.axhline(
            reference, color="0.3", linestyle="--", linewidth=1,
            label=f"unpruned ({n_layers} layers): {reference:.3f}",
        )  # fmt: skip
    axes.set_title(f"Layer pruning of {model_label(record)} on {record['task']}", wrap=True)
    axes.set_xlabel(f"layers removed (of {n_layers}; strategies set slightly apart)")
    axes.set_ylabel(f"held-out {record['metric']}")
    axes.grid(alpha=0.3)
    axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def model_label(record: dict) -> str:
    """A hub id as given; a local folder by its name, not its whole path."""
    model = record["model"]
    return Path(model).name if model.startswith(("/", ".", "~")) else model


def _fmt(value: float | None) -> str:
    return "failed" if value is None else f"{value:.4f}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
