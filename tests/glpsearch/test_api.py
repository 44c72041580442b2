"""glpsearch from Python: the README's "From Python" example runs as written on a tiny model, its
results are the CLI's (same cache, same files), and bad input raises GLPSearchError with the
CLI's one line."""

from __future__ import annotations

import ast
import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import glpsearch
from glpsearch import strategies
from glpsearch.cli import main
from glpsearch.strategies import OptionError
from glpsearch.strategies.search import Propose, Strategy

README = Path(__file__).resolve().parents[2] / "README.md"
# 15 held-out examples are too few to show the tiny model learned: the check that stops such
# a search is tested in test_reference.py; here the README's code is under test
TINY = {"epochs": 5, "lr": 3e-3, "batch_size": 8, "max_length": 32, "force": True}


def readme_example() -> str:
    """The first python block of the README's "From Python" section."""
    section = README.read_text().split("\n## From Python\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.fixture(scope="module")
def sst2(task_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny sentiment task as a GLUE SST-2 folder: a train file and a dev set."""
    folder = tmp_path_factory.mktemp("glue") / "SST-2"
    folder.mkdir()
    with task_file.open() as handle:
        rows = [(r["text"], "1" if r["label"] == "pos" else "0") for r in csv.DictReader(handle)]
    for name, part in (("train.tsv", rows[:100]), ("dev.tsv", rows[100:])):
        lines = ["sentence\tlabel", *(f"{text}\t{label}" for text, label in part)]
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def readme(tiny_model: Path, sst2: Path, tmp_path_factory: pytest.TempPathFactory):
    """The README example run in a fresh folder, on the tiny model and task: its variables."""
    code = readme_example()
    tiny = {"remove": 1, "cache": "glp-cache", **TINY}
    for name, value in (("model", str(tiny_model)), ("dataset", str(sst2)), ("options", tiny)):
        line = next(line for line in code.splitlines() if line.startswith(f"{name} = "))
        code = code.replace(line, f"{name} = {value!r}")
    work = tmp_path_factory.mktemp("readme")
    before = os.getcwd()
    os.chdir(work)
    try:
        namespace: dict = {"__name__": "readme"}
        exec(compile(code, str(README), "exec"), namespace)
    finally:
        os.chdir(before)
    return namespace, work


def test_readme_example_searches_saves_exports_and_reloads(readme):
    names, work = readme
    result = names["result"]
    assert isinstance(result, glpsearch.SearchRun)
    assert len(result.order) == 1 and result.order[0] in range(4)
    assert result.record["evaluations"]["computed"] == 5  # the unpruned model and 4 candidates
    saved = json.loads((work / "glp-out" / "search.json").read_text())
    assert saved == result.record
    assert (work / "glp-out" / "layers.txt").read_text() == f"{result.order[0]}\n"
    assert names["pruned"].config.num_hidden_layers == 3
    assert names["pruned"].config.label2id == {"negative": 0, "positive": 1}
    reloaded = names["reloaded"]
    assert reloaded.config.num_hidden_layers == 3
    assert reloaded.config.id2label == {0: "negative", 1: "positive"}
    facts = json.loads((work / "pruned-model" / "glpsearch.json").read_text())
    assert facts["layers"]["removed"] == result.order and facts["finetuned"] is not None
    assert facts["scores"]["heldout"]["unpruned"] == result.record["baseline"]["score"]
    assert set(names["comparison"].orders) == {"greedy", "top-drop"}
    assert names["comparison"].orders["top-drop"] == [3]


def test_a_second_identical_search_computes_nothing(readme):
    names, _ = readme
    again = names["again"]
    assert again.record["evaluations"] == {"computed": 0, "cached": 5, "failed": 0}
    assert again.to_frame()["cached"].all()
    assert again.order == names["result"].order
    assert again.record["fingerprint"] == names["result"].record["fingerprint"]


def test_frame_has_one_row_per_candidate_of_the_record(readme):
    names, _ = readme
    for run in (names["result"], names["comparison"]):
        frame = run.to_frame()
        entries = run.record.get("strategies", [run.record])
        expected = [
            (entry["strategy"], step["depth"], tuple(c["removed"]), c["score"], c["cached"])
            for entry in entries
            for step in entry["steps"]
            for c in step["candidates"]
        ]
        got = list(frame[["strategy", "step", "removed", "score", "cached"]].itertuples(False))
        assert [tuple(row) for row in got] == expected
        assert list(frame["seeds"]) == [1] * len(expected)
    steps = names["result"].steps
    assert [c.removed for c in steps[0].candidates] == [(0,), (1,), (2,), (3,)]
    assert steps[0].chosen == tuple(names["result"].order)
    assert frame["chosen"].sum() == len(names["comparison"].orders)  # one kept set per strategy


def test_the_cli_finds_the_api_results_in_the_cache_and_writes_the_same_files(
    readme, tiny_model, sst2, tmp_path, monkeypatch
):
    names, work = readme
    monkeypatch.chdir(work)
    args = ["search", "--model", str(tiny_model), "--task", str(sst2), "--remove", "1",
            "--epochs", "5", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32",
            "--force", "--cache", "glp-cache", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(args) == 0
    cli = json.loads((tmp_path / "search.json").read_text())
    api = names["result"].record
    assert cli["evaluations"]["computed"] == 0
    same = {"wall_seconds", "evaluations", "steps", "baseline"}
    assert {k: v for k, v in cli.items() if k not in same} == {
        k: v for k, v in api.items() if k not in same
    }
    assert (tmp_path / "layers.txt").read_text() == (work / "glp-out" / "layers.txt").read_text()


def test_out_writes_the_files_as_the_command_does(readme, tiny_model, sst2, tmp_path):
    _, work = readme
    options = {"remove": 1, "cache": work / "glp-cache", **TINY}
    run = glpsearch.search(tiny_model, sst2, out=tmp_path / "out", progress=False, **options)
    assert json.loads((tmp_path / "out" / "search.json").read_text()) == run.record
    assert run.record["evaluations"]["computed"] == 0


def test_a_broken_cache_is_the_same_error_type(tiny_model, task_file, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "cache.db").write_text("not a database")
    with pytest.raises(glpsearch.GLPSearchError, match="cannot open the cache at"):
        glpsearch.search(tiny_model, task_file, remove=1, cache=cache, progress=False)


def test_compare_models_come_from_the_chosen_strategy(readme):
    names, _ = readme
    comparison = names["comparison"]
    model = comparison.model(layers_removed=1, strategy="top-drop")
    assert model.config.num_hidden_layers == 3
    with pytest.raises(glpsearch.GLPSearchError, match="no strategy 'beam'"):
        comparison.model(layers_removed=1, strategy="beam")


def test_an_unknown_keyword_names_the_allowed_ones(tiny_model):
    with pytest.raises(glpsearch.GLPSearchError) as caught:
        glpsearch.search(tiny_model, remve=1)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("search() has no option 'remve'; the options are: ")
    assert "remove" in message and "text_column" in message and "progress" in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"remove": 0}, "remove=0: 0 must be >= 1"),
        ({"remove": 1.5}, "remove=1.5: '1.5' is not a int"),
        ({"strategy": "nope"}, "strategy='nope': choose from "),
        ({"regression": "yes"}, "regression='yes': give True or False"),
    ],
)
def test_bad_values_are_refused_as_the_cli_refuses_them(tiny_model, options, message):
    with pytest.raises(glpsearch.GLPSearchError, match="^" + message):
        glpsearch.search(tiny_model, progress=False, **options)


@pytest.mark.parametrize("keyword", ["max_evaluations", "budget"])  # budget: its old name
def test_max_evaluations_reaches_the_strategy_by_either_name(
    keyword, tiny_model, task_file, tmp_path
):
    options = {"strategy": "exhaustive", "remove": 2, keyword: 9, "cache": tmp_path / "c"}
    with pytest.raises(glpsearch.GLPSearchError, match=r"^exhaustive search needs 10 evaluations"):
        glpsearch.search(tiny_model, task_file, progress=False, **options)


@dataclass
class Probe(Strategy):
    """A strategy the commands have never heard of: its check reports what it was given."""

    name = "probe"

    def check(self, n_layers: int, remove: int) -> None:
        raise OptionError(f"probe got ranking {self.options.ranking}")

    def proposal(self, n_layers: int) -> Propose:
        raise AssertionError("a check that refuses comes before any run")


@dataclass
class RankedProbe(Probe):
    name = "ranked-probe"
    reads = frozenset({"ranking"})


@pytest.mark.parametrize(("strategy", "ranked"), [(Probe, False), (RankedProbe, True)])
def test_a_strategy_gets_the_ranking_for_reading_it_not_for_its_name(
    strategy, ranked, tiny_model, task_file, tmp_path, monkeypatch
):
    monkeypatch.setitem(strategies.REGISTRY, strategy.name, strategy)
    with pytest.raises(glpsearch.GLPSearchError, match=r"^probe got ranking ") as caught:
        glpsearch.search(
            tiny_model, task_file, strategy=strategy.name, remove=1, cache=tmp_path / "c",
            progress=False,
        )  # fmt: skip
    given = str(caught.value).removeprefix("probe got ranking ")
    assert (sorted(ast.literal_eval(given)) == [0, 1, 2, 3]) if ranked else given == "None"
    assert not (tmp_path / "c").exists()  # refused before the cache was opened


def test_an_error_after_loading_carries_the_cli_line(tiny_model, task_file, tmp_path, capsys):
    options = ["--model", str(tiny_model), "--train", str(task_file), "--remove", "4"]
    out = ["--out", str(tmp_path / "out"), "--quiet"]
    assert main(["search", *options, "--cache", str(tmp_path / "c"), *out]) == 2
    printed = capsys.readouterr().err.strip()
    with pytest.raises(glpsearch.GLPSearchError) as caught:
        glpsearch.search(tiny_model, task_file, remove=4, cache=tmp_path / "c", progress=False)
    assert printed == f"glpsearch: error: {caught.value}"


def test_in_memory_data_shares_the_cache_with_the_same_file(tiny_model, task_file, tmp_path):
    """A DataFrame or a datasets.Dataset is fingerprinted by content: the CSV's cached scores
    answer it, and the record it leaves cannot send `--from` to the wrong data."""
    import datasets
    import pandas

    options = {"remove": 1, "cache": tmp_path / "cache", **TINY}
    from_file = glpsearch.search(tiny_model, task_file, progress=False, **options)
    frame = pandas.read_csv(task_file)
    from_frame = glpsearch.search(tiny_model, frame, progress=False, **options)
    table = datasets.Dataset.from_pandas(frame, preserve_index=False)
    from_table = glpsearch.search(tiny_model, table, progress=False, **options)
    for run in (from_frame, from_table):
        assert run.record["fingerprint"] == from_file.record["fingerprint"]
        assert run.record["evaluations"]["computed"] == 0
        assert run.order == from_file.order
    from_frame.save(tmp_path / "out")
    args = ["export", "--from", str(tmp_path / "out"), "--layers-removed", "1",
            "--out", str(tmp_path / "model")]  # fmt: skip
    assert main(args) == 2
    assert not (tmp_path / "model").exists()
    with pytest.raises(glpsearch.GLPSearchError, match="in-memory data is scored in this"):
        glpsearch.search(tiny_model, frame, jobs=2, progress=False)
    with pytest.raises(glpsearch.GLPSearchError, match="cannot read a dict as a dataset"):
        glpsearch.search(tiny_model, {"text": ["a"]}, progress=False)


def test_import_loads_no_torch_and_compare_stays_the_function():
    code = (
        "import sys, glpsearch; glpsearch.search; "
        "from glpsearch.runs.comparison import Comparison; "
        "assert 'torch' not in sys.modules, 'torch'; assert callable(glpsearch.compare); "
        "print(sorted(glpsearch.__all__))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "'search'" in done.stdout and "'GLPSearchError'" in done.stdout
