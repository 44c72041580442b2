"""`glpsearch search` end to end on a tiny model: outputs, replay, extension, interruption,
and bad input (one line, exit 2, cache untouched)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from glpsearch.cli import main
from glpsearch.store import Store

FAST = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]


def tiny_args(model: Path, data: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    return [
        "search", "--model", str(model), "--train", str(data), "--cache", str(cache),
        "--out", str(out), "--quiet", "--force", *FAST, *extra,
    ]  # fmt: skip


def read(out: Path) -> tuple[dict, list[int]]:
    record = json.loads((out / "search.json").read_text())
    return record, [int(line) for line in (out / "layers.txt").read_text().split()]


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished(tiny_model, task_file, tmp_path_factory):
    """A completed 2-of-4 search: its cache, its out folder, and args for more like it."""
    root = tmp_path_factory.mktemp("search")

    def args(cache: Path, out: Path, remove: int) -> list[str]:
        return tiny_args(tiny_model, task_file, cache, out, "--remove", str(remove))

    assert main(args(root / "cache", root / "out", 2)) == 0
    return root / "cache", root / "out", args


def test_search_writes_the_layer_file_and_an_auditable_record(finished):
    _, out, _ = finished
    record, order = read(out)
    assert len(order) == 2 and len(set(order)) == 2 and set(order) <= {0, 1, 2, 3}
    assert record["order"] == order
    assert record["evaluations"] == {"computed": 8, "cached": 0, "failed": 0}  # 1 + 4 + 3
    assert record["n_layers"] == 4 and record["remove"] == 2
    assert record["baseline"]["removed"] == []
    first = record["steps"][0]
    assert len(first["candidates"]) == 4
    assert first["chosen"] == [order[0]]
    assert first["score"] == max(c["score"] for c in first["candidates"])
    assert all(c["cached"] is False and c["seconds"] > 0 for c in first["candidates"])
    assert record["settings"]["epochs"] == 1.0 and record["fingerprint"]


def test_a_finished_search_replays_without_fine_tuning(finished, tmp_path):
    cache, out, args = finished
    assert main(args(cache, tmp_path, 2)) == 0
    record, order = read(tmp_path)
    assert record["evaluations"] == {"computed": 0, "cached": 8, "failed": 0}
    assert order == read(out)[1]


def test_piped_output_keeps_every_column_whole(finished, tmp_path, capsys, monkeypatch):
    """stdout to a file or pipe (a log, CI) is not fitted into 80 columns: no cut numbers."""
    cache, _, args = finished
    monkeypatch.delenv("COLUMNS", raising=False)
    command = [arg for arg in args(cache, tmp_path, 2) if arg != "--quiet"]
    capsys.readouterr()
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "…" not in printed
    record, _ = read(tmp_path)
    assert f"{record['steps'][0]['score']:.4f}" in printed
    assert "Δ vs full" in printed and "lead (SE)" in printed


def test_a_replay_loads_no_weights_and_tokenizes_nothing(finished, tmp_path, monkeypatch):
    """The cache answers every fine-tune: the pretrained weights and tokens are never needed."""
    from glpsearch.model import evaluator

    def refused(*args):
        raise AssertionError("loaded for a search the cache answers")

    monkeypatch.setattr(evaluator, "_load_weights", refused)
    monkeypatch.setattr(evaluator.Evaluator, "_tokenize", refused)
    cache, _, args = finished
    assert main(args(cache, tmp_path, 2)) == 0
    assert read(tmp_path)[0]["evaluations"] == {"computed": 0, "cached": 8, "failed": 0}


def test_more_seeds_reuse_the_first_and_record_each_seed(finished, tmp_path):
    cache, _, args = finished
    copy = tmp_path / "cache"  # the module's cache stays as the other tests expect it
    shutil.copytree(cache, copy)
    assert main([*args(copy, tmp_path / "out", 1), "--seeds", "2"]) == 0
    record, _ = read(tmp_path / "out")
    assert record["seeds"] == [0, 1]
    assert record["evaluations"] == {"computed": 5, "cached": 5, "failed": 0}  # seed 1 is new
    for candidate in record["steps"][0]["candidates"]:
        by_seed = candidate["seeds"]
        assert set(by_seed) == {"0", "1"}
        assert candidate["score"] == pytest.approx((by_seed["0"] + by_seed["1"]) / 2)
        assert candidate["std"] == pytest.approx(abs(by_seed["0"] - by_seed["1"]) / 2**0.5)


def test_a_larger_remove_computes_only_the_new_candidates(finished, tmp_path):
    cache, out, args = finished
    extended = tmp_path / "cache"
    shutil.copytree(cache, extended)  # extend a copy, so other tests keep the 2-layer cache
    assert main(args(extended, tmp_path / "out", 3)) == 0
    record, order = read(tmp_path / "out")
    assert record["evaluations"] == {"computed": 2, "cached": 8, "failed": 0}
    assert order[:2] == read(out)[1]


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "glpsearch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_scores(cache: Path, count: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if (cache / "cache.db").exists():
            with Store(cache) as store:
                found = sum(s.scores for s in store.summaries())
            if found >= count:
                return found
        time.sleep(0.05)
    raise AssertionError("the search wrote no scores in time")


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_an_interrupted_search_resumes_losing_nothing(tiny_model, task_file, tmp_path, signum):
    cache = tmp_path / "cache"
    slow = ["--remove", "2", "--epochs", "3"]  # slower fine-tunes: the signal lands mid-search
    args = [*tiny_args(tiny_model, task_file, cache, tmp_path / "out"), *slow]
    process = _start(args)
    _wait_for_scores(cache, 3, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    if signum == signal.SIGINT:
        assert process.returncode == 130, stderr
        assert "interrupted" in stderr and "Traceback" not in stderr
    else:
        assert process.returncode == -signal.SIGKILL
    with Store(cache) as store:
        kept = sum(s.scores for s in store.summaries())
    assert kept >= 3

    assert main(args) == 0
    record, order = read(tmp_path / "out")
    assert record["evaluations"]["cached"] == kept  # every score written before the kill
    assert record["evaluations"]["computed"] == 8 - kept

    reference = tmp_path / "reference"
    assert main([*tiny_args(tiny_model, task_file, reference, tmp_path / "ref"), *slow]) == 0
    assert order == read(tmp_path / "ref")[1]


# -- bad input: one clear line, exit code 2, the cache as it was --------------------------------
def _albert(folder: Path) -> Path:
    from transformers import AlbertConfig, AlbertModel

    config = AlbertConfig(
        vocab_size=40, embedding_size=8, hidden_size=16, num_attention_heads=2,
        intermediate_size=32, num_hidden_layers=4, max_position_embeddings=160,
    )  # fmt: skip
    AlbertModel(config).save_pretrained(folder)
    return folder


BAD = {
    "unknown task": (["--task", "nosuchtask"], "unknown task"),
    "unknown strategy": (["--strategy", "psychic"], "invalid choice"),
    "missing file": (["--train", "{tmp}/missing.csv"], "file not found"),
    "missing column": (["--label-column", "stars"], "column 'stars' not found"),
    "empty data": (["--train", "{tmp}/empty.csv"], "is empty"),
    "header only": (["--train", "{tmp}/header.csv"], "no rows"),
    "one class": (["--train", "{tmp}/one_class.csv"], "only one class"),
    "ragged rows": (["--train", "{tmp}/ragged.csv"], "Expected 2 fields in line 3, saw 3"),
    "remove all layers": (["--remove", "4"], "--remove must be between 1 and 3"),
    "remove none": (["--remove", "0"], "must be >= 1"),
    "not a model": (["--model", "{tmp}"], "no config.json"),
    "model folder missing": (["--model", "{tmp}/nowhere"], "model folder not found"),
    "layers not found": (["--model", "{albert}"], "cannot find the encoder layers"),
    "negative epochs": (["--epochs", "-1"], "must be > 0"),
    "non-integer batch": (["--batch-size", "2.5"], "is not a int"),
    "huge max length": (["--max-length", "100000"], "exceeds what the model can read"),
    "validation alone": (["--no-train", "--validation", "{tmp}/x.csv"], "--validation goes with"),
    "cache is a file": (["--cache", "{tmp}/empty.csv"], "is a file"),
    "cache holds other files": (["--cache", "{tmp}/other"], "not a glpsearch cache"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gives_one_line_and_leaves_the_cache_alone(
    case, finished, tiny_model, task_file, tmp_path, capsys
):
    cache, _, _ = finished
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("text,label\n")
    (tmp_path / "ragged.csv").write_text("text,label\nfoo bar,pos\nbaz,neg,extra\n")
    rows = "".join(f"film number {i},pos\n" for i in range(40))
    (tmp_path / "one_class.csv").write_text("text,label\n" + rows)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    albert = _albert(tmp_path / "albert") if case == "layers not found" else tmp_path
    extra, expected = BAD[case]
    extra = [e.format(tmp=tmp_path, albert=albert) for e in extra]
    args = tiny_args(tiny_model, task_file, cache, tmp_path / "out")
    if {"--train", "--no-train", "--task"} & set(extra):  # replace, not repeat, the data source
        i = args.index("--train")
        del args[i : i + 2]
        extra = [e for e in extra if e != "--no-train"]
    before = snapshot(cache)
    capsys.readouterr()

    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main([*args, *extra]))

    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert len(err.splitlines()) == 1 and err.startswith("glpsearch")
    assert snapshot(cache) == before
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_status_lists_the_cached_fingerprints(finished, capsys):
    cache, _, _ = finished
    capsys.readouterr()
    assert main(["status", "--cache", str(cache)]) == 0
    cache, _, _ = finished
    with Store(cache) as store:
        (summary,) = store.summaries()
    shown = capsys.readouterr().out
    assert summary.fingerprint[:12] in shown and "sentiment" in shown
    assert summary.scores == 8


def test_the_console_script_reports_bad_input_without_a_traceback(tmp_path):
    env = {**os.environ, "GLPSEARCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "glpsearch", "search", "--train", str(tmp_path / "nope.csv")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"glpsearch: error: file not found: {tmp_path}/nope.csv"
    ]


def test_a_ctrl_c_swallowed_by_cleanup_code_is_raised_again_at_the_next_event():
    from glpsearch.engine.core import BatchStarted
    from glpsearch.runs import interrupt

    seen = []
    before = signal.getsignal(signal.SIGINT)
    with interrupt.sticky_interrupt():
        on_event = interrupt.heeding(seen.append)
        on_event(BatchStarted(1, 4, 0))
        with contextlib.suppress(KeyboardInterrupt):  # as a __del__ prints and drops one
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):
            on_event(BatchStarted(2, 3, 0))
    assert seen == [BatchStarted(1, 4, 0)]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_save_to_disk_dataset_shows_its_class_names_in_table_record_and_export(
    tiny_model, task_file, tmp_path, capsys
):
    """Class names come from the dataset's ClassLabel: the table, search.json, and the export's
    id2label and card say positive, not 1; --from finds the dataset folder again."""
    import csv

    import datasets

    with task_file.open() as handle:
        rows = list(csv.DictReader(handle))
    names = ["negative", "positive"]
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    labels = [names.index({"neg": "negative", "pos": "positive"}[r["label"]]) for r in rows]
    split = datasets.Dataset.from_dict(
        {"text": [r["text"] for r in rows], "label": labels}, features=features
    )
    folder = tmp_path / "sentiment-copy"
    datasets.DatasetDict({"train": split, "validation": split.select(range(20))}).save_to_disk(
        str(folder)
    )
    out = tmp_path / "out"
    args = ["search", "--model", str(tiny_model), "--dataset", str(folder), "--remove", "1",
            "--cache", str(tmp_path / "cache"), "--out", str(out), *FAST, "--force"]  # fmt: skip
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "sentiment-copy (classes negative, positive;" in " ".join(printed.err.split())
    assert "sentiment-copy, classes negative, positive" in " ".join(printed.out.split())
    record = json.loads((out / "search.json").read_text())
    assert (record["task"], record["labels"]) == ("sentiment-copy", names)
    assert record["data"]["dataset"] == str(folder.resolve())
    exported = tmp_path / "exported"
    export = ["export", "--from", str(out), "--layers-removed", "1", "--out", str(exported),
              "--quiet"]  # fmt: skip
    assert main(export) == 0
    config = json.loads((exported / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert "labels: negative, positive" in (exported / "README.md").read_text()


def test_a_replay_imports_neither_transformers_nor_scikit_learn(finished, tmp_path):
    """A re-run the cache answers trains nothing: the model's checks and the 85/15 split are
    remembered (glpsearch/memo.py), so it imports neither (over three seconds)."""
    cache, _, args = finished
    heavy = ("sklearn", "scipy.stats", "transformers")
    code = (
        "import json, sys; from glpsearch.cli import main; code = main(json.loads(sys.argv[1])); "
        f"print(json.dumps([code, sorted(m for m in sys.modules if m.startswith({heavy!r}))]))"
    )
    command = [sys.executable, "-c", code, json.dumps(args(cache, tmp_path / "out", 2))]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == [0, []]
    assert read(tmp_path / "out")[0]["evaluations"] == {"computed": 0, "cached": 8, "failed": 0}


def test_seeds_auto_races_and_a_rerun_computes_nothing(tiny_model, task_file, tmp_path):
    """--seeds auto: every candidate starts with one seed; only the near-tied get more, up to
    --max-seeds; the record says how each step was decided, and a re-run is all cache."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = tiny_args(tiny_model, task_file, cache, out, "--remove", "1", "--seeds", "auto",
                     "--max-seeds", "2")  # fmt: skip
    assert main(args) == 0
    record, _ = read(out)
    assert record["seeds"] == [0] and record["max_seeds"] == 2
    (step,) = record["steps"]
    assert step["race"] in ("lead", "cap")
    counts = [len(c["seeds"]) for c in step["candidates"]]
    assert set(counts) <= {1, 2} and len(counts) == 4
    if step["race"] == "cap":  # the leader and a rival stayed inside the noise: both got two
        assert counts.count(2) >= 2
    assert record["evaluations"]["computed"] == 1 + sum(counts)  # the unpruned model too
    assert main(args) == 0
    again, _ = read(out)
    assert again["evaluations"]["computed"] == 0
    assert [c["seeds"] for c in again["steps"][0]["candidates"]] == [
        c["seeds"] for c in step["candidates"]
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seeds", "3", "--max-seeds", "2"], "--max-seeds 2 is fewer than --seeds 3"),
        (["--max-seeds", "0"], "argument --max-seeds: 0 must be >= 1"),
        (["--seeds", "often"], "argument --seeds: 'often' is neither a count nor auto"),
    ],
)
def test_racing_options_are_refused_in_one_line(
    extra, message, tiny_model, task_file, tmp_path, capsys
):
    cache = tmp_path / "cache"
    args = tiny_args(tiny_model, task_file, cache, tmp_path / "out", "--remove", "1", *extra)
    with contextlib.suppress(SystemExit):
        assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not cache.exists()
