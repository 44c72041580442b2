"""Racing over seeds: more seeds only for the candidates a step cannot yet tell apart.

A seed changes a fine-tune's score by about as much as the best and second-best candidates of
a step often differ, yet most candidates are clearly out after one seed. So every candidate
starts with the run's seeds (one, usually); while the step's leader and any rival lie inside the
noise of their difference (strategies.noise.lead_noise), the leader and those rivals get one
more seed each (a lagging one is first brought level with the most seeded), up to
`max_seeds`. The step is decided when the leader clears every rival, or at the cap, where the
tie rule chooses among those still inside the noise. Each seed is a fine-tune of its own in the
cache, so a re-run replays the same requests and computes nothing. One implementation for
every judge that races: the default (greedy, beam, ...) and greedy-halving's last rung.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from glpsearch.strategies.base import Evaluate, Layers, best, tie_rule
from glpsearch.strategies.errors import OptionError
from glpsearch.strategies.noise import lead_noise

Scored = tuple[tuple[Layers, float | None], ...]


@dataclass(frozen=True)
class Decision:
    """A judged step: every candidate's final score (in the order asked), the one kept, and how
    it was decided ("lead" or "cap"; None when not raced)."""

    scored: Scored
    chosen: Layers | None
    score: float | None
    race: str | None = None


def check_max_seeds(max_seeds: int | None) -> None:
    """Refuse a cap racing cannot run with (None: no racing)."""
    if max_seeds is not None and (isinstance(max_seeds, bool) or not isinstance(max_seeds, int)):
        raise OptionError(f"the most seeds must be a whole number, got {max_seeds!r}")
    if max_seeds is not None and max_seeds < 1:
        raise OptionError(f"the most seeds must be at least 1, got {max_seeds}")


def race(
    scored: Sequence[tuple[Layers, float | None]],
    evaluate: Evaluate,
    max_seeds: int,
    budget: float = 1.0,
) -> Decision:
    """Keep one of `scored` (full fine-tunes at `budget`) as the module says, each round one
    `evaluate` call for the leader and its rivals; with fewer than two valid scores there is
    no race: the best, as `best` says."""
    if sum(score is not None for _, score in scored) < 2:
        winner = best(scored)
        return Decision(tuple(scored), *(winner if winner is not None else (None, None)))
    scores = dict(scored)
    # the seeds each set was asked for: counted here, so a scorer that ignores `seeds` (or
    # fails a set on a new seed) cannot keep a race going
    given = {layers: getattr(score, "seeds", 1) for layers, score in scores.items()}
    while True:
        leader, rivals = _contest(scores)
        final = tuple((layers, scores[layers]) for layers, _ in scored)
        if leader is None or not rivals:  # every raced set failed a new seed, or one led
            return Decision(final, leader, None if leader is None else scores[leader], "lead")
        tied = [leader, *rivals]
        counts = [given[layers] for layers in tied]
        seeds = max(counts) + (min(counts) == max(counts))
        if seeds > max_seeds:
            chosen, score = tie_rule([(layers, scores[layers]) for layers in tied])
            return Decision(final, chosen, score, "cap")
        scores.update(zip(tied, evaluate(tied, budget=budget, seeds=seeds), strict=True))
        given.update((layers, seeds) for layers in tied)


def _contest(scores: dict[Layers, float | None]) -> tuple[Layers | None, list[Layers]]:
    """The leader (the best score; of equal ones, the highest layers) and every rival inside the
    noise of its lead over them."""
    valid = [(layers, score) for layers, score in scores.items() if score is not None]
    if not valid:
        return None, []
    leader, top = max(valid, key=lambda item: (item[1], sorted(item[0], reverse=True)))
    rivals = [
        layers
        for layers, score in valid
        if layers != leader and top - score <= lead_noise(top, score)
    ]
    return leader, rivals
