"""How well short fine-tunes predict greedy's choice: the evidence for greedy-halving's options.

Greedy's choice at a step is the argmax of full fine-tunes whose scores often differ by less
than seed noise, so "does a cheaper method keep the same layer?" needs a reference: how often
greedy keeps the same layer as itself under another seed.

This follows greedy's path (the first seed's choices) and, at each step, fine-tunes every
candidate with every seed through the engine, stopping at each budget of the ladder 1/8, 1/4,
1/2, 1; each continues the previous checkpoint, so this costs about one full fine-tune per
candidate and seed, all cached (--cache), so a rerun prints at once. It then replays
greedy-halving's step (the real `strategies.halving.halve`) on those scores, for several
(min_budget, eta) and both rankings of short fine-tunes (held-out loss, task metric), and prints
per configuration, over every (step, seed):
  - cost: fine-tune steps trained, as a fraction of greedy's (checkpoint I/O not included);
  - same as greedy: it keeps the layer greedy keeps with the same seed, from the same set;
  - same as consensus: it keeps the layer the mean over all seeds' full scores keeps;
  - regret: the full score (same seed) of greedy's choice minus that of its own choice.
It also prints each budget's Spearman correlation between the short ranking and the full
scores: how much a short fine-tune knows.

    python bench/halving.py [--seeds 3] [--remove 3] [--task GLUE_FOLDER --train-limit 2000]
                            [--model FOLDER] [--device cpu] [--cache DIR]

The embedded default took about 30 minutes on 2 CPU cores with 3 seeds, the SST-2 subset 27.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from scipy.stats import spearmanr

from glpsearch.config import EMBEDDED_SETTINGS, DataSpec, TrainSettings
from glpsearch.data.task import load_task
from glpsearch.engine.core import Engine, Outcome
from glpsearch.model.evaluator import Evaluator
from glpsearch.store import Store
from glpsearch.strategies.base import Estimate, Layers, best
from glpsearch.strategies.halving import halve, rungs
from glpsearch.strategies.search import grow

LADDER = (0.125, 0.25, 0.5, 1.0)
CONFIGS = ((0.5, 2), (0.25, 2), (0.25, 4), (0.125, 2), (0.125, 8))  # (min_budget, eta)

Table = dict[tuple[int, Layers, float], Outcome]  # (seed, set, budget) -> outcome


def measure(
    evaluator: Evaluator, store: Store, seeds: Sequence[int], remove: int
) -> tuple[Table, list[list[Layers]]]:
    """Every candidate of greedy's path at every budget for every seed; and each step's
    candidates."""
    engines = {seed: Engine(evaluator, store, seeds=(seed,)) for seed in seeds}
    table: Table = {}
    steps: list[list[Layers]] = []
    kept: Layers = frozenset()
    start = time.perf_counter()
    for depth in range(1, remove + 1):
        candidates = grow([kept], evaluator.n_layers)
        steps.append(candidates)
        for seed, budget in itertools.product(seeds, LADDER):
            for layers, outcome in zip(
                candidates, engines[seed].lookup(candidates, budget), strict=True
            ):
                table[seed, layers, budget] = outcome
            print(
                f"  step {depth} seed {seed} budget {budget:g}: "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
        first = [(layers, table[seeds[0], layers, 1.0].value) for layers in candidates]
        chosen = best(first)
        if chosen is None:
            break
        kept = chosen[0]
    return table, steps


def replay(
    table: Table, candidates: list[Layers], seed: int, min_budget: float, eta: int, loss: bool
) -> tuple[Layers | None, float]:
    """Greedy-halving's choice for one step and seed, and the fine-tune steps it trained."""
    reached: dict[Layers, float] = {}

    def evaluate(sets: Sequence[Layers], budget: float = 1.0) -> list[float | None]:
        scores: list[float | None] = []
        for layers in sets:
            reached[layers] = budget
            outcome = table[seed, layers, budget]
            value, known = outcome.value, outcome.loss if loss else None
            scores.append(None if value is None else Estimate(value, 0.0, known))
        return scores

    step = halve(0, candidates, evaluate, rungs(min_budget, eta), eta)
    return step.chosen, sum(reached.values())


