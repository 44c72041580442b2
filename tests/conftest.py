"""Shared fixtures: tiny randomly initialised models saved as real Hugging Face folders, and a
small learnable text-classification task. Real code paths, seconds per fine-tune."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest

# Tiny models run fastest on one thread (several only add synchronisation); set before torch
# loads, and inherited by every glpsearch subprocess and worker a test starts.
os.environ.setdefault("OMP_NUM_THREADS", "1")

POSITIVE = ["good", "great", "fine", "superb", "lovely", "brilliant"]
NEGATIVE = ["bad", "awful", "poor", "dull", "boring", "terrible"]
FILLER = ["the", "a", "film", "movie", "story", "plot", "was", "is", "very", "quite", "really"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *POSITIVE, *NEGATIVE, *FILLER]

ARCHITECTURES = ("bert", "roberta", "distilbert", "electra")


def _config(arch: str, layers: int):
    from transformers import BertConfig, DistilBertConfig, ElectraConfig, RobertaConfig

    common = {"vocab_size": len(VOCAB), "max_position_embeddings": 160, "pad_token_id": 0}
    if arch == "distilbert":
        return DistilBertConfig(n_layers=layers, dim=16, n_heads=2, hidden_dim=32, **common)
    sizes = {
        "num_hidden_layers": layers,
        "hidden_size": 16,
        "num_attention_heads": 2,
        "intermediate_size": 32,
        "type_vocab_size": 2,
        **common,
    }
    if arch == "electra":
        return ElectraConfig(embedding_size=16, **sizes)
    return {"bert": BertConfig, "roberta": RobertaConfig}[arch](**sizes)


def make_model(folder: Path, arch: str = "bert", layers: int = 4, seed: int = 0) -> Path:
    """Save a tiny pretrained-looking encoder (no classifier head) with a WordPiece tokenizer."""
    import torch
    from transformers import AutoModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    AutoModel.from_config(_config(arch, layers)).save_pretrained(folder)
    BertTokenizer(vocab={word: i for i, word in enumerate(VOCAB)}).save_pretrained(folder)
    return folder


def write_task(path: Path, rows: int = 120, seed: int = 0, delimiter: str = ",") -> Path:
    """A sentiment task a tiny model can learn in one epoch: the polar word decides."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["text", "label"])
        for i in range(rows):
            positive = i % 2 == 0
            words = [*rng.sample(FILLER, 4), rng.choice(POSITIVE if positive else NEGATIVE)]
            rng.shuffle(words)
            writer.writerow([" ".join(words), "pos" if positive else "neg"])
    return path


RATINGS = {"good": 0.8, "great": 0.9, "fine": 0.6, "bad": 0.2, "awful": 0.1, "dull": 0.3}


def write_regression(path: Path, rows: int = 80, seed: int = 0) -> Path:
    """A regression task on which every candidate scores differently, so orders are decided by
    scores rather than by the tie rule."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(rows):
            word = rng.choice(sorted(RATINGS))
            words = [*rng.sample(FILLER, 4), word]
            rng.shuffle(words)
            writer.writerow([" ".join(words), f"{RATINGS[word] + rng.uniform(-0.1, 0.1):.3f}"])
    return path


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """One torch thread in the test process too, whatever the environment set: bit-identical
    scores in every process, and tiny models train many times faster on a busy machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def store(tmp_path: Path):
    """A fresh, empty store of this test's own."""
    from glpsearch.store import Store

    with Store(tmp_path / "cache") as opened:
        yield opened


@pytest.fixture(scope="session")
def regression_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_regression(tmp_path_factory.mktemp("regression") / "ratings.csv")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model(tmp_path_factory.mktemp("models") / "bert-tiny")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("architectures")
    return {arch: make_model(root / arch, arch) for arch in ARCHITECTURES}


@pytest.fixture(scope="session")
def task_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_task(tmp_path_factory.mktemp("data") / "sentiment.csv")
