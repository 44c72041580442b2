from __future__ import annotations

from dataclasses import fields

import pytest

from glpsearch.strategies import REGISTRY, StrategyOptions, make, reading

NAMES = [
    "greedy", "greedy-halving", "beam", "random", "exhaustive", "top-drop", "bottom-drop",
    "alternate", "alternate-even", "symmetric", "block-influence",
]  # fmt: skip


def test_every_strategy_is_registered_under_its_own_name():
    assert sorted(REGISTRY) == sorted(NAMES)
    assert all(make(name).name == name for name in NAMES)


def test_make_passes_the_options():
    assert make("beam", StrategyOptions(beam_width=5)).options.beam_width == 5


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown strategy 'nope'; choose from alternate, "):
        make("nope")


def test_each_strategy_declares_the_options_it_reads():
    known = {option.name for option in fields(StrategyOptions)}
    assert all(REGISTRY[name].reads <= known for name in NAMES)
    assert reading("ranking", NAMES) == ["block-influence"]
    assert reading("min_budget", NAMES) == ["greedy-halving"]
    assert reading("max_evaluations", NAMES) == ["random", "exhaustive"]
    assert reading("ranking", ["greedy", "top-drop"]) == []
