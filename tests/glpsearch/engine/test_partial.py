"""Partial fine-tunes: checkpoints that continue exactly, and a halving search that resumes them.

Tiny real models, because what matters is that a stopped and continued fine-tune is the same
fine-tune: weights, optimizer, schedule, data order and dropout all pick up where they were.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from glpsearch.cli import main
from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.engine.core import Engine
from glpsearch.model.evaluator import Evaluator
from glpsearch.scoring.plan import FULL, Plan
from glpsearch.store import Key, Store
from glpsearch.strategies import StrategyOptions, make

# 102 training examples in batches of 8: 13 steps an epoch, 26 in all. A quarter stops mid-epoch
# (step 6), a half exactly at the epoch's end (step 13): both ways of stopping are continued.
SETTINGS = TrainSettings(epochs=2, lr=3e-3, batch_size=8, max_length=32)


@pytest.fixture(scope="module")
def evaluator(tiny_model, task_file):
    return Evaluator(str(tiny_model), load_task(DataSpec(train=task_file)), SETTINGS)


def _steps(trace: list[int]):
    return lambda step, total: trace.append(step)


def test_a_stopped_and_continued_fine_tune_is_the_same_fine_tune(evaluator, tmp_path):
    quarter, half = str(tmp_path / "quarter.ckpt"), str(tmp_path / "half.ckpt")
    straight = evaluator.train({1}, 0)
    first, second, third = [], [], []
    evaluator.train({1}, 0, _steps(first), Plan(0.25, save=quarter))
    evaluator.train({1}, 0, _steps(second), Plan(0.5, resume=quarter, save=half))
    continued = evaluator.train({1}, 0, _steps(third), Plan(resume=half))
    assert (first, second, third) == (list(range(1, 7)), list(range(7, 14)), list(range(14, 27)))
    expected, got = straight.state_dict(), continued.state_dict()
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    assert evaluator.score({1}, 0, plan=Plan(resume=quarter)).value == evaluator.score({1}, 0).value


def test_a_partial_fine_tune_scores_and_leaves_only_finished_checkpoints(evaluator, tmp_path):
    score = evaluator.score({2}, 0, plan=Plan(0.25, save=str(tmp_path / "q.ckpt")))
    assert 0.0 <= score.value <= 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["q.ckpt"]  # no temporary file is left


def test_a_vanished_checkpoint_means_starting_over(evaluator, tmp_path):
    trace: list[int] = []
    score = evaluator.score({2}, 0, _steps(trace), Plan(resume=str(tmp_path / "gone.ckpt")))
    assert trace == list(range(1, 27))
    assert score.value == evaluator.score({2}, 0).value


@pytest.mark.parametrize("damage", ["truncated", "empty", "not a checkpoint"])
def test_a_damaged_checkpoint_is_deleted_and_the_fine_tune_starts_over(evaluator, tmp_path, damage):
    checkpoint = tmp_path / "q.ckpt"
    evaluator.score({2}, 0, plan=Plan(0.25, save=str(checkpoint)))
    data = checkpoint.read_bytes()
    if damage == "truncated":  # what a full disk or a killed copy leaves
        checkpoint.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    else:
        torch.save({"weights": torch.ones(2)}, checkpoint)
    trace: list[int] = []
    score = evaluator.score({2}, 0, _steps(trace), Plan(resume=str(checkpoint)))
    assert trace == list(range(1, 27))  # started over: the file's fault is not the candidate's
    assert score.value == evaluator.score({2}, 0).value
    assert not checkpoint.exists()


class Interrupting:
    """The real evaluator, counting the steps each fine-tune trains; raises KeyboardInterrupt
    (as Ctrl-C would) instead of the fine-tune numbered `interrupt_at`."""

    def __init__(self, evaluator: Evaluator, interrupt_at: int | None = None) -> None:
        self.evaluator = evaluator
        self.fingerprint, self.n_layers = evaluator.fingerprint, evaluator.n_layers
        self.interrupt_at = interrupt_at
        self.trained: list[tuple[frozenset[int], float, list[int]]] = []

    def describe(self) -> dict:
        return self.evaluator.describe()

    def score(self, removed, seed, progress=None, plan=FULL):
        if len(self.trained) + 1 == self.interrupt_at:
            raise KeyboardInterrupt
        steps: list[int] = []
        self.trained.append((frozenset(removed), plan.budget, steps))
        return self.evaluator.score(removed, seed, _steps(steps), plan)


def _halving(scorer, folder):
    with Store(folder) as store:
        engine = Engine(scorer, store)
        return engine, engine.run(make("greedy-halving", StrategyOptions()), 1)[1]


def test_a_killed_halving_search_continues_its_partial_fine_tunes(evaluator, tmp_path):
    reference = Interrupting(evaluator)
    _, expected = _halving(reference, tmp_path / "reference")
    # the unpruned model, 4 candidates at 1/4, the best 2 at 1/2, the best 1 at full budget
    assert [(len(steps), budget) for _, budget, steps in reference.trained] == [
        (26, 1.0), *[(6, 0.25)] * 4, *[(7, 0.5)] * 2, (13, 1.0)
    ]  # fmt: skip

    cache = tmp_path / "cache"
    killed = Interrupting(evaluator, interrupt_at=7)  # after the first candidate at 1/2
    with pytest.raises(KeyboardInterrupt):
        _halving(killed, cache)
    resumed = Interrupting(evaluator)
    engine, result = _halving(resumed, cache)
    assert [(len(steps), budget) for _, budget, steps in resumed.trained] == [(7, 0.5), (13, 1.0)]
    assert resumed.trained[0][2][0] == 7  # it began where the quarter's checkpoint stopped
    assert result.steps == expected.steps
    assert engine.counts == {"computed": 2, "cached": 6, "failed": 0}

    with Store(cache) as store:  # the finalist's full score is an ordinary, greedy one
        chosen, candidates = result.steps[0].chosen, result.steps[0].candidates
        assert store.get("score", Key(evaluator.fingerprint, 0, chosen)) is not None
        assert store.checkpoints(Key(evaluator.fingerprint, 0, chosen)) == {}  # no longer needed
        kept = [list(store.checkpoints(Key(evaluator.fingerprint, 0, c))) for c, _ in candidates]
    assert sorted(kept) == [[], [0.25], [0.25], [0.5]]  # the longest of each loser, only


# -- the engine's budget jobs, against a scripted scorer ----------------------------------------
class Partial:
    """Scores a set by a fixed rule, lower the shorter the fine-tune; writes a stand-in file at
    `save` and records what each call continued."""

    fingerprint = "p" * 20
    n_layers = 6

    def __init__(self) -> None:
        self.calls: list[tuple[frozenset[int], float, str | None]] = []

    def describe(self) -> dict:
        return {"model": "scripted"}

    def score(self, removed, seed, progress=None, plan=FULL):
        from glpsearch.scoring.score import Score

        removed, budget, resume = frozenset(removed), plan.budget, plan.resume
        self.calls.append((removed, budget, resume and resume.rsplit("/", 1)[1]))
        if plan.save is not None:
            with open(plan.save, "w") as handle:
                handle.write("checkpoint")
        return Score(0.5 + 0.01 * sum(removed) - 0.1 * (1 - budget), "accuracy", 0, 0, 1, 1)


def test_partial_jobs_are_keyed_apart_and_continue_the_longest_shorter_checkpoint(store):
    scorer = Partial()
    engine = Engine(scorer, store)
    assert engine.evaluate([frozenset({1})], budget=0.25) == [pytest.approx(0.435)]
    engine.evaluate([frozenset({1})], budget=0.5)
    assert list(store.checkpoints(Key(scorer.fingerprint, 0, {1}))) == [0.5]  # the 1/4 one is spent
    assert engine.outcomes[frozenset({1})].budget == 0.5  # the furthest this run got
    assert engine.evaluate([frozenset({1})]) == [pytest.approx(0.51)]
    assert scorer.calls == [
        (frozenset({1}), 0.25, None),
        (frozenset({1}), 0.5, "0.25.ckpt"),
        (frozenset({1}), 1.0, "0.5.ckpt"),
    ]
    assert store.checkpoints(Key(scorer.fingerprint, 0, {1})) == {}  # the full result needs none
    assert store.get("score", Key(scorer.fingerprint, 0, {1}, 0.25))["value"] == 0.435
    assert engine.counts == {"computed": 3, "cached": 0, "failed": 0}


def test_halving_and_greedy_share_full_fine_tunes(store):
    Engine(Partial(), store).run(make("greedy-halving"), 1)
    greedy = Partial()
    _, result = Engine(greedy, store).run(make("greedy"), 1)
    assert result.steps[0].chosen == frozenset({5})
    assert frozenset({5}) not in [removed for removed, _, _ in greedy.calls]  # halving's pick
    assert len(greedy.calls) == 5  # the other candidates, never fully trained by halving


def test_checkpoints_beyond_the_space_given_are_trimmed_as_they_are_written(store):
    scorer = Partial()  # each checkpoint it writes is 10 bytes
    engine = Engine(scorer, store, checkpoint_space=25)
    engine.evaluate([frozenset({layer}) for layer in range(4)], budget=0.25)
    engine.evaluate([frozenset({1, 2}), frozenset({1, 3})], budget=0.25)
    sets = [{0}, {1}, {2}, {3}, {1, 2}, {1, 3}]
    kept = [layers for layers in sets if store.checkpoints(Key(scorer.fingerprint, 0, layers))]
    assert kept == [{1, 2}, {1, 3}]  # the step under way keeps its checkpoints
    assert engine.evaluate([frozenset({1, 2})], budget=0.5)  # and goes on from them
    assert scorer.calls[-1] == (frozenset({1, 2}), 0.5, "0.25.ckpt")


def test_budgets_must_be_fractions(store):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        Engine(Partial(), store).evaluate([frozenset({1})], budget=1.5)


# -- the command line -----------------------------------------------------------------------------
def _cli(model, data, folder, *extra: str) -> list[str]:
    return [
        "search", "--model", str(model), "--train", str(data), "--cache", str(folder / "cache"),
        "--out", str(folder / "out"), "--quiet", "--force", "--epochs", "2", "--lr", "3e-3",
        "--batch-size", "8", "--max-length", "32", "--strategy", "greedy-halving", *extra,
    ]  # fmt: skip


def test_the_cli_runs_greedy_halving_and_records_each_candidates_budget(
    tiny_model, task_file, tmp_path, capsys
):
    assert main(_cli(tiny_model, task_file, tmp_path, "--remove", "1", "--min-budget", "0.25")) == 0
    record = json.loads((tmp_path / "out" / "search.json").read_text())
    step = record["steps"][0]
    assert sorted(c["budget"] for c in step["candidates"]) == [0.25, 0.25, 0.5, 1.0]
    assert record["min_budget"] == 0.25 and all(c["loss"] > 0 for c in step["candidates"])
    (finalist,) = [c for c in step["candidates"] if c["budget"] == 1.0]
    assert step["chosen"] == finalist["removed"] and step["score"] == finalist["score"]
    assert record["evaluations"] == {"computed": 8, "cached": 0, "failed": 0}
    capsys.readouterr()
    assert main(["status", "--cache", str(tmp_path / "cache")]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert re.search(r"checkpoints of unfinished greedy-halving fine-tunes: \d+\.\d MB", shown)


@pytest.mark.parametrize(("epochs", "shortest"), [("2", 1.0), ("8", 0.5)])
def test_by_default_the_shortest_fine_tune_has_enough_steps_to_rank_candidates(
    epochs, shortest, tiny_model, task_file, tmp_path, capsys
):
    """13 batches an epoch: 26 steps in all leave no rung of 50 (halving is greedy then), 104
    steps make the half-budget rung the shortest."""
    command = [a for a in _cli(tiny_model, task_file, tmp_path, "--remove", "1") if a != "--quiet"]
    command[command.index("--epochs") + 1] = epochs
    assert main(command) == 0
    record = json.loads((tmp_path / "out" / "search.json").read_text())
    assert record["min_budget"] == shortest
    assert min(c["budget"] for c in record["steps"][0]["candidates"]) == shortest
    steps = 13 * int(epochs)
    note = f"greedy-halving: shortest fine-tune {shortest:g} of {steps} steps"
    assert note in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--min-budget", "2"], "minimum budget"),
        (["--min-budget", "0"], "> 0"),
        (["--eta", "1"], ">= 2"),
    ],
)
def test_bad_halving_options_give_one_line_and_exit_2(
    extra, expected, tiny_model, task_file, tmp_path, capsys
):
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main(_cli(tiny_model, task_file, tmp_path, *extra)))
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
