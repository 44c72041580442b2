"""torch.compile of the fine-tune step and the eval forward (bench/gpu_step.py --compile): off by
default; compiled, a candidate scores as the eager evaluator scores it, and the next candidate
(a new model of the same shape) reuses the compiled code.

The backend is aot_eager: it traces forward and backward through Dynamo and AOTAutograd (the
part glpsearch wires up) and runs the traced ATen ops eagerly, so every op, dropout's random
draws included, is the one eager runs in the same order: scores agree exactly. Inductor (the
GPU bench's backend) took over 3 minutes to compile the tiny model on this 2-core machine and
fuses kernels that draw dropout masks from another random stream (a compiled fine-tune is
another random run there), so it is measured on the GPU, not asserted here.
"""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from glpsearch.config import DataSpec, DistillSettings, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.model.evaluator import Evaluator

# five epochs: the tiny model learns the task (0.89 held-out), so the score says something
SETTINGS = TrainSettings(epochs=5, lr=3e-3, batch_size=8, max_length=32)


@pytest.fixture(scope="module")
def task(task_file):
    return load_task(DataSpec(train=task_file))


@pytest.fixture
def compiled(tiny_model, task):
    torch._dynamo.reset()
    counters.clear()
    evaluator = Evaluator(str(tiny_model), task, SETTINGS)
    evaluator.compile_options = {"backend": "aot_eager"}
    yield evaluator
    torch._dynamo.reset()


def test_compile_is_off_by_default(tiny_model, task):
    assert Evaluator(str(tiny_model), task, SETTINGS).compile_options is None


def test_a_compiled_fine_tune_scores_as_the_eager_one(tiny_model, task, compiled):
    eager = Evaluator(str(tiny_model), task, SETTINGS)
    first = compiled.score({1}, seed=0)
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0  # the compiled path ran
    second = compiled.score({2}, seed=0)
    assert counters["stats"]["unique_graphs"] == graphs  # the next candidate compiled nothing
    for removed, score in (({1}, first), ({2}, second)):
        expected = eager.score(removed, seed=0)
        assert (score.value, score.loss) == (expected.value, expected.loss)
    assert first.value > 0.6  # a trained model, not the constant predictor


def test_a_distilled_fine_tune_is_compiled_too_and_scores_as_the_eager_one(
    tiny_model, task, compiled, tmp_path
):
    """Distillation's loss runs the student, and with hidden matching its teacher, through the
    evaluator's forward: compiled, a distilled candidate scores exactly as the eager one."""
    hidden = DistillSettings(alpha=0.5, temperature=2.0, hidden=True)
    eager = Evaluator(str(tiny_model), task, SETTINGS, distill=hidden, teachers=tmp_path)
    expected = eager.score({1}, seed=0)  # fine-tunes the teacher, eagerly, into its file
    student = Evaluator(str(tiny_model), task, SETTINGS, distill=hidden, teachers=tmp_path)
    student.compile_options = compiled.compile_options
    student.train({1}, seed=0)  # the teacher is read from its file: only the student trains
    assert counters["stats"]["unique_graphs"] > 0  # the student's fine-tune ran compiled
    score = student.score({1}, seed=0)
    assert (score.value, score.loss) == (expected.value, expected.loss)
