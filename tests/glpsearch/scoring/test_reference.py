"""The constant predictor, the held-out noise, and what a search says with them: a fine-tune too
short to learn stops the search, learned-nothing candidates are marked, leads are set against the
metric's standard error. Figures are checked against computations written out plainly here."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import statistics
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from glpsearch.cli import main
from glpsearch.engine.core import CandidateFinished, Job, Outcome, Result
from glpsearch.report import tables as report
from glpsearch.report.display import Display
from glpsearch.scoring import metrics, reference
from glpsearch.scoring.reference import Noise, Trivial, judge, standard_error, trivial
from glpsearch.scoring.score import Score, pack, readable
from glpsearch.strategies import Estimate, Examples, noise

SHORT = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]  # learns not
LONG = ["--epochs", "5", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]  # learns


# -- the constant predictor -------------------------------------------------------------------
def test_the_constant_predictor_of_a_classification_task_is_the_training_majority():
    constant = trivial([0, 0, 0, 1, 1], [0, 1, 1, 0], "accuracy", regression=False)
    losses = [-math.log(3 / 5), -math.log(2 / 5), -math.log(2 / 5), -math.log(3 / 5)]
    assert constant.prediction == 0
    assert constant.value == 0.5  # two of four held-out labels are class 0
    assert constant.se == pytest.approx(math.sqrt(0.5 * 0.5 / 4))
    assert constant.loss == pytest.approx(sum(losses) / 4)
    assert constant.loss_se == pytest.approx(statistics.stdev(losses) / 2)


def test_the_constant_predictor_of_a_regression_task_is_the_training_mean_with_no_correlation():
    constant = trivial([1.0, 2.0, 3.0], [1.0, 3.0, 2.0, 4.0], "spearman", regression=True)
    assert constant.prediction == 2.0
    assert constant.loss == pytest.approx((1 + 1 + 0 + 4) / 4)  # squared errors from 2
    assert constant.value == 0.0  # undefined for a constant: reported as 0
    assert constant.se == 0.0


def test_a_tie_for_the_majority_goes_to_the_lowest_class():
    assert trivial([1, 0, 1, 0], [0, 1], "accuracy", regression=False).prediction == 0


# -- the held-out standard error --------------------------------------------------------------
def test_the_standard_error_of_accuracy_is_binomial():
    labels, predicted = [0, 1, 1, 0, 1, 1, 0, 1], [0, 1, 0, 0, 1, 1, 1, 1]
    assert standard_error("accuracy", labels, predicted) == pytest.approx(
        math.sqrt(0.75 * 0.25 / 8)
    )


def test_the_standard_error_of_other_metrics_is_a_bootstrap_over_held_out_examples():
    rng = random.Random(7)
    labels = [rng.randrange(2) for _ in range(120)]
    predicted = [y if rng.random() < 0.8 else 1 - y for y in labels]
    # the same bootstrap written plainly, with many more rounds and another random stream
    draws = random.Random(123)
    values = []
    for _ in range(2000):
        picked = [draws.randrange(120) for _ in range(120)]
        values.append(
            metrics.compute("matthews", [labels[i] for i in picked], [predicted[i] for i in picked])
        )
    se = standard_error("matthews", labels, predicted)
    assert se == pytest.approx(statistics.stdev(values), rel=0.2)
    assert standard_error("matthews", labels, predicted) == se  # seeded: the same every time


def test_old_cached_scores_without_a_standard_error_stay_readable():
    old = {"value": 0.8, "metric": "accuracy", "train_seconds": 1.0, "eval_seconds": 0.1,
           "n_train": 10, "n_eval": 5, "loss": 0.4}  # fmt: skip
    assert Score.from_record(old).se is None
    assert reference.heldout_se("accuracy", 0.8, 5, [None]) == pytest.approx(
        math.sqrt(0.8 * 0.2 / 5)
    )
    assert reference.heldout_se("matthews", 0.8, 5, [None]) is None


# -- judging a record -------------------------------------------------------------------------
CONSTANT = Trivial(prediction=0, value=0.55, se=0.05, loss=0.69, loss_se=0.01, regression=False)


def candidate(removed, score, se=0.04, std=0.0, budget=1.0) -> dict:
    return {"removed": removed, "score": score, "se": se, "std": std, "loss": 0.5,
            "budget": budget, "failure": None, "cached": False, "seconds": 1.0}  # fmt: skip


def record(*steps: dict) -> dict:
    return {"strategy": "greedy", "model": "m", "task": "t", "metric": "accuracy",
            "n_layers": 4, "baseline": candidate([], 0.85), "steps": list(steps),
            "evaluations": {"computed": 1, "cached": 0, "failed": 0}}  # fmt: skip


def step(depth, chosen, *candidates) -> dict:
    score = next(c["score"] for c in candidates if c["removed"] == chosen)
    return {"depth": depth, "chosen": chosen, "score": score, "candidates": list(candidates)}


def test_leads_are_set_against_the_larger_standard_error_of_the_two_best():
    clear = step(1, [3], candidate([3], 0.84, se=0.03), candidate([2], 0.70, se=0.045),
                 candidate([1], 0.60))  # fmt: skip
    close = step(2, [2, 3], candidate([2, 3], 0.80, se=0.04), candidate([1, 3], 0.79, se=0.041))
    judged = judge(record(clear, close), Noise(CONSTANT, se=0.04))
    first, second = judged["steps"]
    assert first["lead"] == pytest.approx(0.84 - 0.70)
    assert first["noise"] == pytest.approx(max(0.03, 0.045))
    assert first["lead_inside_noise"] is False
    assert second["lead"] == pytest.approx(0.80 - 0.79)
    assert second["noise"] == pytest.approx(0.041)
    assert second["lead_inside_noise"] is True
    assert judged["reference"]["trivial"]["value"] == 0.55


def test_with_seeds_the_seed_spread_counts_where_it_is_larger():
    spread = step(1, [3], candidate([3], 0.84, se=0.03, std=0.09), candidate([2], 0.80, se=0.03))
    judged = judge(record(spread), Noise(CONSTANT, se=0.03, seeds=3))
    assert judged["steps"][0]["noise"] == pytest.approx(0.09 / math.sqrt(3))
    assert judged["steps"][0]["lead_inside_noise"] is True  # 0.04 <= 0.052
    assert judged["tie_rule_steps"] == [1]  # as the strategies tie: 0.04 <= 0.09 / sqrt(3)


def test_candidates_within_two_standard_errors_of_the_constant_learned_nothing():
    # 0.55 + 2 * max(0.04, the constant's 0.05) = 0.65: 0.64 is at the trivial level, 0.66 not
    low = step(1, [3], candidate([3], 0.66), candidate([2], 0.64), candidate([1], 0.50))
    judged = judge(record(low), Noise(CONSTANT, se=0.04))
    marks = {tuple(c["removed"]): c["learned_nothing"] for c in judged["steps"][0]["candidates"]}
    assert marks == {(3,): False, (2,): True, (1,): True}
    assert judged["baseline"]["learned_nothing"] is False
    assert judged["steps"][0]["candidates_learned_nothing"] == 2
    assert reference.mostly_nothing(judged["steps"][0])
    assert judged["tie_rule_steps"] == []  # 0.66 led: not the tie rule's pick


def test_short_fine_tunes_are_not_marked():
    partial = step(1, [3], candidate([3], 0.70), candidate([2], 0.55, budget=0.5))
    judged = judge(record(partial), Noise(CONSTANT, se=0.04))
    assert judged["steps"][0]["candidates"][1]["learned_nothing"] is None
    assert judged["steps"][0]["lead"] is None  # one full fine-tune: no runner-up


def test_a_regression_model_at_the_means_loss_learned_nothing_whatever_its_correlation():
    constant = Trivial(prediction=2.5, value=0.0, se=0.0, loss=2.14, loss_se=0.05, regression=True)
    noise = Noise(constant, se=0.05)
    assert noise.learned(0.36, None, 2.10) is False  # correlated, but predicting about the mean
    assert noise.learned(0.62, None, 1.18) is True
    assert noise.learned(0.05, None, 1.18) is False  # within two SEs of no correlation


def test_the_closing_lines_warn_of_steps_that_learned_nothing_and_suggest_seeds():
    flat = step(1, [3], *(candidate([i], 0.55) for i in (3, 2, 1, 0)))
    close = step(2, [2, 3], candidate([2, 3], 0.56), candidate([1, 3], 0.555))
    judged = judge(record(flat, close), Noise(CONSTANT, se=0.04))
    assert judged["tie_rule_steps"] == [1]  # all four scored 0.55; at depth 2, 0.56 led
    lines = reference.closing_lines(judged)
    assert any("most candidates learned nothing" in line and "--epochs" in line for line in lines)
    assert any("the tie rule alone chose at depth 1" in line for line in lines)
    (advice,) = [line for line in lines if "less than the noise" in line]
    # racing first: bench/carry_over.py measured it picking better than --seeds 3, for less
    assert advice.index("--seeds auto") < advice.index("--seeds 3") < advice.index("greedy-halv")


def test_after_racing_the_closing_lines_suggest_more_seeds_not_racing():
    close = step(1, [3], candidate([3], 0.56), candidate([2], 0.555))
    judged = judge({**record(close), "max_seeds": 3}, Noise(CONSTANT, se=0.04))
    (line,) = [line for line in reference.closing_lines(judged) if "less than the noise" in line]
    assert "racing stopped at 3 seeds: try a higher --max-seeds" in line
    assert "--seeds auto" not in line


def test_compare_csv_marks_learned_nothing_and_carries_the_constant():
    one = step(1, [3], candidate([3], 0.60), candidate([2], 0.58))
    judged = judge(record(one), Noise(CONSTANT, se=0.04))
    rows = list(csv.DictReader(io.StringIO(report.csv_text(judged))))
    assert [(r["strategy"], r["learned_nothing"]) for r in rows] == [
        ("unpruned", "0"),
        ("greedy", "1"),
    ]
    assert rows[1]["lead"] == str(0.60 - 0.58) and rows[1]["lead_inside_noise"] == "1"
    assert {r["constant_score"] for r in rows} == {"0.55"}


def test_the_live_lines_mark_candidates_that_learned_nothing():
    shown = io.StringIO()
    display = Display(Console(file=shown, width=200))
    display.noise = Noise(CONSTANT, se=0.04)

    def finished(removed: frozenset[int], value: float) -> CandidateFinished:
        score = Score(value, "accuracy", 1.0, 0.1, 100, 20, loss=0.6, se=0.04)
        return CandidateFinished(Outcome(removed, (Result(Job(removed, 0), score, None, 1.0),)))

    with display:
        display(finished(frozenset({1}), 0.56))
        display(finished(frozenset({2}), 0.90))
    lines = [line for line in shown.getvalue().splitlines() if "accuracy" in line]
    assert "learned nothing" in lines[0] and "learned nothing" not in lines[1]


# -- the commands -----------------------------------------------------------------------------
def _search(model: Path, data: Path, root: Path, *extra: str) -> list[str]:
    return ["search", "--model", str(model), "--train", str(data), "--cache", str(root / "cache"),
            "--out", str(root / "out"), "--remove", "1", *extra]  # fmt: skip


@pytest.fixture
def fine_tuned(monkeypatch) -> list[frozenset[int]]:
    """The removed sets the evaluator is asked to fine-tune, in order (it still fine-tunes)."""
    from glpsearch.model.evaluator import Evaluator

    asked: list[frozenset[int]] = []
    real = Evaluator.score

    def spy(self, removed, *args, **kwargs):
        asked.append(frozenset(removed))
        return real(self, removed, *args, **kwargs)

    monkeypatch.setattr(Evaluator, "score", spy)
    return asked


def test_a_fine_tune_too_short_to_learn_stops_the_search_before_any_candidate(
    tiny_model, task_file, tmp_path, capsys, fine_tuned
):
    assert main([*_search(tiny_model, task_file, tmp_path, "--quiet", *SHORT)]) == 2
    assert fine_tuned == [frozenset()]  # the unpruned model only
    assert not (tmp_path / "out" / "search.json").exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "the unpruned model learned nothing" in err[0]
    assert "--epochs" in err[0] and "--lr" in err[0] and "--force" in err[0]


def test_force_goes_on_and_marks_every_candidate(tiny_model, task_file, tmp_path, capsys):
    assert main([*_search(tiny_model, task_file, tmp_path, "--force", *SHORT)]) == 0
    saved = json.loads((tmp_path / "out" / "search.json").read_text())
    assert saved["reference"]["trivial"]["value"] == 0.5  # the task is balanced
    assert saved["baseline"]["learned_nothing"] is True
    assert [c["learned_nothing"] for c in saved["steps"][0]["candidates"]] == [True] * 4
    assert saved["tie_rule_steps"] == [1]
    shown = capsys.readouterr()
    assert "going on (--force)" in shown.err
    assert "most candidates learned nothing" in shown.out


def test_a_model_that_learned_searches_without_force(tiny_model, task_file, tmp_path, fine_tuned):
    assert main([*_search(tiny_model, task_file, tmp_path, "--quiet", *LONG)]) == 0
    saved = json.loads((tmp_path / "out" / "search.json").read_text())
    assert saved["baseline"]["learned_nothing"] is False
    assert len(fine_tuned) == 1 + 4
    step = saved["steps"][0]
    scores = sorted((c["score"] for c in step["candidates"]), reverse=True)
    best = max(step["candidates"], key=lambda c: c["score"])
    runner_up = sorted(step["candidates"], key=lambda c: c["score"])[-2]
    assert step["lead"] == pytest.approx(scores[0] - scores[1])
    assert step["noise"] == pytest.approx(max(best["se"], runner_up["se"]))


def test_the_evaluator_keeps_the_standard_error_of_its_held_out_predictions(tiny_model, task_file):
    from glpsearch.config import DataSpec, TrainSettings
    from glpsearch.data.task import load_task
    from glpsearch.model.evaluator import Evaluator

    task = load_task(DataSpec(train=task_file))
    settings = TrainSettings(epochs=1, lr=3e-3, batch_size=8, max_length=32)
    score = Evaluator(str(tiny_model), task, settings).score([], 0)
    n = len(task.heldout)
    assert score.se == pytest.approx(math.sqrt(score.value * (1 - score.value) / n))


def test_compare_marks_learned_nothing_in_its_record_and_csv(tiny_model, task_file, tmp_path):
    args = _search(tiny_model, task_file, tmp_path, "--quiet", "--force", *SHORT)
    args[0:1] = ["compare", "--strategies", "greedy,top-drop"]
    assert main(args) == 0
    saved = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert all(
        c["learned_nothing"] for s in saved["strategies"] for c in s["steps"][0]["candidates"]
    )
    rows = list(csv.DictReader((tmp_path / "out" / "compare.csv").open()))
    assert [r["learned_nothing"] for r in rows] == ["1", "1", "1"]
    assert saved["evaluations"]["computed"] == 1 + 4  # the check's baseline is counted once
    assert saved["baseline"]["cached"] is False  # the comparison paid for it


# -- the paired noise of a lead ----------------------------------------------------------------
def test_the_paired_standard_error_of_accuracy_is_that_of_the_per_example_differences():
    labels = [1, 1, 0, 1, 0, 1, 1, 0]
    a_predicted = [1, 1, 1, 1, 1, 1, 1, 0]  # right on 0, 1, 3, 5, 6, 7: 6 of 8
    b_predicted = [1, 0, 0, 1, 1, 1, 0, 1]  # right on 0, 2, 3, 5: 4 of 8
    a_se, a_bits = reference.heldout_noise("accuracy", labels, a_predicted)
    b_se, b_bits = reference.heldout_noise("accuracy", labels, b_predicted)
    assert a_se == standard_error("accuracy", labels, a_predicted)  # the binomial SE, as before
    a, b = (
        Score(0.0, "accuracy", 0, 0, 8, 8, examples=bits).per_example() for bits in (a_bits, b_bits)
    )
    assert a is not None and b is not None
    assert a.values == (1, 1, 0, 1, 0, 1, 1, 1)
    # per example, a's correctness minus b's: 0, 1, -1, 0, 0, 0, 1, 1
    d = [0, 1, -1, 0, 0, 0, 1, 1]
    mean = sum(d) / 8
    variance = sum((x - mean) ** 2 for x in d) / 8
    assert noise.paired_se(a, b) == pytest.approx(math.sqrt(variance / 8))
    assert noise.paired_se(a, b) == pytest.approx(math.sqrt((4 / 8 - (2 / 8) ** 2) / 8))
    # these two are right on uncorrelated examples (covariance 0): pairing then gives what two
    # independent binomial SEs give; it gives less the more the two agree
    assert noise.paired_se(a, b) == pytest.approx(math.hypot(a_se, b_se))


def test_the_paired_standard_error_of_other_metrics_is_a_paired_bootstrap():
    rng = random.Random(3)
    labels = [rng.randrange(2) for _ in range(150)]
    a_predicted = [y if rng.random() < 0.85 else 1 - y for y in labels]
    b_predicted = [p if rng.random() < 0.9 else 1 - p for p in a_predicted]
    a_se, a_values = reference.heldout_noise("matthews", labels, a_predicted)
    _, b_values = reference.heldout_noise("matthews", labels, b_predicted)
    assert a_se == standard_error("matthews", labels, a_predicted)
    # the same resamples for both, written out: the spread of the metric's difference on them
    draws = np.random.default_rng(reference.BOOTSTRAP_SEED).integers(0, 150, size=(200, 150))
    differences = []
    for drawn in draws:
        truth = [labels[i] for i in drawn]
        differences.append(
            metrics.compute("matthews", truth, [a_predicted[i] for i in drawn])
            - metrics.compute("matthews", truth, [b_predicted[i] for i in drawn])
        )
    a, b = Examples(a_values, bootstrap=True), Examples(b_values, bootstrap=True)
    assert noise.paired_se(a, b) == pytest.approx(statistics.stdev(differences))
    assert noise.paired_se(a, b) < math.hypot(a_se, statistics.stdev(b_values))  # pairing pays
    assert noise.paired_se(a, Examples(a_values[:-1], bootstrap=True)) is None  # not paired


def test_with_seeds_the_paired_standard_error_adds_the_seed_spread_in_quadrature():
    a_examples = Examples((1.0, 1.0, 0.5, 0.0))  # two seeds: the mean correctness per example
    b_examples = Examples((1.0, 0.5, 0.5, 0.0))
    held = math.sqrt(statistics.pvariance([0.0, 0.5, 0.0, 0.0]) / 4)
    a = Estimate(0.625, 0.05, None, 2, 0.2, a_examples)  # std 0.05 * sqrt(2) over 2 seeds
    b = Estimate(0.5, 0.03, None, 2, 0.2, b_examples)
    assert noise.seed_se(a, b) == pytest.approx(math.sqrt(0.05**2 + 0.03**2))
    assert noise.paired(a, b) == pytest.approx(math.sqrt(held**2 + 0.05**2 + 0.03**2))
    one = Estimate(0.5, 0.0, None, 1, 0.2, b_examples)  # one seed: it borrows a's spread
    assert noise.seed_se(a, one) == pytest.approx(math.sqrt(0.05**2 + 0.05**2 * 2))
    assert noise.paired(a, Estimate(0.5, 0.03, None, 2, 0.2, None)) is None
    assert noise.lead_noise(a, Estimate(0.5, 0.03, None, 2, 0.2, None)) == 0.2  # the old rule


def test_score_rows_keep_per_example_outputs_and_rows_without_them_stay_readable():
    row = {"value": 0.5, "metric": "accuracy", "train_seconds": 1.0, "eval_seconds": 0.1,
           "n_train": 10, "n_eval": 9, "loss": 0.4, "se": 0.1}  # fmt: skip
    assert readable("score", row) and Score.from_record(row).per_example() is None
    bits = pack([True, False] * 4 + [True])
    assert readable("score", {**row, "examples": bits})
    assert Score.from_record({**row, "examples": bits}).per_example() == Examples(
        (1.0, 0.0) * 4 + (1.0,)
    )
    assert readable("score", {**row, "metric": "f1", "examples": [0.5, 0.6]})
    assert not readable("score", {**row, "examples": pack([True] * 17)})  # not 9 examples
    assert not readable("score", {**row, "examples": "not base64!"})
    assert not readable("score", {**row, "examples": [0.5, "x"]})
    again = Score.from_record({**row, "metric": "f1", "examples": [0.5, 0.6]})
    assert again.examples == (0.5, 0.6) and again.to_record()["examples"] == (0.5, 0.6)


def test_a_lead_is_set_against_its_paired_noise_and_both_numbers_are_kept():
    paired = step(1, [3], candidate([3], 0.80, se=0.04), candidate([2], 0.78, se=0.04))
    paired["paired_noise"] = 0.014
    old = step(2, [2, 3], candidate([2, 3], 0.80, se=0.04), candidate([1, 3], 0.78, se=0.04))
    old["paired_noise"] = None  # cached before per-example outputs were kept
    judged = judge(record(paired, old), Noise(CONSTANT, se=0.04))
    first, second = judged["steps"]
    assert (first["noise"], first["paired_noise"], first["noise_rule"]) == (0.04, 0.014, "paired")
    assert first["lead_inside_noise"] is False
    assert (second["noise"], second["paired_noise"], second["noise_rule"]) == (
        0.04, None, "unpaired"
    )  # fmt: skip
    assert second["lead_inside_noise"] is True
    lines = [line for line in reference.closing_lines(judged) if "paired" in line]
    assert len(lines) == 1 and "the lead of 1 step was set against one candidate's" in lines[0]


def test_a_raced_step_is_the_tie_rules_when_it_reached_the_cap():
    capped = step(1, [3], candidate([3], 0.80), candidate([2], 0.79))
    decided = step(2, [2, 3], candidate([2, 3], 0.80), candidate([1, 3], 0.70))
    capped["race"], decided["race"] = "cap", "lead"
    capped["candidates"][0]["seeds"] = {"0": 0.8, "1": 0.8, "2": 0.8}  # its own count of seeds
    judged = judge(record(capped, decided), Noise(CONSTANT, se=0.04))
    assert judged["tie_rule_steps"] == [1]
