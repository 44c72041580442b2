"""A fine-tune's plan: its budget is what it computes, its checkpoint paths only how."""

from __future__ import annotations

from glpsearch.engine.core import Job
from glpsearch.scoring.plan import FULL, Plan


def test_plans_that_differ_only_in_checkpoints_are_the_same_fine_tune():
    continued = Plan(0.5, resume="/c/0.25.ckpt", save="/c/0.5.ckpt")
    assert continued == Plan(0.5) and hash(continued) == hash(Plan(0.5))
    assert Job(frozenset({1}), 0, continued) == Job(frozenset({1}), 0, Plan(0.5))
    assert Job(frozenset({1}), 0, Plan(0.5)) != Job(frozenset({1}), 0)
    assert Job(frozenset({1}), 0, continued).budget == 0.5


def test_only_the_whole_fine_tune_from_its_start_is_plain():
    assert FULL.plain and Plan(1.0).plain
    assert not Plan(0.5).plain
    assert not Plan(resume="/c/0.5.ckpt").plain  # a full run continuing a checkpoint


def test_a_plan_stops_after_its_fraction_of_the_steps_and_at_least_one():
    assert [Plan(b).stop(26) for b in (0.25, 0.5, 1.0)] == [6, 13, 26]
    assert Plan(0.001).stop(26) == 1
