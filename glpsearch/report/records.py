"""The records of an out folder (search.json, compare.json, evaluate.json, speed.json): one type
each, the only code that writes or reads those files.

A record is the JSON object its file holds (a dict, so the API hands it out as it is written)
of a type that knows its file, its shape and its format version. Every record is written with
`record_version` first; one written before records had a version reads as version 1, the shape
they had then. Reading checks, in this order, that the file is JSON, that this glpsearch knows
its version (a newer one may have another shape), that it is a record of its kind, and that its
fields have the shape readers need: a hand-edited, partial or newer record is one line, never a
traceback deep in a command. Fields a shape does not name are not checked: a record may carry
more than its readers use. No torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from glpsearch.atomic import atomic_write
from glpsearch.errors import UserError
from glpsearch.strategies import noise
from glpsearch.version import __version__

if TYPE_CHECKING:
    from glpsearch.engine.core import Outcome
    from glpsearch.model.evaluator import Evaluator
    from glpsearch.strategies import SearchResult

VERSION = 1  # bump when a record's shape changes in a way older readers would misread
VERSION_KEY = "record_version"  # absent: written before records had a version, i.e. 1

R = TypeVar("R", bound="Record")

# -- shapes ------------------------------------------------------------------------------------
# A shape is a type (`float` also takes an int, `int` never takes a bool), None (null), a tuple
# of shapes (any of them), a list of one shape (a list of such items) or a dict of named shapes
# (an object with those fields; a name ending in "?" may be missing).
NUMBER = (float, None)
# What every reader of a search or compare record needs: each strategy's depths and scores.
STEP = {"depth": int, "chosen": ([int], None), "score": NUMBER}
ENTRY = {"strategy": str, "steps": [STEP], "order?": ([int], None)}
HEADER = {
    "model": str,
    "task": str,
    "metric": str,
    "n_layers": int,
    "baseline": {"score": NUMBER},
    "settings?": dict,
    "data?": dict,
}
# What `report` adds: every candidate's outcome and the run's counts, for its table and CSV.
CANDIDATE = {
    "removed": [int],
    "score": NUMBER,
    "failure": (str, None),
    "cached": bool,
    "seconds": float,
}
TRIED = {"steps": [{"candidates": [CANDIDATE]}]}
COUNTED = {
    "baseline": {"failure": (str, None), "cached": bool, "seconds": float},
    "evaluations": {"computed": int, "cached": int, "failed": int},
}
TIMING = {"device": str, "batch_size": int, "latency_ms": float, "speedup": float}


# -- the fields every record starts with -------------------------------------------------------
@dataclass(frozen=True)
class Subject:
    """What a record is about: which model was pruned, on which task, judged by which metric."""

    model: str
    task: str
    metric: str
    n_layers: int

    @classmethod
    def of(cls, evaluator: Evaluator) -> Subject:
        """What the evaluator fine-tunes and scores."""
        task = evaluator.task
        return cls(evaluator.model_name, task.name, task.metric, evaluator.n_layers)

    @classmethod
    def read(cls, record: Mapping[str, Any]) -> Subject:
        """The subject of a record read (speed's, from --from)."""
        return cls(record["model"], record["task"], record["metric"], record["n_layers"])


# The subject's fields and what a command may add to them, in the order records hold them.
SUBJECT = ("model", "model_dir", "task", "source", "data", "metric", "labels", "n_layers")


def header(
    subject: Subject,
    command: Mapping[str, object] | None = None,
    run: Mapping[str, object] | None = None,
    **about: object,
) -> dict:
    """A record's first fields: the glpsearch that wrote it, the command's own (its strategy,
    the record it read), the subject with what else the command knows of it (`about`: any of
    SUBJECT's model_dir, source, data, labels), then the run's settings (`run`)."""
    fields = {**asdict(subject), **about}
    unknown = set(about) - set(SUBJECT)
    assert not unknown, f"not a subject field: {unknown}"
    return {
        "glpsearch": __version__,
        **(command or {}),
        **{name: fields[name] for name in SUBJECT if name in fields},
        **(run or {}),
    }


# -- records -----------------------------------------------------------------------------------
class Record(dict):
    """One out-folder file's JSON object. Make one with `new` (it carries the format version)
    or `read` (checked); `write` writes it atomically."""

    FILE: ClassVar[str]
    SHAPE: ClassVar[Mapping[str, Any]]
    REQUIRED: ClassVar[tuple[str, ...]]  # fields a record of this kind never lacks
    NOT_RECORD: ClassVar[str] = "; remove or rewrite it"  # what the user can do with another file

    @classmethod
    def new(cls: type[R], fields: Mapping[str, Any]) -> R:
        return cls({VERSION_KEY: VERSION, **fields})

    @property
    def version(self) -> int:
        return self.get(VERSION_KEY, 1)

    @classmethod
    def fix(cls) -> str:
        """What to do about a record of this kind that cannot be read."""
        return f"remove it, and run glpsearch {Path(cls.FILE).stem} again"

    @classmethod
    def read(cls: type[R], path: Path) -> R:
        """The record in `path`; UserError (one line) for anything else."""
        return cls.checked(load_json(path), path)

    @classmethod
    def checked(cls: type[R], record: Any, path: Path, shape: Mapping[str, Any] | None = None) -> R:
        """`record` (read from `path`) as this kind, once it is one of a version this glpsearch
        reads (checked first: a newer version may have another shape) and has `shape` (by
        default its kind's)."""
        version = record.get(VERSION_KEY, 1) if isinstance(record, dict) else 1
        if type(version) is not int or version < 1:
            raise UserError(
                f"{path} has an unknown {VERSION_KEY} {json.dumps(version)}; {cls.fix()}"
            )
        if version > VERSION:
            raise UserError(
                f"{path} was written by a newer glpsearch ({VERSION_KEY} {version}; this one "
                f"reads up to {VERSION}); upgrade glpsearch to read it"
            )
        missing = [key for key in cls.REQUIRED if not isinstance(record, dict) or key not in record]
        if missing:
            raise UserError(
                f"{path} is not a glpsearch record (no {', '.join(missing)}){cls.NOT_RECORD}"
            )
        check(record, cls.SHAPE if shape is None else shape, path, cls.fix())
        return cls(record)

    def write(self, out: Path) -> Path:
        """The record's file in `out`, replaced whole."""
        return atomic_write(out / self.FILE, json.dumps(self, indent=2) + "\n")


class Selection(Record):
    """A search or compare record: the sets each strategy chose, depth by depth."""

    REQUIRED = ("model", "task", "metric", "n_layers", "baseline", "evaluations")
    NOT_RECORD = ""
    TABLE: ClassVar[Mapping[str, Any]]  # what `report`'s table and CSV read besides

    @classmethod
    def fix(cls) -> str:
        return f"restore it, or run glpsearch {Path(cls.FILE).stem} again"

    def tabled(self, path: Path) -> Selection:
        """This record, once it holds what `report`'s table and CSV read too."""
        return self.checked(self, path, self.TABLE)


class SearchRecord(Selection):
    FILE = "search.json"
    SHAPE: ClassVar[Mapping[str, Any]] = {**HEADER, **ENTRY}
    TABLE: ClassVar[Mapping[str, Any]] = {**COUNTED, **TRIED}


class CompareRecord(Selection):
    FILE = "compare.json"
    SHAPE: ClassVar[Mapping[str, Any]] = {**HEADER, "strategies": [ENTRY]}
    TABLE: ClassVar[Mapping[str, Any]] = {**COUNTED, "strategies": [TRIED]}


def selections(folder: Path) -> list[Path]:
    """The compare.json and search.json in `folder`, compare.json first: when both commands
    wrote to one folder, it holds every strategy (greedy included)."""
    return [
        folder / kind.FILE
        for kind in (CompareRecord, SearchRecord)
        if (folder / kind.FILE).is_file()
    ]


def entries(record: Mapping[str, Any]) -> list[dict]:
    """The strategies of a search or compare record: a comparison's list, or a search alone."""
    return record.get("strategies", [record])


def read_selection(path: Path) -> Selection:
    """A search or compare record, by what it holds (a comparison lists its strategies)."""
    record = load_json(path)
    kind = CompareRecord if isinstance(record, dict) and "strategies" in record else SearchRecord
    return kind.checked(record, path)


class EvaluationRecord(Record):
    """evaluate.json: each chosen model's dev scores over seeds (the paper's final protocol)."""

    FILE = "evaluate.json"
    REQUIRED = ("results",)
    SHAPE: ClassVar[Mapping[str, Any]] = {
        "results": [
            {"strategy": str, "depth": int, "removed": [int], "mean": NUMBER, "std": NUMBER}
        ],
    }


class SpeedRecord(Record):
    """speed.json: each distinct model's size and timings per device and batch size."""

    FILE = "speed.json"
    REQUIRED = ("models",)
    SHAPE: ClassVar[Mapping[str, Any]] = {
        "seq_length": int,
        "models": [{"removed": [int], "timings": [TIMING]}],
    }


# -- a search's steps, as the API hands them out -----------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One removed set a strategy asked for at one depth, and what scoring it cost."""

    removed: tuple[int, ...]  # ascending
    score: float | None  # mean held-out score over seeds; None when it failed
    std: float | None  # standard deviation over seeds (0 with one seed; None if it failed)
    seeds: dict[int, float | None]  # each seed's score
    failure: str | None
    cached: bool  # every seed answered from the cache
    computed: int  # fine-tunes this run paid for
    seconds: float


@dataclass(frozen=True)
class Step:
    """One depth of a strategy: every candidate tried and the set kept."""

    depth: int
    chosen: tuple[int, ...] | None  # ascending; None when every candidate failed
    score: float | None
    candidates: list[Candidate]


def steps(entry: Mapping[str, Any]) -> list[Step]:
    """The steps of one strategy's entry of a search or compare record."""
    return [
        Step(
            step["depth"],
            None if step["chosen"] is None else tuple(step["chosen"]),
            step["score"],
            [
                Candidate(
                    tuple(c["removed"]),
                    c["score"],
                    c["std"],
                    {int(seed): score for seed, score in c["seeds"].items()},
                    c["failure"],
                    c["cached"],
                    c["computed"],
                    c["seconds"],
                )
                for c in step["candidates"]
            ],
        )
        for step in entry["steps"]
    ]


def outcome_record(outcome: Outcome) -> dict:
    """One removed set: its score (the mean over seeds), each seed's, and what they cost."""
    return {
        "removed": sorted(outcome.removed),
        "score": outcome.value,
        "budget": outcome.budget,  # below 1: greedy-halving stopped its fine-tune short
        "std": outcome.std,
        "loss": outcome.loss,  # the mean held-out loss: what ranks short fine-tunes
        "se": outcome.se,  # the score's standard error over held-out examples
        "seeds": {
            str(r.job.seed): None if r.score is None else r.score.value for r in outcome.results
        },
        "failure": outcome.failure,
        "cached": outcome.cached,
        "computed": outcome.computed,
        "seconds": round(outcome.seconds, 3),
        "train_seconds": round(sum(s.train_seconds for s in outcome.scores), 3),
    }


def steps_record(result: SearchResult, outcomes: dict) -> list[dict]:
    """Each depth's chosen set and every candidate's outcome (score, cached or computed, time),
    how a raced step was decided (`race`, strategies.StepResult), and the paired noise of the best
    full fine-tune's lead over the runner-up (`paired_noise`, what glpsearch.scoring.reference.judge
    sets the lead against; None without per-example outputs)."""
    return [
        {
            "depth": step.depth,
            "chosen": None if step.chosen is None else sorted(step.chosen),
            "score": step.score,
            "candidates": [outcome_record(outcomes[c]) for c, _ in step.candidates],
            "race": step.race,
            "paired_noise": paired_noise([outcomes[c] for c, _ in step.candidates]),
        }
        for step in result.steps
    ]


def paired_noise(tried: list[Outcome]) -> float | None:
    """The paired noise (strategies.noise.paired) of the lead of the best full fine-tune over
    the runner-up, ranked as the judge ranks them (by mean score, the earlier of equal ones
    first); None with fewer than two or without per-example outputs."""
    full = [o for o in tried if o.value is not None and o.budget == 1.0]
    ranked = sorted(full, key=lambda o: o.value, reverse=True)
    if len(ranked) < 2:
        return None
    best, runner_up = ranked[0].estimate(), ranked[1].estimate()
    return None if best is None or runner_up is None else noise.paired(best, runner_up)


def search_record(
    result: SearchResult, baseline: Outcome, outcomes: dict, header: dict, counts: dict
) -> SearchRecord:
    """Everything needed to audit or redraw the search without fine-tuning anything."""
    return SearchRecord.new(
        {
            **header,
            "baseline": outcome_record(baseline),
            "steps": steps_record(result, outcomes),
            "order": result.order,
            "evaluations": counts,
        }
    )


# -- files -------------------------------------------------------------------------------------
def write_search(out: Path, record: Mapping[str, Any]) -> list[Path]:
    """search.json, and layers.txt (GLP's layer file) when the result is a removal order."""
    written = [SearchRecord(record).write(out)]
    order = record.get("order")
    if order:
        written.append(atomic_write(out / "layers.txt", "".join(f"{i}\n" for i in order)))
    return written


def load_json(path: Path) -> Any:
    """The JSON in `path`; UserError (one line) when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


# -- shape checks ------------------------------------------------------------------------------
def check(record: Any, shape: Any, path: Path, fix: str = "restore it") -> None:
    """Raise UserError naming the first field of `record` (read from `path`) not of `shape`,
    and `fix`, what to do about it."""
    problem = _mismatch(record, shape, "")
    if problem is not None:
        where, what = problem
        raise UserError(
            f"{path} is not a glpsearch record it can read ({where or 'the record'}: {what}); {fix}"
        )


def _mismatch(value: Any, shape: Any, where: str) -> tuple[str, str] | None:
    if isinstance(shape, tuple):
        found = [_mismatch(value, option, where) for option in shape]
        return None if None in found else found[0]
    if shape is None:
        return None if value is None else (where, f"{_name(value)}, not null")
    if isinstance(shape, list):
        if not isinstance(value, list):
            return where, f"{_name(value)}, not a list"
        for i, item in enumerate(value):
            if (problem := _mismatch(item, shape[0], f"{where}[{i}]")) is not None:
                return problem
        return None
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return where, f"{_name(value)}, not an object"
        for name, field in shape.items():
            key = name.removesuffix("?")
            inner = f"{where}.{key}" if where else key
            if key not in value:
                if name.endswith("?"):
                    continue
                return inner, "missing"
            if (problem := _mismatch(value[key], field, inner)) is not None:
                return problem
        return None
    kinds = (int, float) if shape is float else (shape,)
    if isinstance(value, kinds) and (shape is bool or not isinstance(value, bool)):
        return None
    return where, f"{_name(value)}, not {'a number' if shape is float else _name_of(shape)}"


def _name(value: Any) -> str:
    if value is None:
        return "null"
    name = _name_of(type(value))
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _name_of(kind: type) -> str:
    names = {str: "string", int: "whole number", float: "number", bool: "true/false",
             list: "list", dict: "object"}  # fmt: skip
    return names.get(kind, kind.__name__)
