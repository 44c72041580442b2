"""The fine-tune loop's public pieces (glpsearch/model/training.py) on a model of a few hundred
weights with dropout, so the random stream matters as in a real one: a stopped and continued
`Training` is the same fine-tune, objectives run the model only through the forward they are
handed, checkpoints are written whole and read by one policy (missing: none; damaged or of
another shape: deleted)."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from glpsearch.config import TrainSettings
from glpsearch.errors import UserError
from glpsearch.model import training
from glpsearch.scoring.plan import FULL, Plan
from glpsearch.scoring.score import CandidateFailed

# 22 examples in batches of 4: 6 steps an epoch, 12 in all; a quarter stops mid-epoch (step 3),
# a half at the epoch's end (step 6)
SETTINGS = TrainSettings(epochs=2, lr=1e-2, batch_size=4)
FEATURES = [
    {"input_ids": [1 + (i * j) % 9 for j in range(1 + i % 5)], "labels": i % 2} for i in range(22)
]
CPU = torch.device("cpu")


class Tiny(torch.nn.Module):
    """A bag-of-tokens classifier; its output carries the task loss, as a transformers one."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed = torch.nn.EmbeddingBag(10, 8)
        self.drop = torch.nn.Dropout(0.3)
        self.head = torch.nn.Linear(8, 2)

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor) -> types.SimpleNamespace:
        logits = self.head(self.drop(self.embed(input_ids)))
        return types.SimpleNamespace(logits=logits, loss=F.cross_entropy(logits, labels))


def collate(features: list[dict]) -> dict[str, torch.Tensor]:
    longest = max(len(f["input_ids"]) for f in features)
    ids = [f["input_ids"] + [0] * (longest - len(f["input_ids"])) for f in features]
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor([f["labels"] for f in features])}


def eager(model: torch.nn.Module, inputs: dict) -> object:
    return model(**inputs)


def fine_tune(
    plan: Plan = FULL, objective: training.Objective | None = None, forward=eager
) -> tuple[Tiny, list[int]]:
    objective = objective or training.TaskLoss()
    model, steps = Tiny(), []
    loop = training.Training.start(model, objective.features(FEATURES), SETTINGS, 0, collate, CPU)
    loop.run(plan, lambda m, b: objective.loss(forward, m, b), lambda s, t: steps.append(s))
    return model, steps


def test_a_stopped_and_continued_training_is_the_same_fine_tune(tmp_path):
    quarter, half = str(tmp_path / "quarter.ckpt"), str(tmp_path / "half.ckpt")
    straight, _ = fine_tune()
    _, first = fine_tune(Plan(0.25, save=quarter))
    _, second = fine_tune(Plan(0.5, resume=quarter, save=half))
    continued, third = fine_tune(Plan(resume=half))
    assert (first, second, third) == (list(range(1, 4)), list(range(4, 7)), list(range(7, 13)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half.ckpt", "quarter.ckpt"]
    expected, got = straight.state_dict(), continued.state_dict()
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    assert not torch.equal(expected["head.weight"], Tiny().state_dict()["head.weight"])


def test_the_task_loss_runs_the_model_through_the_forward_it_is_handed():
    calls: list[str] = []

    def counted(model, inputs):
        calls.append(type(model).__name__)
        return model(**inputs)

    assert training.TaskLoss().features(FEATURES) is FEATURES  # trains on them as they are
    _, steps = fine_tune(forward=counted)
    assert calls == ["Tiny"] * len(steps) == ["Tiny"] * 12


def test_an_objective_chooses_its_examples_and_its_loss():
    class FirstHalf(training.Objective):
        """The task loss on the first 11 examples, doubled."""

        def features(self, train):
            return train[:11]

        def loss(self, forward, model, batch):
            return 2 * forward(model, batch).loss

    _, steps = fine_tune(objective=FirstHalf())
    assert steps == list(range(1, 7))  # 11 examples in batches of 4, two epochs


def test_a_loss_gone_nan_fails_the_candidate_by_the_last_step():
    class Diverged(training.Objective):
        def loss(self, forward, model, batch):
            return forward(model, batch).loss * float("nan")

    with pytest.raises(CandidateFailed, match="nan or inf by step 12"):
        fine_tune(objective=Diverged())


# -- checkpoints: one writer, one reader with one policy ---------------------------------------
def fits(state: dict) -> bool:
    return "weights" in state


def test_a_checkpoint_that_fits_is_read_back(tmp_path):
    path = tmp_path / "a.ckpt"
    training.save_checkpoint(path, {"weights": torch.ones(3), "step": 2})
    state = training.load_checkpoint(path, fits)
    assert state is not None and state["step"] == 2 and torch.equal(state["weights"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"]  # no temporary file is left


def test_a_missing_checkpoint_is_none(tmp_path):
    assert training.load_checkpoint(tmp_path / "gone.ckpt", fits) is None


@pytest.mark.parametrize("damage", ["truncated", "empty", "another shape", "not a dict"])
def test_a_damaged_checkpoint_is_deleted_and_none(tmp_path, damage):
    path = tmp_path / "a.ckpt"
    training.save_checkpoint(path, {"weights": torch.ones(100)})
    if damage == "truncated":  # what a full disk or a killed copy leaves
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "another shape":
        training.save_checkpoint(path, {"model": torch.ones(2)})
    else:
        training.save_checkpoint(path, [torch.ones(2)])
    assert training.load_checkpoint(path, fits) is None
    assert not path.exists()


def test_a_failed_write_keeps_the_old_checkpoint_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a.ckpt"
    training.save_checkpoint(path, {"weights": torch.ones(3)})
    with pytest.raises(AttributeError):  # torch.save cannot pickle a local function
        training.save_checkpoint(path, {"weights": torch.zeros(3), "bad": lambda: 0})
    state = training.load_checkpoint(path, fits)
    assert state is not None and torch.equal(state["weights"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"]


def test_a_checkpoint_that_cannot_be_written_is_the_environments_oserror(tmp_path):
    """Not a UserError (as an out-folder file's is): the engine reports the candidate whose
    fine-tune it stopped and caches nothing (glpsearch/scoring/failures.py)."""
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(OSError) as raised:
        training.save_checkpoint(tmp_path / "file" / "a.ckpt", {"weights": torch.ones(3)})
    assert not isinstance(raised.value, UserError)


# -- random state and parameter groups -----------------------------------------------------------
def test_a_random_state_set_back_draws_the_same_masks():
    state = training.get_rng(CPU)
    first = torch.rand(5)
    training.set_rng(state, CPU)
    assert torch.equal(torch.rand(5), first)


def test_biases_and_norm_weights_get_no_weight_decay():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    decayed, plain = training.param_groups(model, 0.01)
    assert (decayed["weight_decay"], plain["weight_decay"]) == (0.01, 0.0)
    assert [p.shape for p in decayed["params"]] == [(3, 4)]
    assert [p.shape for p in plain["params"]] == [(3,), (3,), (3,)]
