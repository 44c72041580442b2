"""Live terminal progress for a search, drawn with rich from the engine's events."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from glpsearch.engine.core import (
    BatchStarted,
    CandidateFinished,
    CandidateStarted,
    CandidateWaiting,
    Event,
    Job,
    Outcome,
    TrainingProgress,
)
from glpsearch.report.text import NOTHING, budget_text, layers_text, score_text
from glpsearch.strategies import SearchResult

if TYPE_CHECKING:
    from glpsearch.scoring.reference import Noise


def _job_text(job: Job) -> str:
    return f"{layers_text(job.removed)} (seed {job.seed}{budget_text(job.budget)})"


class Display:
    """Subscribes to engine events; use as a context manager around the search."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self._batch: TaskID | None = None
        self._running: dict[Job, TaskID] = {}  # one bar per fine-tune in flight
        self._computed = self._cached = self._failed = 0
        self._started = time.monotonic()
        # Set once the unpruned model is scored: candidates at its level are then marked.
        self.noise: Noise | None = None

    def __enter__(self) -> Display:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchStarted):
            if self._batch is not None:
                self._progress.remove_task(self._batch)
            what = "full model" if event.depth == 0 else f"{event.depth} removed"
            what += budget_text(event.budget)
            what += f", {event.seeds} seeds" if event.seeds > 1 else ""
            self._batch = self._progress.add_task(
                f"[bold]{what}[/]: {event.size} candidates, {event.cached} cached",
                total=event.size,
            )
        elif isinstance(event, CandidateStarted):
            self._running[event.job] = self._progress.add_task(
                f"  fine-tuning without {_job_text(event.job)}", total=None
            )
        elif isinstance(event, CandidateWaiting):
            self._running[event.job] = self._progress.add_task(
                f"  another process is computing {_job_text(event.job)}", total=None
            )
        elif isinstance(event, TrainingProgress) and event.job in self._running:
            self._progress.update(self._running[event.job], completed=event.step, total=event.total)

        elif isinstance(event, CandidateFinished):
            self._finished(event.outcome)

    def _finished(self, outcome: Outcome) -> None:
        for result in outcome.results:
            if result.job in self._running:
                self._progress.remove_task(self._running.pop(result.job))
        if self._batch is not None:
            self._progress.advance(self._batch)
        if outcome.failure is not None:
            self._failed += 1
            text = f"[red]failed[/] {outcome.failure}"
        else:
            text = f"{outcome.scores[0].metric} {score_text(outcome.value, outcome.std)}"
            text += budget_text(outcome.budget)
            if self._learned_nothing(outcome):
                text += f" [yellow]{NOTHING}[/]"
        if outcome.cached:
            self._cached += 1
            return  # replayed results scroll by silently; the tables show them
        self._computed += 1
        self._progress.console.print(
            f"  -{layers_text(outcome.removed):<10} {text}  [dim]{outcome.seconds:.0f} s "
            f"(computed {self._computed}, cached {self._cached}, "
            f"{time.monotonic() - self._started:.0f} s)[/]"
        )

    def _learned_nothing(self, outcome: Outcome) -> bool:
        """A full fine-tune of a pruned model at the constant predictor's level within noise."""
        if self.noise is None or not outcome.removed or outcome.budget != 1.0:
            return False
        learned = self.noise.learned(
            outcome.value, outcome.std, outcome.loss, outcome.se, len(outcome.results)
        )
        return learned is False


def steps_table(
    result: SearchResult, baseline: Outcome, outcomes: dict, record: dict | None = None
) -> Table:
    """One row per depth: what was removed, its score, how the step's candidates spread, and,
    from a judged record (glpsearch.scoring.reference.judge), how many learned nothing and the best
    one's lead over the runner-up against the noise that decided (~: inside it; p: the paired
    SE of the difference, u: one candidate's SE, for scores cached without per-example
    outputs; a raced step that reached the cap of seeds says "cap")."""
    metric = baseline.scores[0].metric if baseline.scores else "score"
    judged = record if record is not None and "reference" in record else None
    caption = None
    if judged is not None:
        from glpsearch.scoring.reference import Trivial

        constant = Trivial.from_record(judged["reference"]["trivial"])
        caption = (
            f"{constant.describe(metric)} · ~: lead inside the noise (p: paired SE of the "
            "difference, u: one candidate's SE; cap: raced to the most seeds)"
        )
    table = Table(title=f"{result.strategy}: {metric} on the held-out split", caption=caption)
    columns = ["removed", "layer", metric, "Δ vs full", "candidates", "spread", "computed"]
    if judged is not None:
        columns += ["at trivial", "lead (SE)"]
    for column in columns:
        table.add_column(column, justify="right")
    reference = baseline.value
    first = ["0", "-", score_text(reference, baseline.std), "", "1", "", _computed([baseline])]
    if judged is not None:
        first += ["yes" if judged["baseline"]["learned_nothing"] else "", ""]
    table.add_row(*first)
    for i, step in enumerate(result.steps):
        full = step.budgets or (1.0,) * len(step.candidates)  # halving: partial ones aside
        scores = [
            s for (_, s), b in zip(step.candidates, full, strict=True) if s is not None and b == 1
        ]
        seen = [outcomes[c] for c, _ in step.candidates if c in outcomes]
        added = step.chosen - _previous(result, step.depth) if step.chosen is not None else set()
        row = [
            str(step.depth),
            ",".join(map(str, sorted(added))) or "-",
            score_text(step.score, step.chosen and outcomes[step.chosen].std),
            "" if step.score is None or reference is None else f"{step.score - reference:+.4f}",
            str(len(step.candidates)),
            f"{min(scores):.3f}-{max(scores):.3f}" if scores else "all failed",
            _computed(seen),
        ]
        if judged is not None:
            row += _noise_cells(judged["steps"][i], len(scores))
        table.add_row(*row)
    return table


def _noise_cells(step: dict, full: int) -> list[str]:
    """A judged step's cells: candidates that learned nothing, and the lead (the noise that
    decided, p or u), ~ if inside, and "cap" where racing stopped at the most seeds."""
    nothing = f"{step['candidates_learned_nothing']}/{full}" if full else ""
    rule = step.get("noise_rule")
    if step["lead"] is None or rule is None:
        return [nothing, ""]
    noise = step["paired_noise"] if rule == "paired" else step["noise"]
    inside = "~" if step["lead_inside_noise"] else ""
    cap = " cap" if step.get("race") == "cap" else ""
    return [nothing, f"{inside}{step['lead']:.3f} ({noise:.3f} {rule[0]}){cap}"]


def _previous(result: SearchResult, depth: int) -> frozenset[int]:
    for step in result.steps:
        if step.depth == depth - 1 and step.chosen is not None:
            return step.chosen
    return frozenset()


def _computed(outcomes: Sequence[Outcome]) -> str:
    """Fine-tunes computed of those needed (one per seed)."""
    return f"{sum(o.computed for o in outcomes)}/{sum(len(o.results) for o in outcomes)}"