def full(table: Table, seed: int, layers: Layers) -> float:
    value = table[seed, layers, 1.0].value
    return float("-inf") if value is None else value


def report(table: Table, steps: list[list[Layers]], seeds: Sequence[int]) -> None:
    greedy = {
        (d, s): best([(c, table[s, c, 1.0].value) for c in cands])[0]
        for d, cands in enumerate(steps)
        for s in seeds
    }
    consensus = {}
    for d, cands in enumerate(steps):
        means = []
        for c in cands:
            values = [table[s, c, 1.0].value for s in seeds]
            if None in values:
                continue
            error = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
            means.append((c, Estimate(statistics.fmean(values), error)))
        consensus[d] = best(means)[0]
    decisions = len(steps) * len(seeds)

    print(
        "\nHow much a short fine-tune knows: Spearman correlation with the full metric, "
        "mean over (step, seed)"
    )
    print(f"{'budget':>8}{'by loss':>10}{'by metric':>11}")
    for budget in LADDER[:-1]:
        rho = {"loss": [], "metric": []}
        for cands, seed in itertools.product(steps, seeds):
            final = [full(table, seed, c) for c in cands]
            by_loss = [-(table[seed, c, budget].loss or 0.0) for c in cands]
            by_metric = [table[seed, c, budget].value or 0.0 for c in cands]
            for name, ranking in (("loss", by_loss), ("metric", by_metric)):
                value = spearmanr(ranking, final)[0]
                rho[name].append(0.0 if value != value else value)  # constant: no information
        print(
            f"{budget:>8g}{statistics.fmean(rho['loss']):>10.2f}"
            f"{statistics.fmean(rho['metric']):>11.2f}"
        )

    pairs = list(itertools.combinations(seeds, 2))
    cross = sum(greedy[d, a] == greedy[d, b] for d in range(len(steps)) for a, b in pairs)
    with_consensus = sum(greedy[d, s] == consensus[d] for d in range(len(steps)) for s in seeds)
    print(
        f"\nReference: greedy keeps the same layer as greedy with another seed in {cross}/"
        f"{len(steps) * len(pairs)} (step, seed pair)s, as the consensus in "
        f"{with_consensus}/{decisions}."
    )
    print(
        f"\n{'min_budget':>10}{'eta':>5}{'ranked by':>11}{'cost':>7}"
        f"{'same as greedy':>16}{'same as consensus':>19}{'mean regret':>13}"
    )
    for (min_budget, eta), loss in itertools.product(CONFIGS, (True, False)):
        cost = same = agree = 0.0
        regret: list[float] = []
        for (d, cands), seed in itertools.product(enumerate(steps), seeds):
            chosen, trained = replay(table, cands, seed, min_budget, eta, loss)
            cost += trained / len(cands)
            same += chosen == greedy[d, seed]
            agree += chosen == consensus[d]
            regret.append(full(table, seed, greedy[d, seed]) - full(table, seed, chosen))
        print(
            f"{min_budget:>10g}{eta:>5}{'loss' if loss else 'metric':>11}"
            f"{cost / decisions:>7.2f}{f'{same:.0f}/{decisions}':>16}"
            f"{f'{agree:.0f}/{decisions}':>19}{statistics.fmean(regret):>13.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--remove", type=int, default=3)
    parser.add_argument("--task", help="GLUE folder or task name (default: the embedded task)")
    parser.add_argument("--train-limit", type=int)
    parser.add_argument("--model", help="model folder (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/glpsearch")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", "An input array is constant")  # scored as no information
    settings = EMBEDDED_SETTINGS if args.task is None else TrainSettings()
    task = load_task(DataSpec(task=args.task, train_limit=args.train_limit))
    evaluator = Evaluator(args.model, task, settings, args.device)
    print(
        f"{evaluator.model_name} on {task.name}: {len(task.train)} train / "
        f"{len(task.heldout)} held-out, {settings}, cache {args.cache}",
        flush=True,
    )
    seeds = tuple(range(args.seeds))
    table, steps = measure(evaluator, Store(args.cache), seeds, args.remove)
    report(table, steps, seeds)


if __name__ == "__main__":
    main()
