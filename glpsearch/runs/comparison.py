"""Several strategies through one store: a removed set is fine-tuned once, whichever asks first.

Each strategy runs on an Engine of its own over the shared store, scorer and seeds, so its
outcomes say which of its evaluations it computed and which it found cached, including those
another strategy of the same comparison computed moments before. Knows nothing of torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from glpsearch.engine.core import Engine, Outcome, tally
from glpsearch.report import tables as report
from glpsearch.report.records import CompareRecord, outcome_record, steps_record
from glpsearch.strategies import Layers, SearchResult, Strategy


@dataclass(frozen=True)
class StrategyRun:
    result: SearchResult
    outcomes: dict[Layers, Outcome]  # the strategy's candidates, without the unpruned model
    seconds: float


class Comparison:
    def __init__(self, new_engine: Callable[[], Engine]) -> None:
        """`new_engine` makes a fresh Engine over the same scorer, store and seeds each call."""
        self.new_engine = new_engine
        self.baseline: Outcome | None = None
        self.runs: list[StrategyRun] = []
        self._first: Engine | None = None  # the engine that scored the baseline, for run()

    def unpruned(self) -> Outcome:
        """The unpruned model's outcome, before any strategy runs (to check that it learned);
        scored by the engine the first strategy then runs on, so the record says who paid."""
        self._first = self.new_engine()
        self.baseline = self._first.lookup([frozenset()])[0]
        return self.baseline

    def run(self, strategy: Strategy, remove: int) -> StrategyRun:
        """Depths 1..remove of one strategy, answering what earlier strategies computed."""
        engine, self._first = self._first or self.new_engine(), None
        start = time.perf_counter()
        baseline, result = engine.run(strategy, remove)
        if self.baseline is None:  # the first engine's: it says whether this comparison paid
            self.baseline = baseline
        candidates = {layers: o for layers, o in engine.outcomes.items() if layers}
        run = StrategyRun(result, candidates, time.perf_counter() - start)
        self.runs.append(run)
        return run

    @property
    def counts(self) -> dict[str, int]:
        """Fine-tunes paid and saved: `shared` sets were asked for by more than one strategy."""
        assert self.baseline is not None, "no strategy has run"
        asked = [o for run in self.runs for o in run.outcomes.values()]
        every = [self.baseline, *asked]
        distinct = {o.removed for o in asked}
        return {
            **tally(every),
            "requested": len(asked),
            "distinct": len(distinct),
            "shared": len(asked) - len(distinct),
        }

    def record(self, header: dict) -> CompareRecord:
        """Everything `glpsearch report` needs to redraw the comparison without fine-tuning."""
        assert self.baseline is not None, "no strategy has run"
        return CompareRecord.new(
            {
                **header,
                "baseline": outcome_record(self.baseline),
                "strategies": [
                    {
                        "strategy": run.result.strategy,
                        "order": run.result.order,
                        "seconds": round(run.seconds, 3),
                        "steps": steps_record(run.result, run.outcomes),
                    }
                    for run in self.runs
                ],
                "evaluations": self.counts,
            }
        )


def write_compare(out: Path, record: CompareRecord) -> list[Path]:
    """compare.json, then its table as compare.csv and its plot as compare.png."""
    return [record.write(out), *report.draw(out, "compare", record)]
