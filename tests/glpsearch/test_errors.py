"""first_line: a library's error quoted in one line of ours, cut where each caller cuts it."""

from __future__ import annotations

from glpsearch.errors import first_line


def test_the_first_line_of_a_message_cut_at_the_limit():
    assert first_line(ValueError("  bad file  \nsecond line"), 200) == "bad file  "
    assert first_line(ValueError("x" * 500), 200) == "x" * 200


def test_joined_keeps_every_line_of_the_message():
    error = ValueError("error generating the dataset\n\n  Expected 5 fields, saw 6  \n")
    assert (
        first_line(error, 300, joined=True)
        == "error generating the dataset Expected 5 fields, saw 6"
    )
    assert first_line(ValueError("ab\ncd"), 4, joined=True) == "ab c"


def test_a_message_that_says_nothing_is_its_types_name():
    assert first_line(MemoryError(), 200) == "MemoryError"
    assert first_line(OSError(" \n "), 300, joined=True) == "OSError"
