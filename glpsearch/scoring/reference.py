"""What a held-out score means: the trivial predictor, and the noise a score must clear.

A fine-tune too short to learn scores what a constant predictor scores (the majority class; the
training mean for regression), and a ranking of such candidates is the tie rule's, not a
ranking. This module computes that constant's held-out score and loss from the data (no
fine-tune), the standard error of the metric on the held-out split, and from them judges
records: did a model learn, is a step's pick inside the noise. Torch-free: the engine and the
strategies never see it; the commands read records through it.

Conventions, so that the numbers can be checked by hand:
- the constant predictor's loss is the cross-entropy of the training class frequencies (the
  training mean's squared error for regression); the correlation of a constant is undefined and
  reported as 0, which is what `metrics` gives constant predictions;
- the standard error (SE) of the metric is binomial for accuracy, sqrt(p(1-p)/n), and a
  bootstrap over held-out examples otherwise; it is computed with each score from its held-out
  predictions (for scores cached before it was kept, the unpruned model's stands in, and for
  an unpruned accuracy so cached, the binomial SE of its value). With several seeds, a score's
  seed spread (std/sqrt(seeds)) is used where it is larger, as every seed has the same held-out
  set;
- a step's pick is *inside the noise* when the best candidate leads the runner-up by no more
  than the noise of that lead: the paired SE of their difference on the shared held-out
  examples (glpsearch.strategies.noise: per-example correctness for accuracy, a paired bootstrap
  otherwise; with seeds, combined with the seed spread), or, for scores cached without
  per-example outputs, one SE (the larger of the two's); each step keeps both numbers;
- a model *learned* when its metric beats the constant's by more than two SEs (its own or the
  constant's, whichever is larger: all examples right have a binomial SE of 0) and, for
  regression, its held-out loss is also below the constant's by more than two SEs of that loss
  (a correlation can be clearly above 0 while the predictions stay at the mean); otherwise it
  *learned nothing*.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from glpsearch.scoring import metrics
from glpsearch.scoring.score import pack

BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 0
MARGIN = 2.0  # standard errors a score must clear
ADVICE = "train longer (--epochs), with a higher --lr, or on more data (--train-limit)"


def standard_error(metric: str, labels: Sequence, predictions: Sequence) -> float:
    """The SE of `metric` on these held-out examples: binomial for accuracy, else a seeded
    bootstrap (resampling examples with replacement) of BOOTSTRAP_ROUNDS rounds."""
    return heldout_noise(metric, labels, predictions)[0]


def heldout_noise(
    metric: str, labels: Sequence, predictions: Sequence
) -> tuple[float, str | tuple[float, ...]]:
    """The SE of `metric` on these held-out examples (`standard_error`) and what pairs the score
    with another candidate's (Score.examples): for accuracy each example's correctness, packed
    as bits; otherwise the metric on each bootstrap resample. The resamples depend only on the
    number of examples and BOOTSTRAP_SEED, so every candidate of a search gets the same ones
    (a paired bootstrap); changing BOOTSTRAP_SEED unpairs rows cached before."""
    n = len(labels)
    if metric == "accuracy":
        correct = pack([y == guess for y, guess in zip(labels, predictions, strict=True)])
        if n == 0:
            return 0.0, correct
        p = metrics.compute(metric, labels, predictions)
        return math.sqrt(p * (1 - p) / n), correct
    if n == 0:
        return 0.0, ()
    truth, predicted = np.asarray(labels), np.asarray(predictions)
    draws = np.random.default_rng(BOOTSTRAP_SEED).integers(0, n, size=(BOOTSTRAP_ROUNDS, n))
    values = [metrics.compute(metric, truth[drawn], predicted[drawn]) for drawn in draws]
    return statistics.stdev(values), tuple(map(float, values))


@dataclass(frozen=True)
class Trivial:
    """The constant predictor fitted on the training part, scored on the held-out part."""

    prediction: float  # the majority class id, or the training mean
    value: float  # the task's metric
    se: float  # its standard error over held-out examples (0 where the metric of a constant is)
    loss: float  # mean cross-entropy of the class frequencies, or squared error of the mean
    loss_se: float  # the SE of that mean loss over held-out examples
    regression: bool

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict) -> Trivial:
        return cls(**{name: record[name] for name in cls.__dataclass_fields__})

    def describe(self, metric: str) -> str:
        what = (
            f"the training mean {self.prediction:.4g}"
            if self.regression
            else f"always class {int(self.prediction)}"
        )
        return f"constant predictor ({what}): {metric} {self.value:.4f}, loss {self.loss:.4f}"


def trivial(
    train_labels: Sequence, heldout_labels: Sequence, metric: str, regression: bool
) -> Trivial:
    """The constant predictor's held-out score and loss, from the labels alone."""
    if regression:
        prediction = statistics.fmean(train_labels)
        losses = [(y - prediction) ** 2 for y in heldout_labels]
    else:
        counts = Counter(train_labels)
        prediction = min(counts, key=lambda label: (-counts[label], label))  # ties: lowest id
        frequency = {label: count / len(train_labels) for label, count in counts.items()}
        # a held-out class never seen in training has probability 0: an infinite loss, kept
        losses = [-math.log(frequency[y]) if y in frequency else math.inf for y in heldout_labels]
    n = len(heldout_labels)
    constant = [prediction] * n
    value = metrics.compute(metric, list(heldout_labels), constant)
    se = standard_error(metric, list(heldout_labels), constant)
    loss = statistics.fmean(losses) if losses else 0.0
    loss_se = statistics.stdev(losses) / math.sqrt(n) if n > 1 else 0.0
    return Trivial(float(prediction), value, se, loss, loss_se, regression)


