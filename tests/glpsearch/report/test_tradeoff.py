"""tradeoff.png: drawn from an out folder with speed.json, by `glpsearch report` too."""

from __future__ import annotations

import pytest

from glpsearch.cli import main
from glpsearch.report import tradeoff
from glpsearch.report.outdir import OutDir

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("evaluate", [False, True])
def test_the_plot_is_drawn_with_held_out_or_dev_scores(hand_folder, evaluate):
    folder = OutDir.read(hand_folder(evaluate=evaluate))
    written = tradeoff.draw(folder)
    assert written == folder.path / "tradeoff.png"
    assert written.read_bytes().startswith(PNG)


def test_without_speed_json_there_is_nothing_to_draw(hand_folder):
    assert tradeoff.draw(OutDir.read(hand_folder(speed=False))) is None


def test_report_redraws_it_when_the_folder_has_speed_json(hand_folder, capsys):
    bare = hand_folder(speed=False)
    assert main(["report", str(bare)]) == 0
    assert not (bare / "tradeoff.png").exists()
    timed = hand_folder(speed=True)
    assert main(["report", str(timed)]) == 0
    assert f"wrote {timed / 'tradeoff.png'}" in capsys.readouterr().out.replace("\n", "")
    assert (timed / "tradeoff.png").read_bytes().startswith(PNG)
