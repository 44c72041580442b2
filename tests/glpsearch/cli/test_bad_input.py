"""Malformed input of every kind, beyond test_cli's BAD table: one line on stderr starting with
"glpsearch", exit code 2, no traceback, the cache and the input files byte for byte as they
were, and no out folder. Most run in-process (fast); a few through a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from glpsearch.cli import main

FAST = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]
ROWS = "".join(f"the film number {i} was {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(40))


def snapshot(*folders: Path) -> dict[str, str]:
    """sha256 of every file under the folders: a run on bad input must change none."""
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _glue(folder: Path, labels: tuple[str, str]) -> None:
    folder.mkdir()
    lines = ["index\tsentence1\tsentence2\tlabel"]
    lines += [f"{i}\tA man walks {i}.\tSomeone walks.\t{labels[i % 2]}" for i in range(30)]
    (folder / "train.tsv").write_text("\n".join(lines) + "\n")


def _build_inputs(bad: Path, model: Path) -> None:
    """Every malformed file, folder and model the table below points at."""
    write = {
        "blank.csv": "\n\n\n",
        "short_row.csv": "text,label\n" + ROWS + "a row without its label\n",
        "no_text.csv": "review,label\n" + ROWS,
        "no_label.csv": "text,stars\n" + ROWS,
        "words.csv": "text,label\n"
        + "".join(f"film {i},{'good' if i % 2 else 'bad'}\n" for i in range(40)),
        "few.csv": "text,label\n" + "".join(ROWS.splitlines(keepends=True)[:8]),
        "empty_label.csv": "text,label\n" + ROWS + "a row with an empty label,\n",
        "nested.json": json.dumps(
            {"data": [{"text": f"film {i}", "label": i % 2} for i in range(30)]}
        ),
        "numbers.json": json.dumps(list(range(40))),
        "broken.jsonl": "".join(
            json.dumps({"text": f"film {i}", "label": i % 2}) + "\n" for i in range(30)
        )
        + '{"text": "film 30", "label": \n',
        "no_text_field.json": json.dumps(
            [{"text": f"film {i}", "label": i % 2} for i in range(30)] + [{"label": 1}]
        ),
        "notes.txt": "text,label\n" + ROWS,
        "scores.csv": "text,label\n" + "".join(f"film {i},{i}\n" for i in range(80)),
        "halves.csv": "text,label\n" + "".join(f"film {i},{i % 3 / 2}\n" for i in range(40)),
        "spaced.csv": "text,label\n"
        + "".join(f"film {i},{'good' if i % 2 else 'bad'}\n" for i in range(40))
        + "one more film, good\n",
        "nan.csv": "text,label\n" + ROWS + "one more film,NaN\n",
        "skewed.csv": "text,label\n"
        + "".join(f"pos film {i},pos\n" for i in range(118))
        + "neg a,neg\nneg b,neg\n",
        "odd.tsv": "text\tlabel\n"
        + ROWS.replace(",", "\t")
        + '"opens\t1\ncloses"\t0\n'
        + ROWS.replace(",", "\t").replace("film", "movie"),
        "file": "a regular file",
    }
    for name, text in write.items():
        (bad / name).write_text(text)
    (bad / "latin1.csv").write_bytes(
        ("text,label\n" + "café crème brûlée,1\n" * 30).encode("latin-1")
    )
    import datasets

    rows = [line.rsplit(",", 1) for line in ROWS.splitlines()]
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["bad", "good"])}
    )
    split = datasets.Dataset.from_dict(
        {"text": [t for t, _ in rows], "label": [int(g) for _, g in rows]}, features=features
    )
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(bad / "saved"))
    _glue(bad / "RTE", ("yes", "no"))  # RTE's labels are entailment / not_entailment
    (bad / "MRPC").mkdir()  # a GLUE task folder without train.tsv
    (bad / "MRPC" / "dev.tsv").write_text("x\ty\n")

    no_weights = bad / "no-weights"
    shutil.copytree(model, no_weights)
    for weights in no_weights.glob("*.safetensors"):
        weights.unlink()
    no_tokenizer = bad / "no-tokenizer"  # transformers would build a vocabulary of [UNK] only
    no_tokenizer.mkdir()
    for kept in ("config.json", "model.safetensors"):
        shutil.copy(model / kept, no_tokenizer / kept)
    (bad / "users-folder").mkdir()  # a folder of the user's own, with a layers.txt of theirs
    (bad / "users-folder" / "layers.txt").write_text("their own notes\n")
    (bad / "json-folder" / "search.json").mkdir(parents=True)  # search.json is a folder
    bad_config = bad / "bad-config"
    shutil.copytree(model, bad_config)
    (bad_config / "config.json").write_text('{"model_type": "bert", "hidden_size": 16,')

    (bad / "garbage-cache").mkdir()
    (bad / "garbage-cache" / "cache.db").write_bytes(os.urandom(4096))
    import diskcache

    with diskcache.Cache(str(bad / "foreign-cache")) as foreign:
        foreign.set("their/key", "their value")
    (bad / "sqlite-cache").mkdir()
    with closing(sqlite3.connect(bad / "sqlite-cache" / "cache.db")) as theirs, theirs:
        theirs.execute("CREATE TABLE notes (body TEXT)")
        theirs.execute("INSERT INTO notes VALUES ('mine')")


# name: (extra arguments, a fragment of the one expected line, drop --train from the base args)
BAD: dict[str, tuple[list[str], str, bool]] = {
    # data files
    "blank lines only": (["--train", "{bad}/blank.csv"], "blank.csv", False),
    "wrong encoding": (["--train", "{bad}/latin1.csv"], "cannot read", False),
    "row missing its label": (["--train", "{bad}/short_row.csv"], "row 41 has no label", False),
    "empty label": (["--train", "{bad}/empty_label.csv"], "row 41 has no label", False),
    "no text column": (["--train", "{bad}/no_text.csv"], "column 'text' not found", False),
    "no label column": (["--train", "{bad}/no_label.csv"], "column 'label' not found", False),
    "words as regression labels": (
        ["--train", "{bad}/words.csv", "--regression"],
        "non-numeric regression label",
        False,
    ),
    "too few rows": (["--train", "{bad}/few.csv"], "at least 20 are needed", False),
    "json records nested in an object": (
        ["--train", "{bad}/nested.json"],
        "column 'text' not found in the nested data (columns: data)",
        False,
    ),
    "json list of numbers": (["--train", "{bad}/numbers.json"], "column 'label' not found", False),
    "jsonl broken line": (["--train", "{bad}/broken.jsonl"], "cannot read", False),
    "json record without text": (["--train", "{bad}/no_text_field.json"], "no text", False),
    "unsupported file type": (["--train", "{bad}/notes.txt"], "unsupported file type", False),
    "validation file missing": (["--validation", "{bad}/nowhere.csv"], "file not found", False),
    "three text columns": (["--text-column", "a,b,c"], "one text column, or two", False),
    "task and train together": (
        ["--task", "{bad}/RTE", "--train", "{bad}/x.csv"],
        "not both",
        False,
    ),
    # labels that cannot mean what the user thinks (issue 13)
    "scores without --regression": (["--train", "{bad}/scores.csv"], "80 numbers", False),
    "halves without --regression": (["--train", "{bad}/halves.csv"], "--regression", False),
    "labels differing by a space": (["--train", "{bad}/spaced.csv"], "surrounding spaces", False),
    "label NaN": (["--train", "{bad}/nan.csv"], "reads as a missing value", False),
    "one class after --train-limit": (
        ["--train", "{bad}/skewed.csv", "--train-limit", "20"],
        "only one class (pos) after --train-limit 20",
        False,
    ),
    "empty text column name": (["--text-column", ","], "names an empty column", False),
    "empty label column name": (["--label-column", ""], "names an empty column", False),
    # headers, quoting, datasets (issue 12)
    "no header without positions": (["--no-header"], "--no-header needs the columns", False),
    "quoting that decides row counts": (["--train", "{bad}/odd.tsv"], "--quoting none", False),
    "quoting without a file": (["--quoting", "none"], "go with --train", True),
    "dataset and train together": (["--dataset", "{bad}/saved"], "not both", False),
    "dataset split missing": (
        ["--dataset", "{bad}/saved", "--validation-split", "validation"],
        "its splits: train, test",
        True,
    ),
    "dataset config without dataset": (["--dataset-config", "sst2"], "with --dataset", False),
    "dataset not found": (["--dataset", "{bad}/nowhere"], "cannot load dataset", True),
    # GLUE folders
    "glue folder without train.tsv": (["--task", "{bad}/MRPC"], "has no train.tsv", True),
    "glue folder with wrong labels": (["--task", "{bad}/RTE"], "label 'yes'", True),
    # numbers
    "train limit negative": (["--train-limit", "-1"], "must be >= 0", False),
    "train limit too small": (["--train-limit", "5"], "at least 20 are needed", False),
    "batch size zero": (["--batch-size", "0"], "must be >= 1", False),
    "remove not an integer": (["--remove", "1.5"], "'1.5' is not a", False),
    "epochs nan": (["--epochs", "nan"], "--epochs: nan is not a finite number", False),
    "epochs infinite": (["--epochs", "inf"], "--epochs: inf is not a finite number", False),
    "lr not a number": (["--lr", "abc"], "'abc' is not a", False),
    "lr infinite": (["--lr", "inf"], "--lr: inf is not a finite number", False),
    "warmup ratio 2": (["--warmup-ratio", "2"], "--warmup-ratio must be between 0 and 1", False),
    "max length below 8": (["--max-length", "3"], "must be >= 8", False),
    "seed negative": (["--seed", "-1"], "must be >= 0", False),
    "beam width zero": (["--strategy", "beam", "--beam-width", "0"], "must be >= 1", False),
    "exhaustive over budget": (
        ["--strategy", "exhaustive", "--budget", "2"],
        "exhaustive",
        False,
    ),
    "misspelt option": (["--learning-rate", "1e-4"], "unrecognized arguments", False),
    "not a device": (["--device", "toaster"], "toaster", False),
    "device meta": (["--device", "meta"], "--device meta cannot run a model", False),
    "device mps": (["--device", "mps"], "--device mps cannot run a model", False),
    "device xla": (["--device", "xla"], "--device xla cannot run a model", False),
    "device ipu": (["--device", "ipu"], "--device ipu cannot run a model", False),
    # models
    "model without weights": (["--model", "{bad}/no-weights"], "no-weights", False),
    "model config not json": (["--model", "{bad}/bad-config"], "bad-config", False),
    "model without tokenizer": (["--model", "{bad}/no-tokenizer"], "no tokenizer files", False),
    # files written or opened
    "out is a file": (["--out", "{bad}/file"], "--out", False),
    "out under a file": (["--out", "{bad}/file/out"], "--out", False),
    "out empty": (["--out", ""], "--out: an empty name is not a folder", False),
    "out of the user's own files": (
        ["--out", "{bad}/users-folder"],
        "holds files glpsearch did not write (layers.txt)",
        False,
    ),
    "out whose search.json is a folder": (
        ["--out", "{bad}/json-folder"],
        "search.json is not a file",
        False,
    ),
    "cache under a file": (["--cache", "{bad}/file/cache"], "cache", False),
    "cache.db is garbage": (["--cache", "{bad}/garbage-cache"], "garbage-cache", False),
    "cache of another program": (["--cache", "{bad}/foreign-cache"], "another program", False),
    "cache.db of another program": (["--cache", "{bad}/sqlite-cache"], "another program", False),
}
# Two that load torch, transformers and datasets (whose warnings must not reach the terminal
# either), two that end in argument parsing.
SUBPROCESS = ("cache.db is garbage", "model config not json", "lr infinite", "misspelt option")


@pytest.fixture(scope="module")
def setup(tiny_model, task_file, tmp_path_factory):
    """A populated cache (one finished search) and a folder of every malformed input."""
    root = tmp_path_factory.mktemp("bad-input")
    cache = root / "cache"
    base = [
        "search", "--model", str(tiny_model), "--train", str(task_file), "--cache", str(cache),
        "--quiet", "--force", *FAST, "--remove", "1",
    ]  # fmt: skip
    assert main([*base, "--out", str(root / "done")]) == 0
    bad = root / "bad"
    bad.mkdir()
    _build_inputs(bad, tiny_model)
    return base, cache, bad


def _args(setup, case: str, out: Path) -> list[str]:
    base, _, bad = setup
    extra, _, drop_train = BAD[case]
    args = [*base, "--out", str(out)]
    if drop_train:
        i = args.index("--train")
        del args[i : i + 2]
    return [*args, *(e.format(bad=bad) for e in extra)]


def _check(case: str, code: int, err: str, out: Path) -> None:
    lines = err.strip().splitlines()
    assert code == 2, (case, code, err)
    assert len(lines) == 1, (case, err)
    assert lines[0].startswith("glpsearch"), (case, err)
    assert "Traceback" not in err
    assert BAD[case][1] in lines[0], (case, lines[0])
    assert not out.exists()


def test_the_table_is_large_and_new():
    assert len(BAD) >= 20


@pytest.mark.parametrize("case", sorted(set(BAD) - set(SUBPROCESS)))
def test_bad_input_in_process(case, setup, tmp_path, capsys):
    _, cache, bad = setup
    out = tmp_path / "out"
    before = snapshot(cache, bad)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # argparse exits; our errors return the code
        raise SystemExit(main(_args(setup, case, out)))
    _check(case, exited.value.code, capsys.readouterr().err, out)
    assert snapshot(cache, bad) == before


def test_bad_input_in_a_real_process_reaches_the_terminal_as_one_line(setup, tmp_path):
    _, cache, bad = setup
    before = snapshot(cache, bad)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    running = {
        case: subprocess.Popen(
            [sys.executable, "-m", "glpsearch", *_args(setup, case, tmp_path / case)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for case in SUBPROCESS
    }  # all at once: each pays the start-up of torch, in parallel
    for case, process in running.items():
        stdout, stderr = process.communicate(timeout=120)
        assert stdout == ""
        _check(case, process.returncode, stderr, tmp_path / case)
    assert snapshot(cache, bad) == before


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["speed", "--from", "{out}", "--devices", "meta"], "--device meta cannot run a model"),
        (["speed", "--from", "{out}", "--devices", "cpu,xla"], "--device xla cannot run a model"),
        (["evaluate", "--from", "{out}", "--device", "meta"], "--device meta cannot run a model"),
        (["export", "--out", "", "--remove", "1"], "--out: an empty name is not a folder"),
    ],
)
def test_other_commands_refuse_an_unusable_device_or_folder_in_one_line(
    search_out, command, expected, capsys
):
    before = snapshot(search_out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        raise SystemExit(main([part.format(out=search_out) for part in command]))
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("glpsearch") and expected in line
    assert snapshot(search_out) == before