@dataclass(frozen=True)
class Noise:
    """What a score must clear to mean something: the constant predictor and the metric's SE on
    the held-out split (None when unknown: a score cached before glpsearch kept it)."""

    trivial: Trivial
    se: float | None
    seeds: int = 1

    def error(
        self, std: float | None = None, se: float | None = None, seeds: int | None = None
    ) -> float | None:
        """The SE of a score: its held-out SE (`se`, else the unpruned model's) or its seed
        spread std/sqrt(seeds), whichever is larger; `seeds` is the score's own count (racing
        gives candidates different ones), by default the run's."""
        held = self.se if se is None else se
        seed_se = (std or 0.0) / math.sqrt(seeds or self.seeds)
        return None if held is None else max(held, seed_se)

    def clearance(
        self, std: float | None = None, se: float | None = None, seeds: int | None = None
    ) -> float | None:
        """The SE of a score's difference from the constant's: the larger of the two. (A model
        with every held-out example right has a binomial SE of 0; the constant's is not.)"""
        error = self.error(std, se, seeds)
        return None if error is None else max(error, self.trivial.se)

    def learned(
        self,
        value: float | None,
        std: float | None,
        loss: float | None,
        se: float | None = None,
        seeds: int | None = None,
    ) -> bool | None:
        """Whether a score clearly beats the constant predictor; None when it cannot be told
        (failed, or the SE is unknown)."""
        error = self.clearance(std, se, seeds)
        if value is None or error is None:
            return None
        if value - self.trivial.value <= MARGIN * error:
            return False
        if self.trivial.regression and loss is not None:
            return loss < self.trivial.loss - MARGIN * self.trivial.loss_se
        return True

    def to_record(self) -> dict:
        return {"trivial": self.trivial.to_record(), "se": self.se, "margin": MARGIN}


def heldout_se(metric: str, value: float, n: int, known: Sequence[float | None]) -> float | None:
    """The held-out SE of a score from its seeds' Scores (their mean); for accuracy cached before
    Scores kept it, the binomial SE from the value; else None (unknown)."""
    if known and None not in known:
        return statistics.fmean(se for se in known if se is not None)
    if metric == "accuracy" and n > 0:
        return math.sqrt(value * (1 - value) / n)
    return None


def not_learned(
    noise: Noise, metric: str, value: float | None, std: float | None, loss: float | None
) -> str | None:
    """One line saying that the unpruned model learned nothing and what to change; None when
    it learned, or when that cannot be told. Its held-out SE is the noise's own."""
    if noise.learned(value, std, loss) is not False:
        return None
    assert value is not None
    constant = noise.trivial
    error = noise.clearance(std) or 0.0
    line = (
        f"the unpruned model learned nothing: held-out {metric} {value:.4f} against the "
        f"constant predictor's {constant.value:.4f} ({MARGIN:g} standard errors: "
        f"{MARGIN * error:.4f})"
    )
    if constant.regression and loss is not None:
        line += (
            f", loss {loss:.4f} against its {constant.loss:.4f} ({MARGIN:g} standard errors: "
            f"{MARGIN * constant.loss_se:.4f})"
        )
    return f"{line}; {ADVICE}"


# -- judging a record (search.json or compare.json) --------------------------------------------
def judge(record: dict, noise: Noise) -> dict:
    """Add to a record, in place: the reference (constant predictor, SE), whether the unpruned
    model and each candidate learned, and for each step the lead of its best candidate over the
    runner-up, the noise it is measured against, and whether the tie rule alone chose."""
    record["reference"] = noise.to_record()
    _mark(record["baseline"], noise)
    for entry in record.get("strategies", [record]):
        for step in entry["steps"]:
            for candidate in step["candidates"]:
                _mark(candidate, noise)
            step.update(step_noise(step, noise))
        entry["tie_rule_steps"] = [s["depth"] for s in entry["steps"] if s["tie_rule_alone"]]
    return record


