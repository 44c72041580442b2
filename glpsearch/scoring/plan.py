"""How one fine-tune is to run: how much of it, which checkpoint it continues, where it leaves one.

One value from the engine's `Job` through `compute` and the workers to the evaluator's
fine-tune, instead of three keyword arguments at each level. No torch: the engine imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    """Train for the first `budget` of the full run's optimizer steps (the learning-rate
    schedule still spans the full run), continuing the checkpoint `resume` when one is there and
    leaving one at `save` when stopping short of the full run. What a fine-tune computes
    depends on its budget alone: the paths say how it gets there, so plans that differ only in
    them are equal (as the `Job`s that hold them are)."""

    budget: float = 1.0
    resume: str | None = field(default=None, compare=False)
    save: str | None = field(default=None, compare=False)

    @property
    def plain(self) -> bool:
        """The whole fine-tune from its start, touching no checkpoint: the only plan a scorer
        that never trains partially is given."""
        return self.budget == 1.0 and self.resume is None and self.save is None

    def stop(self, total: int) -> int:
        """The optimizer step a fine-tune of `total` steps stops after: at least the first."""
        return min(total, max(1, round(self.budget * total)))


FULL = Plan()
