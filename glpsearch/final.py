"""The paper's final protocol for the models a search or compare chose.

Selection scores each candidate on a held-out 15% of the training data; the numbers a user
reports come from another run: each chosen model fine-tuned on all the training data and scored
on the dev set, over several seeds. Those fine-tunes go through the engine like any other, under
the final task's own fingerprint, so an interrupted evaluation resumes, more seeds can be added
later, and a set two strategies chose is fine-tuned once. Knows nothing of torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from glpsearch.engine import Engine, Outcome, tally
from glpsearch.outdir import Depth
from glpsearch.progress import layers_text, score_text
from glpsearch.results import atomic_write


def evaluate(engine: Engine, depths: Sequence[Depth]) -> list[Outcome]:
    """Each depth's outcome over the engine's seeds, in the order of `depths`.

    One request for every distinct set: the engine de-duplicates and may run them in parallel.
    """
    return engine.lookup([frozenset(depth.removed) for depth in depths])


def evaluation_record(
    header: dict, depths: Sequence[Depth], outcomes: Sequence[Outcome], seeds: Sequence[int]
) -> dict:
    """What export, pick and the trade-off plot read as evaluate.json."""
    return {
        **header,
        "command": "evaluate",
        "seeds": list(seeds),
        "results": [
            {
                "strategy": depth.strategy,
                "depth": depth.depth,
                "removed": list(depth.removed),
                "heldout": depth.heldout,
                "scores": [None if r.score is None else r.score.value for r in outcome.results],
                "mean": outcome.value,
                "std": outcome.std,
                "failures": [r.failure for r in outcome.results if r.failure is not None],
            }
            for depth, outcome in zip(depths, outcomes, strict=True)
        ],
        "evaluations": tally({o.removed: o for o in outcomes}.values()),
    }


def write_evaluation(out: Path, record: dict) -> Path:
    return atomic_write(out / "evaluate.json", json.dumps(record, indent=2) + "\n")


def table(record: dict) -> Table:
    """Strategies by layers removed; each cell the dev mean ± std and the layers removed."""
    results = record["results"]
    depths = sorted({r["depth"] for r in results})
    n = len(record["seeds"])
    result = Table(
        title=f"dev {record['metric']} after fine-tuning on all training data, "
        f"mean ± std of {n} seed{'s' * (n > 1)}",
        caption="each cell: dev score, layers removed, held-out score in the search",
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
            cells.append(
                f"{score_text(entry['mean'], entry['std'])}\n[dim]{removed}\nheld-out {heldout}[/]"
            )
        result.add_row(strategy, *cells)
    return result