def _mark(candidate: dict, noise: Noise) -> None:
    full = candidate.get("budget", 1.0) == 1.0  # a short fine-tune is not expected to have learned
    learned = noise.learned(
        candidate["score"],
        candidate.get("std"),
        candidate.get("loss"),
        candidate.get("se"),
        _seeds(candidate),
    )
    candidate["learned_nothing"] = None if learned is None or not full else not learned


def _seeds(candidate: dict) -> int | None:
    """How many seeds a candidate's score is the mean of; None (the run's) when not recorded."""
    return len(candidate["seeds"]) or None if isinstance(candidate.get("seeds"), dict) else None


def step_noise(step: dict, noise: Noise) -> dict:
    """A step's figures: how many full fine-tunes learned nothing, the best one's lead over the
    runner-up, the two SEs that lead is measured against (`noise`: the larger of the two's own;
    `paired_noise`: the paired SE of their difference, which glpsearch.report.records writes from
    the per-example outputs, None for scores cached without them), which of them decided
    (`noise_rule`: "paired" wherever known), whether the lead is inside it, and whether the
    tie rule alone chose: the runner-up ties the best as the strategies' rule counts ties
    (equal scores; with seeds, within the best mean's std/sqrt(N); in a raced step, inside
    the noise at the cap of seeds), so the highest layer indices won, not a score."""
    full = [c for c in step["candidates"] if c["score"] is not None and c.get("budget", 1.0) == 1.0]
    ranked = sorted(full, key=lambda c: c["score"], reverse=True)
    nothing = sum(c.get("learned_nothing") is True for c in full)
    lead = error = paired = None
    if len(ranked) >= 2:
        lead = ranked[0]["score"] - ranked[1]["score"]
        errors = [noise.error(c.get("std"), c.get("se"), _seeds(c)) for c in ranked[:2]]
        error = None if None in errors else max(e for e in errors if e is not None)
        paired = step.get("paired_noise")
    deciding = paired if paired is not None else error
    inside = None if lead is None or deciding is None else lead <= deciding
    rule = None if deciding is None else "paired" if paired is not None else "unpaired"
    tie = False
    if step.get("race") is not None:
        tie = step["race"] == "cap"
    elif lead is not None and step["chosen"] is not None:
        seeds = _seeds(ranked[0]) or noise.seeds
        tie = lead <= (ranked[0].get("std") or 0.0) / math.sqrt(seeds)
    return {
        "candidates_learned_nothing": nothing,
        "lead": lead,
        "noise": error,
        "paired_noise": paired,
        "noise_rule": rule,
        "lead_inside_noise": inside,
        "tie_rule_alone": tie,
    }


def mostly_nothing(step: dict) -> bool:
    """Whether most (more than half) of a step's full fine-tunes learned nothing."""
    full = [c for c in step["candidates"] if c["score"] is not None and c.get("budget", 1) == 1]
    return bool(full) and 2 * step.get("candidates_learned_nothing", 0) > len(full)


def closing_lines(record: dict) -> list[str]:
    """What a search or comparison says at its end about its scores' meaning: one warning for
    the steps where most candidates learned nothing (with what to change), tie-rule picks, and
    a suggestion when most steps' picks lie inside the noise."""
    if "reference" not in record:
        return []
    lines = []
    unpaired = [
        s
        for entry in record.get("strategies", [record])
        for s in entry["steps"]
        if s.get("noise_rule") == "unpaired"
    ]
    if unpaired:
        lines.append(
            f"the lead of {len(unpaired)} step{'s' * (len(unpaired) > 1)} was set against one "
            "candidate's standard error, not the paired one of the difference: its scores were "
            "cached before glpsearch kept per-example outputs"
        )
    for entry in record.get("strategies", [record]):
        name = entry["strategy"]
        steps = entry["steps"]
        most = [str(step["depth"]) for step in steps if mostly_nothing(step)]
        if most:
            lines.append(
                f"warning: {name}: most candidates learned nothing (at the constant predictor's "
                f"level within noise) with {', '.join(most)} layers removed; {ADVICE}"
            )
        if entry.get("tie_rule_steps"):
            depths = ", ".join(map(str, entry["tie_rule_steps"]))
            lines.append(f"{name}: the tie rule alone chose at depth {depths}")
        judged = [s for s in steps if s.get("lead_inside_noise") is not None]
        inside = sum(s["lead_inside_noise"] for s in judged)
        if judged and 2 * inside > len(judged):
            cap = record.get("max_seeds")
            advice = (
                "try --seeds auto (racing), --seeds 3 or --strategy greedy-halving"
                if cap is None
                else f"racing stopped at {cap} seeds: try a higher --max-seeds or more data"
            )
            lines.append(
                f"{name}: in {inside} of {len(judged)} steps the best candidate led the "
                f"runner-up by less than the noise; {advice}"
            )
    return lines
