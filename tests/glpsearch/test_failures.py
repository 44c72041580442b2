"""No finished work is ever lost: a search killed (kill -9) or interrupted (Ctrl-C) at any moment
resumes reusing every score written before; a candidate that fails (NaN loss, out of memory, an
exception) is recorded with its reason, skipped, reported, and retried on request; and a changed
setting, data set, model or evaluator never gets an old score."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
import torch

from glpsearch.cli import main
from glpsearch.engine.core import Engine
from glpsearch.errors import UserError
from glpsearch.report.records import search_record
from glpsearch.scoring.failures import environmental
from glpsearch.scoring.score import CandidateFailed, Score
from glpsearch.store import Key, Store
from glpsearch.strategies import make

# Regression (Spearman) on a tiny model: every candidate gets its own score, so a resumed
# search's order can only match the reference if every score was kept exactly.
FAST = ["--epochs", "1", "--lr", "1e-2", "--batch-size", "8", "--max-length", "16"]


def search_args(model: Path, data: Path, cache: Path, out: Path, *extra: str) -> list[str]:
    return [
        "search", "--model", str(model), "--train", str(data), "--regression",
        "--cache", str(cache), "--out", str(out), "--quiet", "--force", *FAST, *extra,
    ]  # fmt: skip


def read(out: Path) -> dict:
    return json.loads((out / "search.json").read_text())


def scores_of(record: dict) -> dict[tuple[int, ...], float | None]:
    found = {tuple(record["baseline"]["removed"]): record["baseline"]["score"]}
    for step in record["steps"]:
        found.update({tuple(c["removed"]): c["score"] for c in step["candidates"]})
    return found


@pytest.fixture(scope="module")
def data(regression_file) -> Path:
    return regression_file


# -- failed candidates, engine level ---------------------------------------------------------
class Scripted:
    """Scores a set by a fixed rule ({3} best at depth 1); raises what `raises` says for a set."""

    fingerprint = "e" * 20
    n_layers = 4

    def __init__(self, raises: dict[frozenset[int], BaseException] | None = None) -> None:
        self.raises = raises or {}
        self.calls: list[frozenset[int]] = []

    def describe(self) -> dict:
        return {"model": "scripted"}

    def score(self, removed, seed, progress=None) -> Score:
        removed = frozenset(removed)
        self.calls.append(removed)
        if removed in self.raises:
            raise self.raises[removed]
        return Score(0.9 - 0.01 * len(removed) + 0.001 * sum(removed), "accuracy", 0.1, 0, 9, 3)


def _oom() -> BaseException:
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


FAILURES = {
    "torch OutOfMemoryError": (
        _oom,
        "OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
    ),
    "RuntimeError CUDA OOM": (
        lambda: RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB\nmore detail"),
        "RuntimeError: CUDA out of memory. Tried to allocate 20.00 MiB",
    ),
    "MemoryError": (MemoryError, "MemoryError"),
    "NaN loss": (
        lambda: CandidateFailed("training loss became nan at step 3"),
        "CandidateFailed: training loss became nan at step 3",
    ),
    "inf loss": (
        lambda: CandidateFailed("training loss became inf at step 1"),
        "CandidateFailed: training loss became inf at step 1",
    ),
    "any exception": (lambda: KeyError("input_ids"), "KeyError: 'input_ids'"),
}


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_a_failed_candidate_is_recorded_with_its_reason_skipped_and_retried(kind, tmp_path):
    make_error, reason = FAILURES[kind]
    broken = frozenset({3})
    with Store(tmp_path / "reference") as store:
        _, expected = Engine(Scripted(), store).run(make("greedy"), 2)
    assert expected.order == [3, 2]

    with Store(tmp_path / "cache") as store:
        scorer = Scripted({broken: make_error()})
        engine = Engine(scorer, store)
        baseline, result = engine.run(make("greedy"), 2)
        assert result.order == [2, 3]  # {3} would have won; the search went on without it
        assert engine.outcomes[broken].failure == reason
        assert engine.counts == {"computed": 8, "cached": 0, "failed": 1}
        assert store.get("failure", Key(scorer.fingerprint, 0, broken))["reason"] == reason
        assert store.claim_owner(Key(scorer.fingerprint, 0, broken)) is None
        record = search_record(result, baseline, engine.outcomes, {}, engine.counts)
        (shown,) = [c for c in record["steps"][0]["candidates"] if c["removed"] == [3]]
        assert shown["score"] is None and shown["failure"] == reason
        assert json.dumps(record)  # the record stays valid JSON

        replay = Scripted()
        Engine(replay, store).run(make("greedy"), 2)
        assert replay.calls == []  # the failure is remembered, not recomputed

        retry = Scripted()
        _, retried = Engine(retry, store, retry_failed=True).run(make("greedy"), 2)
        assert retry.calls[0] == broken
        assert set(retry.calls) == {broken, frozenset({0, 3}), frozenset({1, 3})}  # {2, 3} known
        assert retried.order == expected.order
        assert store.get("failure", Key(scorer.fingerprint, 0, broken)) is None


def test_a_depth_where_every_candidate_fails_ends_the_search_there(tmp_path):
    raises = {frozenset({i, 3}): CandidateFailed("training loss became nan") for i in range(3)}
    with Store(tmp_path / "cache") as store:
        engine = Engine(Scripted(raises), store)
        _, result = engine.run(make("greedy"), 3)
    assert [step.chosen for step in result.steps] == [frozenset({3}), None]
    assert result.order == [3]
    assert engine.counts == {"computed": 8, "cached": 0, "failed": 3}


def test_an_interrupted_fine_tune_is_not_a_failure_and_frees_its_claim(tmp_path):
    with Store(tmp_path / "cache") as store:
        scorer = Scripted({frozenset({2}): KeyboardInterrupt()})
        with pytest.raises(KeyboardInterrupt):
            Engine(scorer, store).run(make("greedy"), 1)
        for removed in map(frozenset, ({0}, {1}, {2}, {3})):
            assert store.get("failure", Key(scorer.fingerprint, 0, removed)) is None
            assert store.claim_owner(Key(scorer.fingerprint, 0, removed)) is None
        resumed = Scripted()
        Engine(resumed, store).run(make("greedy"), 1)
        assert resumed.calls == [frozenset({2}), frozenset({3})]


# -- failures of the environment: never the candidate's, never cached -------------------------
ENVIRONMENT = {
    "damaged checkpoint (Errno 22)": lambda: OSError(errno.EINVAL, "Invalid argument"),
    "dead worker's pipe": lambda: BrokenPipeError(errno.EPIPE, "Broken pipe"),
    "refused connection": lambda: ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    "full disk": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "pipe closed mid-message": EOFError,
    # as torch raises a fault of the GPU itself (torch.AcceleratorError, a RuntimeError), and as
    # older releases did (a plain RuntimeError)
    "GPU fault": lambda: torch.AcceleratorError(
        "CUDA error: an illegal memory access was encountered"
    ),
    "GPU fault, older torch": lambda: RuntimeError("CUDA error: uncorrectable ECC error"),
}


def test_out_of_memory_and_other_runtime_errors_stay_the_candidates():
    assert not environmental(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate"))
    assert not environmental(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not environmental(ValueError("the loss is nan at step 12"))


@pytest.mark.parametrize("kind", sorted(ENVIRONMENT))
def test_a_failure_of_the_environment_is_never_cached_and_stops_the_run(kind, tmp_path):
    broken = frozenset({3})  # the best set of depth 1: caching its failure changes the answer
    with Store(tmp_path / "cache") as store:
        scorer = Scripted({broken: ENVIRONMENT[kind]()})
        with pytest.raises(UserError, match="nothing was cached for it") as stopped:
            Engine(scorer, store).run(make("greedy"), 2)
        assert "layers 3 removed" in str(stopped.value)
        assert len(str(stopped.value).splitlines()) == 1
        assert store.get("failure", Key(scorer.fingerprint, 0, broken)) is None
        assert store.claim_owner(Key(scorer.fingerprint, 0, broken)) is None
        finished = [c for c in scorer.calls if c != broken]
        assert all(store.get("score", Key(scorer.fingerprint, 0, c)) for c in finished)  # kept

        resumed = Scripted()  # the environment is healthy again: the same answer as ever
        _, result = Engine(resumed, store).run(make("greedy"), 2)
        assert result.order == [3, 2]
        assert broken in resumed.calls and not set(finished) & set(resumed.calls)


def test_the_search_stops_in_one_line_on_an_io_error_and_resumes_to_the_same_order(
    searched, tiny_model, data, tmp_path, capsys, monkeypatch
):
    from glpsearch.model.evaluator import Evaluator

    _, first = searched
    evaluate = Evaluator.score

    def damaged_disk(self, removed, seed, progress=None):
        if frozenset(removed) == {2}:
            raise OSError(errno.EINVAL, "Invalid argument")
        return evaluate(self, removed, seed, progress)

    cache, out = tmp_path / "cache", tmp_path / "out"
    args = search_args(tiny_model, data, cache, out, "--remove", "1")
    capsys.readouterr()
    with monkeypatch.context() as patched:
        patched.setattr(Evaluator, "score", damaged_disk)
        assert main(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("glpsearch: error: the fine-tune of the model with layers 2 removed")
    assert "OSError: [Errno 22] Invalid argument" in line
    assert main(args) == 0
    record = read(out)
    assert record["evaluations"]["failed"] == 0 and record["evaluations"]["cached"] >= 1
    assert scores_of(record) == scores_of(first) and record["order"] == first["order"]


def test_a_full_disk_when_releasing_a_claim_is_one_line_exit_2_and_keeps_every_result(
    searched, tiny_model, data, tmp_path, capsys, monkeypatch
):
    import diskcache

    _, first = searched
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = search_args(tiny_model, data, cache, out, "--remove", "1")
    delete = diskcache.Cache.delete

    def full(self, key, *rest, **kwargs):
        if str(key).startswith("claim/"):
            raise sqlite3.OperationalError("database or disk is full")
        return delete(self, key, *rest, **kwargs)

    capsys.readouterr()
    with monkeypatch.context() as patched:
        patched.setattr(diskcache.Cache, "delete", full)
        assert main(args) == 2  # not 1: that says every candidate of a depth failed
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"glpsearch: error: cannot write to the cache at {cache}: database or disk is full"
    )
    assert not out.exists()
    # the claim this process left is taken over as a dead process's would be
    monkeypatch.setattr("glpsearch.engine.core._dead", lambda owner: True)
    assert main(args) == 0
    record = read(out)
    assert record["evaluations"] == {"computed": 4, "cached": 1, "failed": 0}  # the first kept
    assert scores_of(record) == scores_of(first)


def test_a_failed_write_of_search_json_is_one_line_and_leaves_no_temporary_file(
    searched, tiny_model, data, tmp_path, capsys, monkeypatch
):
    cache, _ = searched
    out = tmp_path / "out"
    args = search_args(tiny_model, data, cache, out, "--remove", "1")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    capsys.readouterr()
    with monkeypatch.context() as patched:
        patched.setattr(os, "fsync", full)
        assert main(args) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"glpsearch: error: cannot write {out / 'search.json'}: No space left")
    assert list(out.iterdir()) == []  # no temporary file left behind
    assert main(args) == 0
    assert read(out)["evaluations"] == {"computed": 0, "cached": 5, "failed": 0}


def test_a_write_onto_a_folder_is_one_line_and_leaves_no_temporary_file(tmp_path):
    from glpsearch.report.records import write_search

    (tmp_path / "search.json").mkdir()
    with pytest.raises(UserError, match=f"cannot write {tmp_path / 'search.json'}"):
        write_search(tmp_path, {"order": [1]})
    assert [p.name for p in tmp_path.iterdir()] == ["search.json"]


def _rows(cache: Path) -> dict[str, str]:
    import diskcache

    with diskcache.Cache(str(cache)) as raw:
        return {k: raw[k] for k in raw.iterkeys() if str(k).startswith("score/")}


@pytest.mark.parametrize("damage", ['{"value": 0.5, "metric": "spear', '{"value": "high"}', "[]"])
def test_a_damaged_score_row_is_warned_about_recomputed_and_dropped_on_request(
    searched, tiny_model, data, tmp_path, capsys, monkeypatch, damage
):
    import diskcache

    cache = tmp_path / "cache"
    shutil.copytree(searched[0], cache)
    (key,) = [k for k in _rows(cache) if k.endswith("/0/")]  # the unpruned model's
    with diskcache.Cache(str(cache)) as raw:
        raw[key] = damage
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "250")
    assert main(["status", "--cache", str(cache)]) == 0
    shown = capsys.readouterr().out
    assert "unreadable" in shown and "1 unreadable row" in shown
    assert main(["status", "--cache", str(cache), "--check"]) == 0
    shown = capsys.readouterr().out
    assert f"unreadable: {key}" in shown and "--check --fix" in shown

    args = search_args(tiny_model, data, cache, tmp_path / "out", "--remove", "1")
    assert main(args) == 0
    (warning,) = capsys.readouterr().err.strip().splitlines()
    assert warning.startswith("glpsearch: warning: the cache at") and key in warning
    record = read(tmp_path / "out")
    assert record["evaluations"] == {"computed": 1, "cached": 4, "failed": 0}
    assert scores_of(record) == scores_of(searched[1])  # computed again, never used

    with diskcache.Cache(str(cache)) as raw:
        raw[key] = damage
    assert main(["status", "--cache", str(cache), "--check", "--fix"]) == 0
    assert "1 unreadable row; dropped" in capsys.readouterr().out
    assert key not in _rows(cache)
    assert main(["status", "--cache", str(cache), "--check"]) == 0
    assert "0 unreadable rows" in capsys.readouterr().out


# -- failed candidates, end to end -----------------------------------------------------------
def _status(cache: Path, capsys, monkeypatch) -> tuple[int, int]:
    """(scores, failures) that `glpsearch status` shows for the cache's only fingerprint."""
    monkeypatch.setenv("COLUMNS", "250")  # one table row on one line
    capsys.readouterr()
    assert main(["status", "--cache", str(cache)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "ratings" in line]
    assert len(rows) == 1, rows
    cells = [cell.strip() for cell in rows[0].strip().strip("│┃|").split("│")]
    return int(cells[-2]), int(cells[-1])


def test_when_every_candidate_diverges_the_search_says_so_and_exits_1(
    tiny_model, data, tmp_path, capsys, monkeypatch
):
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = search_args(tiny_model, data, cache, out, "--remove", "2", "--lr", "1e12")
    capsys.readouterr()
    assert main(args) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("glpsearch: error: every candidate with 1 layer removed failed")
    assert "training loss became nan" in line and str(out / "search.json") in line
    assert "--retry-failed" in line  # a cached failure says how to compute it again

    record = read(out)  # the record is still written, with every reason
    assert record["evaluations"] == {"computed": 5, "cached": 0, "failed": 5}
    assert record["order"] == [] and not (out / "layers.txt").exists()
    assert record["baseline"]["failure"].startswith("CandidateFailed: training loss became")
    assert [s["chosen"] for s in record["steps"]] == [None]
    for candidate in record["steps"][0]["candidates"]:
        assert candidate["score"] is None and "training loss became" in candidate["failure"]
    assert _status(cache, capsys, monkeypatch) == (0, 5)

    assert main(args) == 1  # failures are cached: no fine-tune to learn the same again
    assert read(out)["evaluations"] == {"computed": 0, "cached": 5, "failed": 5}
    assert main([*args, "--retry-failed"]) == 1  # asked to: all computed again
    assert read(out)["evaluations"] == {"computed": 5, "cached": 0, "failed": 5}
    assert _status(cache, capsys, monkeypatch) == (0, 5)


def test_out_of_memory_is_recorded_and_retry_failed_recomputes_only_the_failures(
    tiny_model, data, tmp_path, capsys, monkeypatch
):
    from glpsearch.model.evaluator import Evaluator

    reference = tmp_path / "reference"
    assert main(search_args(tiny_model, data, reference, reference / "out", "--remove", "1")) == 0
    expected = read(reference / "out")

    evaluate = Evaluator.score
    errors = {frozenset({1}): _oom, frozenset({2}): MemoryError}

    def crowded_gpu(self, removed, seed, progress=None):
        if (error := errors.get(frozenset(removed))) is not None:
            raise error()
        return evaluate(self, removed, seed, progress)

    cache, out = tmp_path / "cache", tmp_path / "out"
    args = search_args(tiny_model, data, cache, out, "--remove", "1")
    with monkeypatch.context() as patched:
        patched.setattr(Evaluator, "score", crowded_gpu)
        assert main(args) == 0  # two of four candidates failed: the search still has a result
    record = read(out)
    assert record["evaluations"] == {"computed": 5, "cached": 0, "failed": 2}
    failures = {tuple(c["removed"]): c["failure"] for c in record["steps"][0]["candidates"]}
    assert failures[(1,)].startswith("OutOfMemoryError: CUDA out of memory")
    assert failures[(2,)] == "MemoryError"
    assert failures[(0,)] is None and failures[(3,)] is None
    assert _status(cache, capsys, monkeypatch) == (3, 2)

    assert main(args) == 0
    assert read(out)["evaluations"] == {"computed": 0, "cached": 5, "failed": 2}
    assert main([*args, "--retry-failed"]) == 0  # the GPU is free again
    record = read(out)
    assert record["evaluations"] == {"computed": 2, "cached": 3, "failed": 0}
    assert scores_of(record) == scores_of(expected)
    assert record["order"] == expected["order"]
    assert _status(cache, capsys, monkeypatch) == (5, 0)


# -- stale results ----------------------------------------------------------------------------
def _changed_row(data: Path, folder: Path) -> list[str]:
    lines = data.read_text().splitlines(keepends=True)
    text, label = lines[5].rstrip("\n").rsplit(",", 1)
    lines[5] = f"{text},{float(label) + 0.25:.3f}\n"
    changed = folder / data.name  # the same name, so only the content differs
    changed.write_text("".join(lines))
    return ["--train", str(changed)]


def _changed_weights(model: Path, folder: Path) -> list[str]:
    from safetensors.torch import load_file, save_file

    copy = shutil.copytree(model, folder / model.name)
    (weights,) = copy.glob("*.safetensors")
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3
    save_file(tensors, weights, metadata={"format": "pt"})
    return ["--model", str(copy)]


CHANGES = {
    "--lr": lambda model, data, folder, monkeypatch: ["--lr", "2e-2"],
    "--epochs": lambda model, data, folder, monkeypatch: ["--epochs", "2"],
    "--seed": lambda model, data, folder, monkeypatch: ["--seed", "1"],
    "one training row": lambda model, data, folder, monkeypatch: _changed_row(data, folder),
    "model weights": lambda model, data, folder, monkeypatch: _changed_weights(model, folder),
    "evaluator version": lambda model, data, folder, monkeypatch: (
        monkeypatch.setattr("glpsearch.model.evaluator.EVALUATOR_VERSION", 999) or []
    ),
}


@pytest.fixture(scope="module")
def searched(tiny_model, data, tmp_path_factory):
    """A cache holding one finished 1-of-4 search (5 scores)."""
    root = tmp_path_factory.mktemp("stale")
    assert main(search_args(tiny_model, data, root / "cache", root / "out", "--remove", "1")) == 0
    return root / "cache", read(root / "out")


def test_the_same_settings_reuse_every_score(searched, tiny_model, data, tmp_path):
    cache, first = searched
    assert main(search_args(tiny_model, data, cache, tmp_path / "out", "--remove", "1")) == 0
    assert read(tmp_path / "out")["evaluations"] == {"computed": 0, "cached": 5, "failed": 0}
    assert scores_of(read(tmp_path / "out")) == scores_of(first)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_never_gets_an_old_score(
    change, searched, tiny_model, data, tmp_path, monkeypatch
):
    cache, first = searched
    extra = CHANGES[change](tiny_model, data, tmp_path, monkeypatch)
    args = search_args(tiny_model, data, cache, tmp_path / "out", "--remove", "1", *extra)
    assert main(args) == 0
    record = read(tmp_path / "out")
    assert record["evaluations"] == {"computed": 5, "cached": 0, "failed": 0}
    assert record["fingerprint"] != first["fingerprint"] or change == "--seed"


# -- kill -9 and Ctrl-C at many moments -------------------------------------------------------
# Runs glpsearch's own main() in a real process, paused at a chosen moment for the signal: right
# after the n-th score is written ("score"), at step 2 of the n-th fine-tune ("training"), or in
# the strategy's n-th step decision ("decision"). It starts up first (imports, a first load of
# the model and data) and then waits for a go file: all start up at once, then run in turn.
HOOKED = """
import os, sys, time
from pathlib import Path

import glpsearch.cli, glpsearch.report.display, glpsearch.report.records, glpsearch.report.tables
from glpsearch.config import DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.model.evaluator import Evaluator

model, data = os.environ["GLP_WARM"].split(os.pathsep)  # the slow first load, before the go
Evaluator(model, load_task(DataSpec(train=Path(data), regression=True)), TrainSettings())
kind, _, at = os.environ["GLP_PAUSE"].partition(":")
marker, go = Path(os.environ["GLP_MARKER"]), Path(os.environ["GLP_GO"])
calls = []


def pause():
    calls.append(1)
    if len(calls) == int(at):
        marker.write_text(kind)
        for _ in range(60_000):  # short sleeps: a signal that lands before one is not missed
            time.sleep(0.01)


if kind == "score":
    from glpsearch.store.cache import Store

    put = Store.put

    def written(self, kind, *args, **kwargs):
        put(self, kind, *args, **kwargs)
        if kind == "score":
            pause()

    Store.put = written
elif kind == "decision":
    from glpsearch.strategies import search as strategy_search

    best = strategy_search.best

    def deciding(scored):
        pause()
        return best(scored)

    strategy_search.best = deciding
elif kind == "training":
    from glpsearch.model.evaluator import Evaluator

    fine_tune = Evaluator.fine_tune

    def training(self, model, seed, progress, *partial):
        def step(done, total):
            if done == 2:
                pause()
            progress(done, total)

        fine_tune(self, model, seed, step, *partial)

    Evaluator.fine_tune = training
while not go.exists():
    time.sleep(0.01)
glpsearch.cli.run()
"""
KILL, CTRL_C = signal.SIGKILL, signal.SIGINT
# A greedy 3-of-4 search scores 10 sets: the full model, then 4, 3 and 2 candidates per depth.
KILL_POINTS = [
    (KILL, "random"),  # unhooked `python -m glpsearch`: a seeded moment after the first score
    (KILL, "score:1"),  # right after a score is written
    (KILL, "training:2"),  # inside the 2nd fine-tune of this run
    (CTRL_C, "decision:1"),  # choosing the first layer to remove
    (KILL, "score:2"),  # the next depth has begun: across a step boundary
    (CTRL_C, "training:1"),
    (KILL, "decision:2"),  # choosing the second layer
    (CTRL_C, "score:1"),
]
TOTAL = 10
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def stored(cache: Path) -> dict[str, str]:
    """Every score record in the cache by key, read without writing: a search may be running."""
    if not (cache / "cache.db").exists():
        return {}
    try:
        with closing(sqlite3.connect(cache / "cache.db", timeout=30)) as db:
            return dict(db.execute("SELECT key, value FROM Cache WHERE key LIKE 'score/%'"))
    except sqlite3.OperationalError:  # not set up yet
        return {}


@pytest.fixture
def spawn(tiny_model, data):
    """Starts searches in real processes (hooked, or plain `python -m glpsearch` for "random");
    kills any still running when the test ends, pass or fail."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], point: str, folder: Path) -> subprocess.Popen:
        command, env = [sys.executable, "-m", "glpsearch", *args], ENV
        if point != "random":
            folder.mkdir()
            command = [sys.executable, "-c", HOOKED, *args]
            env = {
                **ENV,
                "GLP_PAUSE": point,
                "GLP_MARKER": str(folder / "paused"),
                "GLP_GO": str(folder / "go"),
                "GLP_WARM": os.pathsep.join([str(tiny_model), str(data)]),
            }
        started.append(
            subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
            )
        )
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _wait(process: subprocess.Popen, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 90  # well below CLAIM_SECONDS: no waiting on dead claims
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"{what}: the search ended first: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in time")
        time.sleep(0.01)


def _more_scores_than(cache: Path, count: int) -> Callable[[], bool]:
    return lambda: len(stored(cache)) > count


@pytest.fixture(scope="module")
def uninterrupted(tiny_model, data, tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    assert main(search_args(tiny_model, data, root / "cache", root / "out", "--remove", "3")) == 0
    record = read(root / "out")
    assert record["evaluations"]["computed"] == TOTAL
    return record


def test_kill_and_ctrl_c_at_many_moments_lose_nothing(
    data, uninterrupted, spawn, tiny_model, tmp_path
):
    cache = tmp_path / "cache"
    args = search_args(tiny_model, data, cache, tmp_path / "out", "--remove", "3")
    rng = random.Random(4)
    runs = [tmp_path / f"run{i}" for i in range(len(KILL_POINTS))]
    processes = [spawn(args, point, run) for (_, point), run in zip(KILL_POINTS, runs, strict=True)]
    written: dict[str, str] = {}
    for i, ((signum, point), process) in enumerate(zip(KILL_POINTS, processes, strict=True)):
        what = f"kill point {i} ({signum.name} at {point})"
        if point == "random":  # it runs at once: first, while the hooked ones start up
            _wait(process, _more_scores_than(cache, len(written)), what)
            time.sleep(rng.uniform(0.0, 0.1))  # at most a candidate or two later
        else:
            (runs[i] / "go").touch()
            _wait(process, (runs[i] / "paused").exists, what)
        assert process.poll() is None, f"{what}: the search ended first"
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=60)
        if signum == CTRL_C:
            assert process.returncode == 130, (what, stderr)
            assert stderr.strip().splitlines() == [
                "glpsearch: interrupted; every finished evaluation is cached, "
                "run the same command again to resume"
            ], what
        else:
            assert process.returncode == -signal.SIGKILL, (what, stderr)

        with Store(cache) as store:  # opens without error, and holds no failure
            (summary,) = store.summaries()
            assert summary.failures == 0, what
        with closing(sqlite3.connect(cache / "cache.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)], what
        now = stored(cache)
        kept = {key: now.get(key) for key in written}
        assert kept == written, f"{what}: a score written before was lost or recomputed"
        print(f"{what}: {len(now) - len(written)} new scores, {len(now)} in all")
        written = now

    assert main(args) == 0  # the last run, to the end
    record = read(tmp_path / "out")
    assert record["evaluations"] == {
        "computed": TOTAL - len(written),
        "cached": len(written),
        "failed": 0,
    }
    final = stored(cache)
    assert len(final) == TOTAL
    assert {key: final[key] for key in written} == written  # no finished fine-tune redone
    assert record["order"] == uninterrupted["order"]
    assert scores_of(record) == scores_of(uninterrupted)
