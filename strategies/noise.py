"""The noise of a lead: how far apart two candidates' scores must lie to mean they differ.

Every candidate of a search is scored on the same held-out examples, so what decides a lead is
the standard error of the *difference* of two scores, paired example by example: two candidates
that get mostly the same examples right differ far less by chance than either score's own
standard error says. Stdlib only: the strategies race with it (strategies.racing), and the
records judge each step's lead with it (glpsearch.report.records, glpsearch.scoring.reference).
"""

from __future__ import annotations

import math
import statistics

from glpsearch.strategies.base import Examples


def paired_se(a: Examples, b: Examples) -> float | None:
    """The held-out standard error of score a - score b, the examples paired; None when the two
    do not pair (not the same kind or length: scored on other examples or resamples).

    For per-example correctness, sqrt(pvariance(d) / n) of the per-example differences d (for a
    single score against all-wrong, the binomial sqrt(p(1-p)/n)); for bootstrap replicates, the
    sample standard deviation of their differences (a paired bootstrap: the same resamples)."""
    if a.bootstrap != b.bootstrap or len(a.values) != len(b.values) or not a.values:
        return None
    differences = [x - y for x, y in zip(a.values, b.values, strict=True)]
    if a.bootstrap:
        return statistics.stdev(differences) if len(differences) > 1 else 0.0
    return math.sqrt(statistics.pvariance(differences) / len(differences))


def seed_se(a: float, b: float) -> float:
    """The standard error of a - b from the spread over seeds: sqrt(va/ka + vb/kb), v a score's
    variance over its k seeds. A score of one seed has no spread of its own and borrows the
    other's (the candidates of a step are fine-tuned alike); 0 when neither has two seeds."""
    counts = [getattr(score, "seeds", 1) for score in (a, b)]
    variances = [
        (getattr(score, "error", 0.0) ** 2) * k if k > 1 else None
        for score, k in zip((a, b), counts, strict=True)
    ]
    known = [v for v in variances if v is not None]
    if not known:
        return 0.0
    borrowed = [statistics.fmean(known) if v is None else v for v in variances]
    return math.sqrt(sum(v / k for v, k in zip(borrowed, counts, strict=True)))


def paired(a: float, b: float) -> float | None:
    """The noise of the lead of a over b: the paired held-out SE of their difference combined
    with the seed spread's (`seed_se`, 0 with one seed each) as the root of the sum of squares;
    None without both candidates' per-example outputs (`Estimate.examples`).

    Root-sum-square, not the larger of the two (as one score's SE takes,
    glpsearch.scoring.reference): which examples were held out and which seeds trained are
    separate sources of chance, and the variances of independent errors add. Where they overlap
    (a seed that flips single examples shows in the per-example differences too) it errs
    towards "inside the noise", which costs a racing step one more seed rather than a pick the
    data cannot support."""
    left, right = getattr(a, "examples", None), getattr(b, "examples", None)
    held = None if left is None or right is None else paired_se(left, right)
    return None if held is None else math.hypot(held, seed_se(a, b))


def unpaired(a: float, b: float) -> float:
    """The rule before pairing, for scores without per-example outputs: the larger of the two
    scores' own standard errors, each its held-out SE or its seed spread, whichever is larger
    (0 where neither is known: only exact ties are then inside it)."""
    return max(
        max(getattr(score, "heldout", None) or 0.0, getattr(score, "error", 0.0))
        for score in (a, b)
    )


def lead_noise(a: float, b: float) -> float:
    """What the lead of a over b must clear: `paired` where both carry per-example outputs,
    else `unpaired`."""
    noise = paired(a, b)
    return unpaired(a, b) if noise is None else noise
