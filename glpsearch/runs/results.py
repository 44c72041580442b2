"""What each command's run returns: SearchRun, CompareRun, Evaluation, Speeds, Picked and
Exported, each with its record, `to_frame()` where it has a table and `save()` where it writes
files; a search's result also builds its pruned models and exports them through the export
command's own code (`export_model`). The API hands them out; the CLI prints and writes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from glpsearch import strategies
from glpsearch.config import DistillSettings
from glpsearch.data.task import TaskData
from glpsearch.errors import UserError
from glpsearch.report.outdir import OutDir
from glpsearch.report.records import (
    Candidate,  # noqa: F401  (the API's, as glpsearch.Candidate)
    CompareRecord,
    EvaluationRecord,
    SearchRecord,
    Selection,
    SpeedRecord,
    Step,
    entries,
    steps,
    write_search,
)
from glpsearch.runs.assemble import (
    open_store,
    prepare_teacher,
)
from glpsearch.runs.comparison import StrategyRun, write_compare

if TYPE_CHECKING:  # torch and pandas load only when a function needs them
    import pandas
    import torch

    from glpsearch.engine.core import Outcome
    from glpsearch.engine.parallel import Recipe
    from glpsearch.model.evaluator import Evaluator
    from glpsearch.ship.exporting import ExportPlan
    from glpsearch.ship.picking import Choice


Folder = str | os.PathLike


def progress_console(progress: bool) -> Console:
    """Progress on stderr; its lines are not wrapped when stderr is not a terminal (a log)."""
    return Console(stderr=True, quiet=not progress, soft_wrap=True)


@dataclass
class Source:
    """What built the run's models: kept so `model()` and `export()` need no reloading."""

    recipe: Recipe
    task: TaskData
    evaluator: Evaluator
    cache: Path  # where a distilled export's teacher is kept
    built: dict[Recipe, Evaluator] = field(default_factory=dict)  # final and distilled ones

    def evaluator_for(self, finetune: bool, distill: DistillSettings | None = None) -> Evaluator:
        """The run's evaluator; for a fine-tuned model, one of all training data (built once),
        with `distill` one whose fine-tunes are students of the teacher in the cache."""
        if not finetune:
            return self.evaluator
        recipe = replace(self.recipe, final=True)
        if distill is not None:
            from glpsearch.store.cache import teacher_folder

            recipe = replace(recipe, distill=distill, teachers=teacher_folder(self.cache))
        if recipe not in self.built:
            self.built[recipe] = recipe.build(str(self.evaluator.device), self.task)
        return self.built[recipe]


