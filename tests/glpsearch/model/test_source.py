"""The base model's Hub id, as an export's card links to it: never a local path, never a guess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glpsearch.model.source import EMBEDDED_MODEL, hub_id


def _folder(tmp_path: Path, origin: object) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    config = {"model_type": "bert"} if origin is None else {"_name_or_path": origin}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("model", [None, EMBEDDED_MODEL])
def test_the_embedded_default_is_all_minilm_on_the_hub(model, tmp_path):
    # its config names MiniLM's pre-sentence-transformers origin; the copy is of this repo
    folder = _folder(tmp_path, "nreimers/MiniLM-L6-H384-uncased")
    assert hub_id(model, folder) == "sentence-transformers/all-MiniLM-L6-v2"


def test_a_model_fetched_from_the_hub_is_its_id(tmp_path):
    assert hub_id("google-bert/bert-base-uncased", tmp_path / "snapshot") == (
        "google-bert/bert-base-uncased"
    )


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        ("google/bert_uncased_L-2_H-128_A-2", "google/bert_uncased_L-2_H-128_A-2"),
        ("/home/me/models/bert", None),  # a path it was loaded from
        ("./bert", None),
        ("bert", None),  # a bare name: a folder as often as a legacy hub id
        ("a/b/c", None),
        ("me/bad name", None),  # not a valid repo id
        (7, None),
        (None, None),  # the config names no origin
    ],
)
def test_a_local_folder_is_linked_only_to_a_hub_id_its_config_names(origin, expected, tmp_path):
    folder = _folder(tmp_path, origin)
    assert hub_id(str(folder), folder) == expected


def test_an_origin_that_is_a_folder_here_is_not_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "me" / "bert").mkdir(parents=True)
    folder = _folder(tmp_path, "me/bert")
    assert hub_id(str(folder), folder) is None


def test_an_unreadable_config_links_nothing(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{not json")
    assert hub_id(str(folder), folder) is None
    (folder / "config.json").write_text("[]")
    assert hub_id(str(folder), folder) is None
