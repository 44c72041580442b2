"""Greedy pruning with successive halving inside each step (multi-fidelity greedy).

Greedy fine-tunes every candidate of a step fully, though most are clearly worse long before the
end. Here each step's candidates first get a short fine-tune (`min_budget` of the full run's
steps); the best 1/`eta` of them continue to `eta` times that budget, and so on until the last
survivors get the full fine-tune, whose best is the step's choice. Short fine-tunes are ranked
by held-out loss where the evaluator reports it: early on most candidates still predict the
majority class, so their metric ties, while the loss already tells them apart. A partial
fine-tune is the first part of the full one, so the engine continues it from its checkpoint
rather than starting over, and a finalist's full score is the very score greedy would get (they
share the cache).

The price is that a short fine-tune can rank candidates differently from a full one, and then
the step may keep a different layer than greedy would; each StepResult records the budget every
candidate reached, so a search's record shows where that happened. With `max_seeds`, the
finalists race over seeds as greedy's candidates do (strategies.racing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from glpsearch.strategies.base import Evaluate, Layers, StepResult, best, top
from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.greedy import Greedy
from glpsearch.strategies.racing import race


@dataclass
class Halving(Greedy):
    """Greedy's proposal, judged by successive halving."""

    name = "greedy-halving"
    reads = frozenset({"min_budget", "eta", "max_seeds"})
    ladder: list[float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.ladder = rungs(self.options.min_budget, self.options.eta)

    def judge(self, depth: int, candidates: Sequence[Layers], evaluate: Evaluate) -> StepResult:
        return halve(
            depth, candidates, evaluate, self.ladder, self.options.eta, self.options.max_seeds
        )


# The shortest fine-tune trusted to rank candidates. bench/halving.py (all-MiniLM-L6, 3 steps
# x 3 seeds per task, rungs ranked by loss): on the embedded task, rungs of 27 steps lost
# 0.027-0.044 accuracy against greedy's choice on average, rungs of 13 steps 0.007 and of 54
# steps nothing; on an SST-2 subset, rungs of 27 and 54 steps lost 0.005-0.006. The one rung
# that misranked badly was under 50 steps, none over it did (held-out accuracy's standard
# error is about 0.02 on both tasks), so 50 is a cautious floor, not a sharp threshold.
MIN_RUNG_STEPS = 50


def floor_budget(min_budget: float, eta: int, total_steps: int) -> float:
    """`min_budget`, raised to the shortest rung of its ladder with at least MIN_RUNG_STEPS
    optimizer steps in a fine-tune of `total_steps`: 1.0 (greedy itself) when none has."""
    for budget in rungs(min_budget, eta):
        if round(budget * total_steps) >= MIN_RUNG_STEPS:
            return budget
    return 1.0


def rungs(min_budget: float, eta: int) -> list[float]:
    """The budgets of successive halving, smallest first: 1, 1/eta, 1/eta^2, ... down to the
    smallest not under `min_budget`, so the last rung is always the full fine-tune."""
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise OptionError(f"eta must be an integer of at least 2, got {eta!r}")
    if not 0.0 < min_budget <= 1.0:
        raise OptionError(f"the minimum budget must be a fraction in (0, 1], got {min_budget!r}")
    ladder = [1.0]
    while ladder[-1] / eta >= min_budget:
        ladder.append(ladder[-1] / eta)
    return ladder[::-1]


def halve(
    depth: int,
    candidates: Sequence[Layers],
    evaluate: Evaluate,
    ladder: list[float],
    eta: int,
    max_seeds: int | None = None,
) -> StepResult:
    """One step of successive halving: each rung scores the survivors in one `evaluate` call
    and keeps the best 1/eta of them (at least one; failed ones never); a lone survivor goes
    straight to the full budget. The step chooses the best of the full-budget scores (the
    metric, as greedy's), raced over seeds up to `max_seeds` as greedy's (strategies.racing)."""
    reached: dict[Layers, tuple[float, float | None]] = {}
    alive = list(candidates)
    for budget in ladder:
        if len(alive) == 1:
            budget = ladder[-1]
        scored = list(zip(alive, evaluate(alive, budget=budget), strict=True))
        reached.update((layers, (budget, score)) for layers, score in scored)
        if budget == ladder[-1]:
            break
        alive = [layers for layers, _ in top(by_loss(scored), max(1, len(alive) // eta))]
        if not alive:  # every candidate of this rung failed
            break
    final = [(layers, score) for layers, (budget, score) in reached.items() if budget == 1.0]
    if max_seeds is None:
        winner = best(final)
        chosen, score = winner if winner is not None else (None, None)
        decided = None
    else:
        raced = race(final, evaluate, max_seeds)
        reached.update((layers, (1.0, score)) for layers, score in raced.scored)
        chosen, score, decided = raced.chosen, raced.score, raced.race
    return StepResult(
        depth,
        tuple((layers, reached[layers][1]) for layers in candidates),
        chosen,
        score,
        tuple(reached[layers][0] for layers in candidates),
        decided,
    )


def by_loss(scored: list[tuple[Layers, float | None]]) -> list[tuple[Layers, float | None]]:
    """Each score replaced by its negated held-out loss (higher is better, as `top` wants), when
    every valid score carries one; otherwise the scores as they are, never a mix of the two."""
    losses = [getattr(score, "loss", None) for _, score in scored if score is not None]
    if not losses or None in losses:
        return scored
    return [(layers, None if score is None else -score.loss) for layers, score in scored]