@dataclass
class _Finished:
    """A finished run: its record (what the CLI writes as JSON) and the models it can build."""

    record: Selection
    _source: Source = field(repr=False)
    _saved: Path | None = field(default=None, init=False, repr=False)  # where `save` wrote it

    def _stem(self) -> str:
        return Path(self.record.FILE).stem

    def to_frame(self) -> pandas.DataFrame:
        """One row per candidate: strategy, step (layers removed), removed set, score, std,
        seeds, whether it was kept, cached or computed, seconds, failure."""
        import pandas

        rows = [
            {
                "strategy": entry["strategy"],
                "step": step.depth,
                "removed": candidate.removed,
                "score": candidate.score,
                "std": candidate.std,
                "seeds": len(candidate.seeds),
                "chosen": candidate.removed == step.chosen,
                "cached": candidate.cached,
                "computed": candidate.computed,
                "seconds": candidate.seconds,
                "failure": candidate.failure,
            }
            for entry in entries(self.record)
            for step in steps(entry)
            for candidate in step.candidates
        ]
        return pandas.DataFrame(rows, columns=_COLUMNS)

    def save(self, out: Folder) -> list[Path]:
        """Write the files the CLI writes to its --out folder; returns their paths."""
        path = Path(out).expanduser()
        write = write_compare if self._stem() == "compare" else write_search
        written = write(path, self.record)
        self._saved = path
        return written

    def model(
        self,
        layers_removed: int,
        finetune: bool = False,
        seed: int = 0,
        strategy: str | None = None,
    ) -> torch.nn.Module:
        """The pruned transformers model: the first `layers_removed` layers of the strategy's
        removal order gone. Its classification head is new (from `seed`) unless `finetune`,
        which fine-tunes it on all training data, held-out part included, as export does."""
        removed = self._outdir().depth(strategy, layers_removed).removed
        evaluator = self._source.evaluator_for(finetune)
        if finetune:
            return evaluator.train(removed, seed)
        return evaluator.build(removed, seed)

    def export(
        self,
        folder: Folder,
        layers_removed: int,
        finetune: bool = False,
        seed: int = 0,
        strategy: str | None = None,
        push_to_hub: str | None = None,
        private: bool = False,
        distill: bool | DistillSettings = False,
        progress: bool = False,
    ) -> list[Path]:
        """Write the pruned model as a Hugging Face checkpoint with its model card, as
        `glpsearch export` does (through the same code); returns the files written.
        `push_to_hub` ("namespace/name") then uploads the folder to that model repo (a token is
        needed: `hf auth login`), and the card's usage names the repo. `distill` (True, or its
        settings) fine-tunes it as a student of the unpruned model (with `finetune`)."""
        from glpsearch.ship.exporting import ExportPlan

        path = Path(folder).expanduser()
        settings = None
        if distill is not False:
            chosen = DistillSettings() if distill is True else distill
            settings = replace(chosen, teacher_seed=seed)
        check_export(path, push_to_hub, private, settings, finetune)
        depth = self._outdir().depth(strategy, layers_removed)
        plan = ExportPlan(depth.removed, finetune, seed, depth.strategy)
        evaluator = self._source.evaluator_for(finetune, settings)
        exported = export_model(evaluator, plan, path, self._outdir(), push_to_hub, private,
                           self._source.cache, progress_console(progress))  # fmt: skip
        return exported.files

    def _outdir(self) -> OutDir:
        """The run read as an out folder: the saved one once `save` wrote it."""
        where = self._saved or Path(".")
        selection = where / f"{self._stem()}.json" if self._saved else Path(f"{self._stem()}()")
        return OutDir(where, selection, self.record, None, None)


_COLUMNS = ["strategy", "step", "removed", "score", "std", "seeds", "chosen", "cached",
            "computed", "seconds", "failure"]  # fmt: skip


@dataclass
class SearchRun(_Finished):
    """What `search` returns. `record` is search.json's content."""

    record: SearchRecord
    result: strategies.SearchResult = field(repr=False)
    baseline: Outcome = field(repr=False)  # the unpruned model's score
    outcomes: dict[strategies.Layers, Outcome] = field(repr=False)  # every set scored

    @property
    def order(self) -> list[int] | None:
        """The removal order (GLP's layer file), None when the strategy's sets do not nest."""
        return self.record["order"]

    @property
    def steps(self) -> list[Step]:
        """Each depth's candidates with their scores, and the set kept."""
        return steps(self.record)


@dataclass
class CompareRun(_Finished):
    """What `compare` returns. `record` is compare.json's content."""

    record: CompareRecord
    runs: list[StrategyRun] = field(repr=False)  # each strategy's result and outcomes

    @property
    def orders(self) -> dict[str, list[int] | None]:
        """Each strategy's removal order."""
        return {entry["strategy"]: entry["order"] for entry in entries(self.record)}

    @property
    def steps(self) -> dict[str, list[Step]]:
        """Each strategy's depths, as `SearchRun.steps`."""
        return {entry["strategy"]: steps(entry) for entry in entries(self.record)}


@dataclass
class Evaluation:
    """What `evaluate` returns. `record` is evaluate.json's content."""

    record: EvaluationRecord

    def to_frame(self) -> pandas.DataFrame:
        """One row per strategy and depth: removed set, dev mean and std over the seeds, each
        seed's score, the held-out score of the search, and the distilled mean if any."""
        import pandas

        rows = [
            {
                "strategy": r["strategy"],
                "depth": r["depth"],
                "removed": tuple(r["removed"]),
                "mean": r["mean"],
                "std": r["std"],
                "scores": r["scores"],
                "heldout": r["heldout"],
                "distilled": r.get("distilled", {}).get("mean"),
            }
            for r in self.record["results"]
        ]
        return pandas.DataFrame(rows)

    def save(self, out: Folder) -> Path:
        """Write evaluate.json to `out`, as the command does; returns its path."""
        return self.record.write(Path(out).expanduser())


