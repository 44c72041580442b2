"""The paper's final protocol for the models a search or compare chose.

Selection scores each candidate on a held-out 15% of the training data; the numbers a user
reports come from another run: each chosen model fine-tuned on all the training data and scored
on the dev set, over several seeds. Those fine-tunes go through the engine like any other, under
the final task's own fingerprint, so an interrupted evaluation resumes, more seeds can be added
later, and a set two strategies chose is fine-tuned once. With --distill the models are
students of the fine-tuned unpruned model, under their own fingerprint; the record and the
table then show plain and distilled results side by side, each variant not computed in a run
read from the cache when it holds every seed (never computed for the sake of the table).
Knows nothing of torch.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from glpsearch.engine.core import Engine, Job, Outcome, stored, tally
from glpsearch.errors import UserError
from glpsearch.report.outdir import Depth
from glpsearch.report.records import EvaluationRecord
from glpsearch.report.text import layers_text, score_text
from glpsearch.store import Store


def outcomes(
    engine: Engine, depths: Sequence[Depth], students: bool = False
) -> list[Outcome | None]:
    """Each depth's outcome over the engine's seeds, in the order of `depths`; with `students`
    (distilling), None for the unpruned model: it is the teacher, not a student of itself.

    One request for every distinct set: the engine de-duplicates and may run them in parallel.
    """
    wanted = [frozenset(d.removed) for d in depths if d.removed or not students]
    found = dict(zip(wanted, engine.lookup(wanted), strict=True))
    return [found.get(frozenset(depth.removed)) for depth in depths]


def cached(
    store: Store, fingerprint: str, depths: Sequence[Depth], seeds: Sequence[int]
) -> list[Outcome | None]:
    """Each depth's outcome under `fingerprint` when the store holds every seed of it, else
    None; nothing is computed (the variant this run did not ask for, to show beside it)."""
    found: list[Outcome | None] = []
    for depth in depths:
        removed = frozenset(depth.removed)
        results = [stored(store, fingerprint, Job(removed, seed)) for seed in seeds]
        known = [r for r in results if r is not None]
        found.append(Outcome(removed, tuple(known)) if len(known) == len(seeds) else None)
    return found


def evaluation_record(
    header: dict,
    depths: Sequence[Depth],
    outcomes: Sequence[Outcome | None],
    seeds: Sequence[int],
    distill: dict | None = None,
    other: Sequence[Outcome | None] | None = None,
) -> EvaluationRecord:
    """What export, pick and the trade-off plot read as evaluate.json.

    `outcomes` are this run's; `evaluations` counts them. `results` hold plain fine-tunes; with
    `distill` (its settings, fingerprint, teacher, and whether this run distilled), each result
    also carries its `distilled` scores. `other` is the variant this run did not compute, from
    the cache: a depth it lacks has no scores (mean None), or no `distilled` entry.
    """
    ran_distilled = distill is not None and distill["this_run"]
    plain, distilled = (other, outcomes) if ran_distilled else (outcomes, other)
    if plain is None:
        plain = [None] * len(depths)
    results = []
    for i, depth in enumerate(depths):
        entry = {
            "strategy": depth.strategy,
            "depth": depth.depth,
            "removed": list(depth.removed),
            "heldout": depth.heldout,
            **_cell(plain[i]),
        }
        if distilled is not None and distilled[i] is not None:
            entry["distilled"] = _cell(distilled[i])
        results.append(entry)
    record = EvaluationRecord.new(
        {**header, "command": "evaluate", "seeds": list(seeds), "results": results}
    )
    record["evaluations"] = tally({o.removed: o for o in outcomes if o is not None}.values())
    if distill is not None:
        record["distill"] = distill
    return record


def _cell(outcome: Outcome | None) -> dict:
    if outcome is None:
        return {"scores": [], "mean": None, "std": None, "failures": [], "train_seconds": None}
    return {
        "scores": [None if r.score is None else r.score.value for r in outcome.results],
        "mean": outcome.value,
        "std": outcome.std,
        "failures": [r.failure for r in outcome.results if r.failure is not None],
        # the mean cost of one fine-tune of this set (what distillation adds shows here)
        "train_seconds": statistics.fmean(s.train_seconds for s in outcome.scores)
        if outcome.scores
        else None,
    }


def distill_info(out: Path, plain: str) -> dict | None:
    """The distillation an earlier evaluate.json in `out` recorded for students of these plain
    fine-tunes' teacher, so that a plain run shows those distilled results beside its own."""
    try:
        found = EvaluationRecord.read(out / EvaluationRecord.FILE).get("distill")
    except UserError:  # none, or one this run replaces
        return None
    if not isinstance(found, dict) or found.get("teacher", {}).get("fingerprint") != plain:
        return None
    return {**found, "this_run": False}


def table(record: EvaluationRecord) -> Table:
    """Strategies by layers removed; each cell the dev mean ± std and the layers removed."""
    results = record["results"]
    depths = sorted({r["depth"] for r in results})
    n = len(record["seeds"])
    distill = record.get("distill")
    caption = "each cell: dev score, layers removed, held-out score in the search"
    if distill is not None:
        caption = (
            "each cell: dev score plain, then distilled (alpha {alpha:g}, temperature "
            "{temperature:g}{hidden}, teacher seed {teacher_seed}), layers removed, held-out "
            "score in the search"
        ).format(
            **{**distill["settings"], "hidden": ", hidden states" * distill["settings"]["hidden"]}
        )
    result = Table(
        title=f"dev {record['metric']} after fine-tuning on all training data, "
        f"mean ± std of {n} seed{'s' * (n > 1)}",
        caption=caption,
        show_lines=True,
    )
    result.add_column("strategy")
    for depth in depths:
        result.add_column(f"-{depth}" if depth else "unpruned", justify="right")
    for strategy in dict.fromkeys(r["strategy"] for r in results):
        mine = {r["depth"]: r for r in results if r["strategy"] == strategy}
        cells = []
        for depth in depths:
            entry = mine.get(depth)
            if entry is None:
                cells.append("-")
                continue
            removed = layers_text(frozenset(entry["removed"]))
            heldout = "-" if entry["heldout"] is None else f"{entry['heldout']:.4f}"
            score = _score(entry)
            if distill is not None:
                found = entry.get("distilled")
                score += "\ndistilled " + (
                    _score(found) if found else "-: the teacher" if not depth else "not evaluated"
                )
            cells.append(f"{score}\n[dim]{removed}\nheld-out {heldout}[/]")
        result.add_row(strategy, *cells)
    return result


def _score(cell: dict) -> str:
    if cell["mean"] is None and not cell["failures"]:
        return "not evaluated"
    return score_text(cell["mean"], cell["std"])
