"""`glpsearch export` on the tiny model: a checkpoint that plain transformers loads in a fresh
process and that computes what the pruned model inside glpsearch computes; fine-tuning; the
model card; bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from glpsearch.cli import main
from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.model.evaluator import Evaluator
from glpsearch.ship.exporting import ExportPlan, export
from glpsearch.ship.exporting import card as model_card

TEXTS = ["the film was great", "a dull and boring plot , really", "superb"]
# Runs in a fresh interpreter where importing glpsearch fails, as on a machine without it.
RELOAD = """
import json, sys
sys.modules["glpsearch"] = None
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

folder, texts = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
tokenizer = AutoTokenizer.from_pretrained(folder)
batch = tokenizer(texts, padding=True, return_tensors="pt")
with torch.inference_mode():
    logits = model(**batch).logits
print(json.dumps({
    "layers": model.config.num_hidden_layers,
    "parameters": sum(p.numel() for p in model.parameters()),
    "id2label": model.config.id2label,
    "input_ids": batch["input_ids"].tolist(),
    "logits": logits.tolist(),
}))
"""


def export_args(out: Path, *extra: str) -> list[str]:
    return ["export", "--out", str(out), "--quiet", "--device", "cpu", *extra]


def in_glpsearch(folder: Path, tiny_model: Path, task_file: Path) -> Evaluator:
    """The evaluator of the search in `folder`, for the pruned model as glpsearch builds it."""
    settings = json.loads((folder / "search.json").read_text())["settings"]
    task = load_task(DataSpec(train=task_file))
    return Evaluator(str(tiny_model), task, TrainSettings(**settings))


def order(folder: Path) -> list[int]:
    return json.loads((folder / "search.json").read_text())["order"]


@pytest.fixture(scope="module")
def exported(search_out, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exported") / "model"
    assert main(export_args(out, "--from", str(search_out), "--layers-removed", "2")) == 0
    return out


def test_plain_transformers_in_a_fresh_process_computes_what_glpsearch_does(
    exported, search_out, tiny_model, task_file
):
    ran = subprocess.run(
        [sys.executable, "-c", RELOAD, str(exported), json.dumps(TEXTS)],
        capture_output=True,
        text=True,
        check=True,
    )
    reloaded = json.loads(ran.stdout.strip().splitlines()[-1])

    evaluator = in_glpsearch(search_out, tiny_model, task_file)
    pruned = evaluator.build(order(search_out)[:2], seed=0).eval()
    batch = evaluator.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = pruned(**batch).logits
    assert reloaded["input_ids"] == batch["input_ids"].tolist()
    assert reloaded["layers"] == 2 == pruned.config.num_hidden_layers
    assert reloaded["parameters"] == sum(p.numel() for p in pruned.parameters())
    assert reloaded["parameters"] < sum(p.numel() for p in evaluator.build((), 0).parameters())
    assert reloaded["id2label"] == {"0": "neg", "1": "pos"}
    torch.testing.assert_close(torch.tensor(reloaded["logits"]), expected, rtol=0, atol=1e-6)


def test_the_folder_is_a_standard_checkpoint_of_the_kept_layers_only(exported, timed_out):
    names = {path.name for path in exported.iterdir()}
    assert {"config.json", "model.safetensors", "README.md", "glpsearch.json"} <= names
    assert "tokenizer_config.json" in names and not any(n.startswith(".") for n in names)
    config = json.loads((exported / "config.json").read_text())
    assert config["num_hidden_layers"] == 2
    assert config["label2id"] == {"neg": 0, "pos": 1}
    layers = {
        key.split(".")[3] for key in load_file(exported / "model.safetensors") if ".layer." in key
    }
    assert layers == {"0", "1"}
    measured = json.loads((timed_out / "speed.json").read_text())["models"][2]  # 2 removed
    assert (exported / "model.safetensors").stat().st_size == measured["file_bytes"]


def test_finetune_trains_on_all_training_data_and_reloads(
    search_out, tiny_model, task_file, tmp_path
):
    out = tmp_path / "tuned"
    args = export_args(out, "--from", str(search_out), "--layers-removed", "1", "--finetune",
                       "--validation", str(task_file))  # fmt: skip
    assert main(args) == 0
    evaluator = in_glpsearch(search_out, tiny_model, task_file)
    untrained = evaluator.build(order(search_out)[:1], seed=0).state_dict()
    tuned = load_file(out / "model.safetensors")
    changed = [key for key, value in tuned.items() if not torch.equal(value, untrained[key])]
    assert any(".layer." in key for key in changed) and any("classifier" in k for k in changed)
    reloaded = AutoModelForSequenceClassification.from_pretrained(out)
    assert reloaded.config.num_hidden_layers == 3
    facts = json.loads((out / "glpsearch.json").read_text())
    assert facts["finetuned"]["examples"] == 120  # the search's 102 + its 18 held-out
    assert facts["finetuned"]["settings"]["lr"] == 3e-3  # the search's settings by default
    assert (
        "yes, on all 120 training examples (seed 0, 1 epoch, lr 0.003)"
        in (out / "README.md").read_text()
    )


def evaluated(timed_out: Path, tmp_path: Path) -> Path:
    """A copy of the timed search with an evaluate.json: dev means 0.9 unpruned, 0.85 at -1."""
    folder = tmp_path / "folder"
    shutil.copytree(timed_out, folder)
    order = json.loads((folder / "search.json").read_text())["order"]
    results = [
        {"strategy": "greedy", "depth": depth, "removed": order[:depth],
         "scores": [mean - 0.01, mean + 0.01], "mean": mean, "std": 0.0141, "failures": []}
        for depth, mean in ((0, 0.9), (1, 0.85))
    ]  # fmt: skip
    (folder / "evaluate.json").write_text(
        json.dumps({"command": "evaluate", "seeds": [0, 1], "results": results})
    )
    return folder


def test_the_card_has_the_searchs_scores_dev_scores_and_speed(timed_out, tmp_path):
    folder = evaluated(timed_out, tmp_path)
    search = json.loads((folder / "search.json").read_text())
    first, second = search["order"]
    out = tmp_path / "model"
    assert main(export_args(out, "--from", str(folder), "--layers-removed", "1")) == 0
    card = (out / "README.md").read_text()
    facts = json.loads((out / "glpsearch.json").read_text())

    assert facts["layers"] == {"base": 4, "removed": [first], "kept": 3}
    assert f"| removed layers, in removal order | {first} (chosen by greedy in " in card
    assert "| kept layers | 3 |" in card and "| task | sentiment (labels: neg, pos) |" in card
    heldout = search["steps"][0]["score"]
    assert facts["scores"]["heldout"] == {
        "pruned": heldout,
        "unpruned": search["baseline"]["score"],
    }
    assert f"| pruned (-1 layers) | {heldout:.4f} | 0.8500 ± 0.0141 (2 seeds) |" in card
    assert f"| unpruned | {search['baseline']['score']:.4f} | 0.9000 ± 0.0141 (2 seeds) |" in card
    measured = json.loads((folder / "speed.json").read_text())["models"]
    assert facts["speed"]["from"] == str(folder / "speed.json")
    assert facts["speed"]["parameters"] == {
        "pruned": measured[1]["parameters"], "unpruned": measured[0]["parameters"]
    }  # fmt: skip
    for timing, unpruned in zip(measured[1]["timings"], measured[0]["timings"], strict=True):
        assert (
            f"| cpu | {timing['batch_size']} | {timing['latency_ms']:.2f} | "
            f"{unpruned['latency_ms']:.2f} | {timing['speedup']:.2f}x |" in card
        )
    assert "the classification head is untrained" in card
    assert f'from_pretrained("{out}")' in card
    assert second not in facts["layers"]["removed"]


def test_the_card_parses_with_model_card_load_and_carries_the_scores_for_the_hub(
    timed_out, tmp_path
):
    folder = evaluated(timed_out, tmp_path)
    out = tmp_path / "minilm-3"
    assert main(export_args(out, "--from", str(folder), "--layers-removed", "1")) == 0
    card = ModelCard.load(out / "README.md")
    data = card.data.to_dict()
    heldout = json.loads((folder / "search.json").read_text())["steps"][0]["score"]

    assert data["pipeline_tag"] == "text-classification" and data["library_name"] == "transformers"
    assert {"pruning", "layer-pruning", "glpsearch"} <= set(data["tags"])
    # a local folder whose config names no hub origin, a local task file: nothing to link to
    assert "base_model" not in data and "datasets" not in data and "license" not in data
    # untrained: the Hub would show the fine-tuned set's scores as this checkpoint's own
    assert "model-index" not in data and card.data.eval_results is None
    facts = json.loads((out / "glpsearch.json").read_text())
    facts["finetuned"] = {"examples": 120, "seed": 0, "settings": {"epochs": 1, "lr": 3e-3}}
    card = ModelCard(model_card(facts, out))
    assert card.data.to_dict()["model-index"][0]["name"] == "minilm-3"
    results = [
        (r.task_type, r.dataset_type, r.dataset_split, r.metric_type, r.metric_value)
        for r in card.data.eval_results
    ]
    assert results == [
        ("text-classification", "sentiment", "train", "accuracy", heldout),
        ("text-classification", "sentiment", None, "accuracy", 0.85),
    ]
    assert "mean over 2 fine-tuning seeds" in card.data.eval_results[1].metric_name
    assert "| kept layers | 3 |" in card.text and f'from_pretrained("{out}")' in card.text
    assert "## Scores" in card.text and "## Speed" in card.text  # the body for people stays


def test_the_card_links_the_base_model_and_carries_its_license(tiny_model, task_file, tmp_path):
    base = tmp_path / "bert-tiny"
    shutil.copytree(tiny_model, base)
    config = json.loads((base / "config.json").read_text())
    config["_name_or_path"] = "google/bert_uncased_L-2_H-128_A-2"  # its origin on the hub
    (base / "config.json").write_text(json.dumps(config))
    (base / "README.md").write_text("---\nlicense: apache-2.0\nlanguage: en\n---\n# tiny\n")
    out = tmp_path / "model"
    args = export_args(out, "--model", str(base), "--train", str(task_file), "--remove", "1")
    assert main(args) == 0
    data = ModelCard.load(out / "README.md").data
    assert data.base_model == "google/bert_uncased_L-2_H-128_A-2"
    assert data.license == "apache-2.0"
    assert data.eval_results is None  # no search, no scores
    facts = json.loads((out / "glpsearch.json").read_text())
    assert facts["hub"]["base_model"] == data.base_model


def test_a_glue_task_names_its_hub_dataset_and_split(tiny_model, task_file, tmp_path):
    glue = tmp_path / "SST-2"
    glue.mkdir()
    with task_file.open() as handle:
        rows = [line.strip().split(",") for line in handle][1:]
    for name in ("train.tsv", "dev.tsv"):
        (glue / name).write_text(
            "sentence\tlabel\n" + "".join(f"{t}\t{int(y == 'pos')}\n" for t, y in rows)
        )
    out = tmp_path / "model"
    args = export_args(out, "--model", str(tiny_model), "--task", str(glue), "--remove", "1")
    assert main(args) == 0
    assert ModelCard.load(out / "README.md").data.datasets == ["nyu-mll/glue"]
    facts = json.loads((out / "glpsearch.json").read_text())
    assert facts["hub"]["dataset_config"] == "sst2"
    # with scores (as a search and evaluate would give), they are GLUE SST-2's on the Hub
    facts["finetuned"] = {"examples": 120, "seed": 0, "settings": {"epochs": 1, "lr": 3e-3}}
    facts["scores"] = {
        "heldout": {"pruned": 0.8, "unpruned": 0.82},
        "dev": {"pruned": {"mean": 0.79, "std": 0.01, "scores": [0.78, 0.8]}, "unpruned": None},
    }
    results = ModelCard(model_card(facts, out)).data.eval_results
    found = [(r.dataset_type, r.dataset_config, r.dataset_split, r.metric_value) for r in results]
    assert found == [
        ("nyu-mll/glue", "sst2", "train", 0.8),
        ("nyu-mll/glue", "sst2", "validation", 0.79),
    ]
    assert {r.dataset_name for r in results} == {"GLUE SST-2"}


def test_a_set_given_by_hand_needs_no_search_and_measures_its_speed(
    tiny_model, task_file, tmp_path
):
    out = tmp_path / "model"
    args = export_args(out, "--model", str(tiny_model), "--train", str(task_file),
                       "--remove", "3,0")  # fmt: skip
    assert main(args) == 0
    facts = json.loads((out / "glpsearch.json").read_text())
    assert facts["layers"] == {"base": 4, "removed": [3, 0], "kept": 2}
    assert (facts["strategy"], facts["search"], facts["scores"]) == (
        None, None, {"heldout": None, "dev": None},
    )  # fmt: skip
    speed = facts["speed"]
    assert speed["from"] == "measured at export"
    assert [(t["device"], t["batch_size"]) for t in speed["timings"]] == [("cpu", 1)]
    card = (out / "README.md").read_text()
    assert "| removed layers, in removal order | 3, 0 (given by hand) |" in card
    assert "## Scores" not in card and "measured at export" in card


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "electra"])
def test_every_supported_architecture_exports_and_reloads(tiny_models, task_file, arch, tmp_path):
    task = load_task(DataSpec(train=task_file))
    evaluator = Evaluator(str(tiny_models[arch]), task, TrainSettings(max_length=32))
    export(evaluator, ExportPlan((1, 2)), tmp_path / arch)
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / arch).eval()
    pruned = evaluator.build((1, 2), seed=0).eval()
    batch = evaluator.tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(reloaded(**batch).logits, pruned(**batch).logits)
    assert reloaded.config.num_hidden_layers == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--remove", "0,4"], "there is no layer 4"),
        (["--remove", "1,1"], "names a layer twice"),
        (["--remove", "0,1,2,3"], "cannot remove all 4 layers"),
        (["--layers-removed", "1"], "say which layers to export"),
        ([], "say which layers to export"),
        (["--remove", "1", "--strategy", "greedy"], "--strategy goes with --layers-removed"),
    ],
)
def test_bad_layers_are_one_line_and_exit_2(
    tiny_model, task_file, tmp_path, extra, message, capsys
):
    model = ["--model", str(tiny_model), "--train", str(task_file)]
    assert main(export_args(tmp_path / "out", *model, *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("glpsearch: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layers-removed", "3"], "has a model with 0 to 2 layers removed, not 3"),
        (["--layers-removed", "1", "--strategy", "beam"], "has no strategy 'beam'"),
        (["--layers-removed", "1", "--finetune"], "has no dev set"),
    ],
)
def test_a_record_that_cannot_give_the_model_is_one_line_and_exit_2(
    search_out, tmp_path, extra, message, capsys
):
    assert main(export_args(tmp_path / "out", "--from", str(search_out), *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("glpsearch: error:") and message in err and err.count("\n") == 1


def test_a_folder_holding_other_files_is_never_written_into(search_out, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    args = export_args(tmp_path, "--from", str(search_out), "--layers-removed", "1")
    assert main(args) == 2
    assert "is not an earlier export" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