@dataclass
class Speeds:
    """What `speed` returns. `record` is speed.json's content."""

    record: SpeedRecord
    _folder: OutDir = field(repr=False)

    def to_frame(self) -> pandas.DataFrame:
        """One row per model, device and batch size: its size, latency, throughput, speedup."""
        import pandas

        rows = [
            {
                "removed": tuple(m["removed"]),
                "layers": m["layers"],
                "parameters": m["parameters"],
                "file_bytes": m["file_bytes"],
                **{k: t[k] for k in _TIMING},
            }
            for m in self.record["models"]
            for t in m["timings"]
        ]
        return pandas.DataFrame(rows)

    def save(self, out: Folder) -> list[Path]:
        """Write speed.json and tradeoff.png to `out`, as the command does; their paths."""
        from glpsearch.report import tradeoff

        path = Path(out).expanduser()
        written = [self.record.write(path)]
        written.append(tradeoff.draw(replace(self._folder, path=path, speed=self.record)))
        return written


_TIMING = ("device", "batch_size", "latency_ms", "iqr_ms", "throughput", "speedup")


@dataclass
class Picked:
    """What `pick` returns: the depth chosen, what its score is, and how to export it."""

    choice: Choice
    scores: str  # what the scores are and where they come from
    seq_length: int
    export_command: str  # the `glpsearch export` line that ships it

    def lines(self) -> list[str]:
        """What `glpsearch pick` prints."""
        timing, score = self.choice.timing, self.choice.point.score  # timed on the target's
        return [
            f"scores: {self.scores}; latency: {timing['device']}, batch {timing['batch_size']}, "
            f"sequence length {self.seq_length} (speed.json)",
            f"pick: {self.choice.describe()}: score {score:.4f}, {timing['latency_ms']:.2f} ms "
            f"per batch, {timing['speedup']:.2f}x the unpruned model's speed",
            f"export it: {self.export_command}",
        ]


@dataclass
class Exported:
    """What `export` returns: the folder, the files written (glpsearch.json's facts among
    them), and the Hub page when pushed."""

    folder: Path
    files: list[Path]
    facts: dict  # glpsearch.json's content
    url: str | None = None

    def summary(self) -> str:
        """The line `glpsearch export` prints first."""
        facts = self.facts
        layers, finetuned = facts["layers"], facts["finetuned"]
        removed = " ".join(map(str, layers["removed"])) or "none"
        how = "not fine-tuned" if finetuned is None else "fine-tuned"
        distilled = " by distillation" if finetuned and finetuned["distill"] is not None else ""
        return (
            f"exported {facts['base_model']} without layers {removed} ({layers['kept']} of "
            f"{layers['base']} kept, {how}{distilled}) to {self.folder}"
        )


def check_export(
    out: Path, repo: str | None, private: bool, distill: DistillSettings | None, finetune: bool
) -> None:
    """What an export refuses before anything is built."""
    from glpsearch.ship.exporting import check_target

    check_target(out)
    if repo is not None:
        from glpsearch.ship.push import check_repo

        check_repo(repo)
    elif private:
        raise UserError("--private goes with --push-to-hub REPO")
    if distill is not None and not finetune:
        raise UserError("--distill goes with --finetune")


def export_model(
    evaluator: Evaluator,
    plan: ExportPlan,
    out: Path,
    folder: OutDir | None,
    repo: str | None,
    private: bool,
    cache: Path,
    console: Console,
) -> Exported:
    """Build (the teacher first, if distilling), write and push: the command's and the API's."""
    import json

    from glpsearch.ship.exporting import FACTS
    from glpsearch.ship.exporting import export as write_export

    teacher = None
    if evaluator.distill is not None:
        with open_store(cache):  # makes the folder a cache, for the teacher
            teacher = prepare_teacher(console, evaluator)
    with console.status("fine-tuning" if plan.finetune else "exporting") as status:
        written = write_export(
            evaluator,
            plan,
            out,
            folder,
            lambda step, total: status.update(f"fine-tuning: step {step} of {total}"),
            repo,
            teacher,
        )
    url = None
    if repo is not None:
        from glpsearch.ship.push import push_to_hub

        with console.status(f"uploading to {repo}"):
            url = push_to_hub(out, repo, private)
    return Exported(out, written, json.loads((out / FACTS).read_text()), url)
