"""The canonical text key of a removed-layer set, and the Key of one fine-tune."""

from __future__ import annotations

import pytest

from glpsearch.store.keys import Key, canonical, parse_canonical


def test_sorts_and_deduplicates() -> None:
    assert canonical([11, 0, 7, 7, 0]) == "0,7,11"


def test_sorts_numerically_not_as_text() -> None:
    assert canonical([10, 9, 2]) == "2,9,10"


def test_empty_set_is_empty_string() -> None:
    assert canonical([]) == ""
    assert canonical(frozenset()) == ""


def test_order_of_discovery_does_not_matter() -> None:
    assert canonical([3, 1, 2]) == canonical((2, 3, 1)) == canonical({1, 2, 3})
    assert canonical(iter([5, 4])) == "4,5"


@pytest.mark.parametrize(
    "bad",
    [[-1], [0, -3], [True], [False, 2], [1.0], ["1"], [None], [2.5]],
    ids=["negative", "negative-among-valid", "true", "false", "float", "str", "none", "frac"],
)
def test_rejects_non_layer_indices(bad: list) -> None:
    with pytest.raises(ValueError, match="non-negative integers"):
        canonical(bad)


@pytest.mark.parametrize("layers", [set(), {0}, {0, 7, 11}, {23, 1, 5, 12}, set(range(48))])
def test_parse_round_trips(layers: set[int]) -> None:
    text = canonical(layers)
    assert parse_canonical(text) == frozenset(layers)
    assert canonical(parse_canonical(text)) == text


def test_parse_returns_frozenset() -> None:
    assert parse_canonical("0,7,11") == frozenset({0, 7, 11})
    assert isinstance(parse_canonical(""), frozenset)


def test_key_text_is_the_format_existing_caches_hold() -> None:
    """Caches written before Key existed must keep answering: same row names."""
    assert Key("fp", 0, {11, 0, 7}).text("score") == "score/fp/0/0,7,11"
    assert Key("fp", 3, set()).text("failure") == "failure/fp/3/"
    assert Key("fp", 1, [2], 0.25).text("claim") == "claim/fp/1/2@0.25"
    assert Key("fp", 1, [2], 1.0) == Key("fp", 1, (2,))  # the full fine-tune: one key


@pytest.mark.parametrize("removed", [[-1], [True], ["1"]])
def test_a_key_refuses_bad_layers(removed: list) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Key("fp", 0, removed)
