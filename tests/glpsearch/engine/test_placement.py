"""How many workers each device gets: `--jobs N` in turn over the devices, `--jobs auto` from
free GPU memory (a fake probe stands in for the GPU) and one on a CPU."""

from __future__ import annotations

import pytest

from glpsearch.cli.arguments import build_parser
from glpsearch.cli.common import told
from glpsearch.config import DataSpec, TrainSettings
from glpsearch.engine import placement
from glpsearch.engine.parallel import Recipe
from glpsearch.errors import UserError
from glpsearch.runs.assemble import make_runner

GiB = 2**30


def _free(table: dict[str, float]):
    return lambda device: int(table[device] * GiB)


def test_a_gpu_holds_as_many_candidates_as_its_free_memory_fits():
    need = 2 * GiB  # each worker: 2 GiB * 1.25 headroom + a 600 MiB CUDA context = 3.09 GiB
    counts = placement.workers_per_device(
        ["cuda:0", "cuda:1"], need, _free({"cuda:0": 20, "cuda:1": 7}), cores=64
    )
    assert counts == {"cuda:0": 6, "cuda:1": 2}


def test_a_gpu_too_full_for_one_still_gets_one_worker_and_a_cpu_gets_one():
    counts = placement.workers_per_device(
        ["cuda:0", "cpu"], 8 * GiB, _free({"cuda:0": 1}), cores=64
    )
    assert counts == {"cuda:0": 1, "cpu": 1}


def test_workers_per_gpu_are_bounded_by_the_cores_that_drive_them():
    free = _free({"cuda:0": 80, "cuda:1": 80})
    assert placement.workers_per_device(["cuda:0"], GiB, free, cores=16) == {"cuda:0": 16}
    both = placement.workers_per_device(["cuda:0", "cuda:1"], GiB, free, cores=16)
    assert both == {"cuda:0": 8, "cuda:1": 8}


def test_seats_take_the_devices_in_turn():
    assert placement.seats({"cuda:0": 3, "cuda:1": 1}) == ("cuda:0", "cuda:1", "cuda:0", "cuda:0")
    assert placement.seats({"cpu": 1}) == ("cpu",)


def test_jobs_auto_on_a_cpu_computes_in_this_process(tiny_model, task_file):
    args = told(build_parser().parse_args(["search", "--jobs", "auto", "--device", "cpu"]))
    recipe = Recipe(str(tiny_model), DataSpec(train=task_file), TrainSettings())
    assert make_runner(args.work, recipe, "cpu") is None  # one worker: a fine-tune uses every core


@pytest.mark.parametrize(
    ("value", "said"),
    [("0", "0 must be >= 1"), ("many", "'many' is neither a count nor auto"), ("2.5", "'2.5'")],
)
def test_jobs_is_a_count_or_auto(value, said, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["search", "--jobs", value])
    assert exit_.value.code == 2
    assert f"argument --jobs: {said}" in capsys.readouterr().err


def test_jobs_auto_sizes_local_workers_only(tiny_model, task_file):
    args = ["search", "--jobs", "auto", "--backend", "dask", "--scheduler", "tcp://host:8786"]
    recipe = Recipe(str(tiny_model), DataSpec(train=task_file), TrainSettings())
    with pytest.raises(UserError, match="--jobs auto"):
        make_runner(told(build_parser().parse_args(args)).work, recipe, "cpu")
