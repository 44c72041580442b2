"""`glpsearch pick` on a hand-written out folder whose numbers give known answers, and once on a
real one, through to the export it prints."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from glpsearch.cli import main
from glpsearch.cli.arguments import build_parser


def pick(folder: Path, capsys, *extra: str) -> tuple[int, str, str]:
    code = main(["pick", "--from", str(folder), *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_max_latency_picks_the_best_held_out_score_within_it(hand_folder, capsys):
    code, out, _ = pick(hand_folder(), capsys, "--max-latency-ms", "6")
    assert code == 0
    assert (
        "scores: held-out accuracy (compare.json); latency: cpu, batch 1, sequence length 12" in out
    )
    assert "pick: greedy with 2 layers removed (3 1): score 0.7600, 5.20 ms per batch, 1.92x" in out


def test_dev_means_from_evaluate_json_take_precedence(hand_folder, capsys):
    code, out, _ = pick(hand_folder(evaluate=True), capsys, "--max-latency-ms", "6")
    assert code == 0
    assert "scores: dev accuracy, mean ± std of 2 seeds (evaluate.json)" in out
    assert "pick: top-drop with 2 layers removed (3 2): score 0.7500, 5.00 ms" in out


@pytest.mark.parametrize(
    ("evaluate", "score", "chosen"),
    [
        (False, "0.77", "greedy with 1 layer removed (3): score 0.7800, 7.50 ms"),
        (True, "0.81", "the unpruned model: score 0.8200, 10.00 ms"),
    ],
)
def test_min_score_picks_the_fastest_that_reaches_it(hand_folder, capsys, evaluate, score, chosen):
    code, out, _ = pick(hand_folder(evaluate=evaluate), capsys, "--min-score", score)
    assert code == 0 and f"pick: {chosen}" in out


def test_the_batch_size_picks_its_own_timings(hand_folder, capsys):
    code, out, _ = pick(hand_folder(), capsys, "--max-latency-ms", "150", "--batch-size", "32")
    assert code == 0 and "greedy with 1 layer removed (3): score 0.7800, 150.00 ms" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--max-latency-ms", "4"], "no model runs within 4 ms on cpu at batch 1: the fastest, "
         "top-drop with 2 layers removed (3 2), takes 5.00 ms"),
        (["--min-score", "0.9"], "no model scores 0.9 or more (held-out accuracy (compare.json)): "
         "the best, the unpruned model, scores 0.8000"),
        (["--min-score", "0.5", "--device", "cuda"], "speed.json has no scored model timed on "
         "cuda at batch 1 (it has cpu at batch 1, cpu at batch 32)"),
    ],
)  # fmt: skip
def test_nothing_meeting_the_target_is_one_line_naming_the_closest(
    hand_folder, capsys, extra, message
):
    code, out, err = pick(hand_folder(), capsys, *extra)
    assert (code, out) == (2, "")
    assert err.startswith(f"glpsearch: error: {message}") and err.count("\n") == 1


def test_without_speed_json_it_says_to_run_speed_first(hand_folder, capsys):
    folder = hand_folder(speed=False)
    code, _, err = pick(folder, capsys, "--min-score", "0.5")
    assert code == 2
    expected = f"no speed.json in {folder}; run `glpsearch speed --from {folder}` first"
    assert err == f"glpsearch: error: {expected}\n"


def test_the_printed_export_command_is_one_glpsearch_accepts(hand_folder, capsys):
    _, out, _ = pick(hand_folder(), capsys, "--max-latency-ms", "6")
    command = out.splitlines()[-1].removeprefix("export it: ")
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert (args.command, args.from_dir, args.strategy, args.layers_removed, args.finetune) == (
        "export", hand_folder(), "greedy", 2, True,
    )  # fmt: skip


def test_pick_then_export_on_a_real_folder(timed_out, task_file, tmp_path, capsys):
    code, out, _ = pick(timed_out, capsys, "--max-latency-ms", "10000", "--batch-size", "4")
    assert code == 0
    command = shlex.split(out.splitlines()[-1].removeprefix("export it: "))
    exported = tmp_path / "model"
    index = command.index("--out")
    command[index + 1] = str(exported)
    assert main([*command[1:], "--validation", str(task_file), "--quiet"]) == 0
    facts = json.loads((exported / "glpsearch.json").read_text())
    assert facts["finetuned"] is not None and facts["speed"]["from"].endswith("speed.json")
