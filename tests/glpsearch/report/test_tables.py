"""Tables, CSV and plots from saved records: no torch, no fine-tuning, no cache."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from glpsearch.cli import main
from glpsearch.errors import UserError
from glpsearch.report import tables as report

PNG = b"\x89PNG\r\n\x1a\n"


def candidate(removed: list[int], score: float | None, cached: bool = False) -> dict:
    return {
        "removed": removed,
        "score": score,
        "failure": None if score is not None else "RuntimeError: out of memory",
        "cached": cached,
        "seconds": 0.0 if cached else 10.0,
        "train_seconds": 9.0,
    }


def step(depth: int, chosen: list[int] | None, *candidates: dict) -> dict:
    scores = [c["score"] for c in candidates if c["removed"] == chosen]
    return {"depth": depth, "chosen": chosen, "score": scores[0] if scores else None,
            "candidates": list(candidates)}  # fmt: skip


HEADER = {
    "model": "/models/minilm",
    "task": "rotten-tomatoes",
    "metric": "accuracy",
    "n_layers": 4,
    "baseline": candidate([], 0.80),
    "wall_seconds": 42.0,
}
GREEDY = {
    "strategy": "greedy",
    "order": [3, 1],
    "steps": [
        step(1, [3], *(candidate([i], 0.70 + i / 100) for i in range(4))),
        step(2, [1, 3], candidate([0, 3], 0.60), candidate([1, 3], 0.65), candidate([2, 3], None)),
    ],
}
TOP_DROP = {
    "strategy": "top-drop",
    "order": [3, 2],
    "steps": [
        step(1, [3], candidate([3], 0.73, cached=True)),
        step(2, [2, 3], candidate([2, 3], None, cached=True)),
    ],
}
COMPARE = {
    **HEADER,
    "strategies": [GREEDY, TOP_DROP],
    "evaluations": {"computed": 8, "cached": 2, "failed": 1, "requested": 9, "distinct": 7,
                    "shared": 2},
}  # fmt: skip
SEARCH = {**HEADER, **GREEDY, "evaluations": {"computed": 8, "cached": 0, "failed": 1}}


def test_rows_count_what_each_depth_computed_and_found_cached():
    rows = report.rows(COMPARE)
    assert [(r.strategy, r.depth) for r in rows] == [
        ("greedy", 1), ("greedy", 2), ("top-drop", 1), ("top-drop", 2),
    ]  # fmt: skip
    greedy_2, top_1, top_2 = rows[1], rows[2], rows[3]
    assert (greedy_2.removed, greedy_2.score, greedy_2.candidates) == ((1, 3), 0.65, 3)
    assert (greedy_2.computed, greedy_2.cached, greedy_2.failed, greedy_2.seconds) == (3, 0, 1, 30)
    assert (top_1.computed, top_1.cached, top_1.seconds) == (0, 1, 0)
    assert top_2.removed == (2, 3) and top_2.score is None


def test_a_search_record_reads_as_a_comparison_of_one():
    assert report.rows(SEARCH) == report.rows({**HEADER, "strategies": [GREEDY]})


def test_csv_has_the_unpruned_model_then_a_row_per_strategy_and_depth():
    table = list(csv.DictReader(io.StringIO(report.csv_text(COMPARE))))
    assert [(r["strategy"], r["layers_removed"]) for r in table] == [
        ("unpruned", "0"), ("greedy", "1"), ("greedy", "2"), ("top-drop", "1"), ("top-drop", "2"),
    ]  # fmt: skip
    assert table[2]["removed"] == "1 3" and float(table[2]["delta"]) == pytest.approx(-0.15)
    assert table[4]["score"] == "" and table[4]["delta"] == ""
    assert (table[3]["computed"], table[3]["cached"]) == ("0", "1")


def test_csv_says_which_noise_judged_each_lead_and_how_a_race_ended():
    """A raced, paired-judged step's row carries its paired noise, the rule that decided and the
    race's end; a step judged before pairing says unpaired; older records leave them empty."""
    raced = {**step(1, [3], candidate([3], 0.74), candidate([1], 0.72)), "lead": 0.02,
             "noise": 0.03, "lead_inside_noise": False, "paired_noise": 0.011,
             "noise_rule": "paired", "race": "lead"}  # fmt: skip
    unpaired = {**step(2, [1, 3], candidate([1, 3], 0.70), candidate([0, 3], 0.69)),
                "lead": 0.01, "noise": 0.03, "lead_inside_noise": True, "paired_noise": None,
                "noise_rule": "unpaired"}  # fmt: skip
    judged = {**HEADER, "strategy": "greedy", "order": [3, 1], "steps": [raced, unpaired]}
    table = list(csv.DictReader(io.StringIO(report.csv_text(judged))))
    assert [(r["paired_noise"], r["noise_rule"], r["race"]) for r in table] == [
        ("", "", ""), ("0.011", "paired", "lead"), ("", "unpaired", ""),
    ]  # fmt: skip
    old = list(csv.DictReader(io.StringIO(report.csv_text(COMPARE))))
    assert {(r["paired_noise"], r["noise_rule"], r["race"]) for r in old} == {("", "", "")}


def test_table_shows_scores_sets_costs_and_the_unpruned_reference():
    console = Console(record=True, width=140)
    console.print(report.table(COMPARE))
    shown = console.export_text()
    assert "minilm on rotten-tomatoes" in shown and "/models" not in shown
    for text in ("greedy", "top-drop", "0.6500", "{1, 3}", "failed", "3 new · 0 cached", "30 s"):
        assert text in shown
    assert "unpruned: 0.8000" in shown
    line = report.totals(COMPARE)
    assert "8 computed, 2 from cache, 1 failed" in line and "(2 fine-tunes shared)" in line


def test_plot_is_a_png():
    assert report.plot(COMPARE).startswith(PNG)


def test_report_redraws_a_saved_comparison_without_torch_or_a_cache(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "compare.json").write_text(json.dumps(COMPARE))
    code = (
        "import sys; from glpsearch.cli import main; code = main(['report', sys.argv[1]]); "
        "assert 'torch' not in sys.modules, 'report imported torch'; sys.exit(code)"
    )
    env = {**os.environ, "GLPSEARCH_CACHE": str(tmp_path / "cache"), "COLUMNS": "140"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "top-drop" in done.stdout and "compare.png" in done.stdout
    assert (out / "compare.png").read_bytes().startswith(PNG)
    assert len((out / "compare.csv").read_text().splitlines()) == 1 + 1 + 4
    assert not (tmp_path / "cache").exists()


def test_report_redraws_a_search_folder_as_search_files(tmp_path, capsys):
    (tmp_path / "search.json").write_text(json.dumps(SEARCH))
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "search.png").read_bytes().startswith(PNG)
    assert "greedy" in (tmp_path / "search.csv").read_text()
    assert "greedy" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "no compare.json or search.json in"),
        ({"compare.json": "{not json"}, "cannot read"),
        ({"search.json": '{"steps": []}'}, "is not a glpsearch record (no model, task"),
    ],
)
def test_report_of_a_folder_without_a_record_is_one_line(tmp_path, capsys, files, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(UserError) as raised:
        report.redraw(tmp_path)
    assert expected in str(raised.value)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err
    assert not list(Path(tmp_path).glob("*.png"))
