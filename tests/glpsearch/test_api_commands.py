"""One Python function per command: evaluate, speed, pick and export on the tiny model give the
command's own record (the JSON the CLI writes, wall-clock fields aside), and export(distill=)
fine-tunes a student from Python. Options are checked as declared, errors naming the keyword."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import glpsearch
from glpsearch.cli import main

FAST = ["--epochs", "1", "--lr", "3e-3", "--batch-size", "8", "--max-length", "32"]
CLOCK = {"wall_seconds", "seconds", "train_seconds"}  # what a second run measures anew


def without_clock(value, drop: frozenset[str] = frozenset(CLOCK)):
    """The record as its JSON reads, every wall-clock field (`drop`) left out at any depth."""
    if isinstance(value, dict):
        return {k: without_clock(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list | tuple):
        return [without_clock(v, drop) for v in value]
    return value


@pytest.fixture(scope="module")
def searched(tiny_model, task_file, tmp_path_factory) -> Path:
    """A search out folder of the tiny model on a task with a dev file, and its cache."""
    root = tmp_path_factory.mktemp("api-commands")
    dev = root / "dev.csv"
    dev.write_text("".join(task_file.read_text().splitlines(keepends=True)[:41]))
    args = ["search", "--model", str(tiny_model), "--train", str(task_file), "--validation",
            str(dev), "--remove", "1", "--cache", str(root / "cache"), "--out", str(root / "out"),
            "--quiet", "--force", *FAST]  # fmt: skip
    assert main(args) == 0
    return root


def test_evaluate_gives_the_commands_record(searched, tmp_path):
    cache = searched / "cache"
    cli_out = tmp_path / "cli"
    args = ["evaluate", "--from", str(searched / "out"), "--cache", str(cache), "--seeds", "1",
            "--out", str(cli_out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    written = json.loads((cli_out / "evaluate.json").read_text())
    evaluation = glpsearch.evaluate(searched / "out", cache=cache, seeds=1, progress=False)
    assert isinstance(evaluation, glpsearch.Evaluation)
    assert evaluation.record["evaluations"]["computed"] == 0  # the command's fine-tunes, cached
    assert without_clock(dict(evaluation.record)) == without_clock(
        {**written, "evaluations": evaluation.record["evaluations"]}
    )
    frame = evaluation.to_frame()
    assert list(frame["mean"]) == [r["mean"] for r in written["results"]]
    saved = evaluation.save(tmp_path / "api")
    assert json.loads(saved.read_text()) == evaluation.record


def test_speed_gives_the_commands_record_and_pick_its_lines(searched, tmp_path, capsys):
    folder = tmp_path / "out"
    shutil.copytree(searched / "out", folder)
    options = ["--devices", "cpu", "--batch-sizes", "1,4", "--repeats", "2", "--quiet"]
    assert main(["speed", "--from", str(folder), *options]) == 0
    written = json.loads((folder / "speed.json").read_text())
    timed = glpsearch.speed(folder, devices=["cpu"], batch_sizes=[1, 4], repeats=2,
                            progress=False)  # fmt: skip
    measured = frozenset({*CLOCK, "latency_ms", "iqr_ms", "throughput", "speedup", "rounds"})
    assert without_clock(timed.record, measured) == without_clock(written, measured)
    assert len(timed.to_frame()) == sum(len(m["timings"]) for m in written["models"])
    assert [p.name for p in timed.save(tmp_path / "saved")] == ["speed.json", "tradeoff.png"]

    capsys.readouterr()
    assert main(["pick", "--from", str(folder), "--max-latency-ms", "1000"]) == 0
    printed = capsys.readouterr().out.splitlines()
    picked = glpsearch.pick(folder, max_latency_ms=1000)
    assert picked.lines() == printed
    assert picked.export_command.startswith(f"glpsearch export --from {folder}")


def test_export_gives_the_commands_files_and_distills_from_python(searched, tmp_path, capsys):
    cache, out = searched / "cache", searched / "out"
    cli = tmp_path / "cli"
    args = ["export", "--from", str(out), "--layers-removed", "1", "--out", str(cli),
            "--device", "cpu"]  # fmt: skip
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    exported = glpsearch.export(tmp_path / "api", from_dir=out, layers_removed=1, device="cpu",
                                progress=False)  # fmt: skip
    assert isinstance(exported, glpsearch.Exported)
    assert exported.summary() == printed[0].replace(str(cli), str(tmp_path / "api"))
    facts = json.loads((cli / "glpsearch.json").read_text())
    timed = frozenset({"speed"})  # measured at export, anew each time
    assert without_clock(exported.facts, timed) == without_clock(facts, timed)
    assert exported.facts["speed"]["parameters"] == facts["speed"]["parameters"]
    assert {p.name for p in exported.files} == {p.name for p in cli.iterdir()}

    student = glpsearch.export(
        tmp_path / "student", from_dir=out, layers_removed=1, finetune=True, distill=True,
        distill_temperature=3, cache=cache, progress=False,
    )  # fmt: skip
    distill = student.facts["finetuned"]["distill"]
    assert (distill["alpha"], distill["temperature"], distill["hidden"]) == (0.5, 3.0, False)
    assert student.summary().endswith(f"fine-tuned by distillation) to {tmp_path / 'student'}")
    assert list((cache / "teachers").glob("*/0.pt"))  # the teacher kept in the cache


def test_a_search_exports_a_student_as_the_export_function_does(searched, tiny_model, task_file,
                                                                 tmp_path):  # fmt: skip
    """SearchRun.export(distill=) runs export's own code: the same facts, the same teacher."""
    cache = searched / "cache"
    run = glpsearch.search(
        tiny_model, task_file, validation=searched / "dev.csv", remove=1, cache=cache,
        force=True, epochs=1, lr=3e-3, batch_size=8, max_length=32, progress=False,
    )  # fmt: skip
    assert run.record["evaluations"]["computed"] == 0  # the command's search, from the cache
    run.save(tmp_path / "out")
    files = run.export(tmp_path / "student", layers_removed=1, finetune=True, distill=True)
    facts = json.loads((tmp_path / "student" / "glpsearch.json").read_text())
    assert (tmp_path / "student" / "glpsearch.json") in files
    exported = glpsearch.export(
        tmp_path / "again", from_dir=tmp_path / "out", layers_removed=1, finetune=True,
        distill=True, cache=cache, progress=False,
    )  # fmt: skip
    timed = frozenset({"speed"})  # measured at export, anew each time
    assert without_clock(exported.facts, timed) == without_clock(facts, timed)
    assert facts["finetuned"]["distill"]["teacher"]["seed"] == 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda f: glpsearch.evaluate(f, seeds=0), "^seeds=0: 0 must be >= 1$"),
        (lambda f: glpsearch.evaluate(f, warmup_ratio=2), "^warmup_ratio=2: must be between 0"),
        (lambda f: glpsearch.evaluate(f, distill_alpha=1.5), "^distill_alpha=1.5: must be bet"),
        (lambda f: glpsearch.speed(f, batch_sizes=[0]), r"^batch_sizes=\[0\]: 0 must be >= 1"),
        (lambda f: glpsearch.pick(f, max_latency_ms=0), "^max_latency_ms=0: 0 must be > 0"),
        (lambda f: glpsearch.evaluate(f, strategies=["psychic"]), "unknown strategy 'psychic'"),
        (lambda f: glpsearch.pick(f, latency=3), "^pick\\(\\) has no option 'latency'; the opt"),
        (lambda f: glpsearch.export("x", remove=[0], distill=True), "--distill goes with --fin"),
    ],
)
def test_bad_options_name_the_keyword(searched, call, message):
    with pytest.raises(glpsearch.GLPSearchError, match=message):
        call(searched / "out")
    assert not Path("x").exists()


def test_search_progress_lines_are_not_wrapped_in_a_log(searched, tiny_model, task_file, capfd):
    """stderr that is not a terminal keeps the first line whole, as stdout keeps its tables."""
    args = ["search", "--model", str(tiny_model), "--train", str(task_file), "--remove", "1",
            "--cache", str(searched / "cache"), "--out", str(searched / "replay"), "--force",
            *FAST]  # fmt: skip
    capfd.readouterr()
    assert main(args) == 0
    first = capfd.readouterr().err.splitlines()[0]
    assert first.startswith("greedy: remove 1 of 4 layers of ")
    assert "fingerprint " in first and len(first) > 80
