from __future__ import annotations

import pytest

from glpsearch.strategies import REGISTRY, StrategyOptions, make

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
