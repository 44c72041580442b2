"""Wall time of one greedy step (every one-layer removal) with 1, 2 and 4 workers.

Prints each time as a ratio to 1 worker, all measured in this one run (machines are noisy, so
only ratios from one run are comparable). Uses the embedded default model and data.

    python bench/parallel.py [--train-limit 400] [--jobs 1,2,4] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from glpsearch.config import EMBEDDED_SETTINGS, DataSpec
from glpsearch.data.task import load_task
from glpsearch.engine.core import Engine
from glpsearch.engine.parallel import JoblibRunner, Recipe
from glpsearch.model.evaluator import Evaluator
from glpsearch.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-limit", type=int, default=400)
    parser.add_argument("--jobs", default="1,2,4")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    data = DataSpec(train_limit=args.train_limit)
    recipe = Recipe(None, data, EMBEDDED_SETTINGS)
    evaluator = Evaluator(None, load_task(data), EMBEDDED_SETTINGS, args.device)
    step = [frozenset({layer}) for layer in range(evaluator.n_layers)]
    times: dict[int, float] = {}
    for jobs in (int(j) for j in args.jobs.split(",")):
        runner = None if jobs == 1 else JoblibRunner(recipe, jobs, (args.device,))
        with tempfile.TemporaryDirectory() as cache, Store(cache) as store:
            engine = Engine(evaluator, store, runner=runner)
            if runner is not None:  # workers load the model once; that is not a step's cost
                engine.lookup([frozenset({0, 1})])
            start = time.perf_counter()
            engine.lookup(step)
            times[jobs] = time.perf_counter() - start
        if runner is not None:
            runner.close()
        print(f"{jobs} worker(s): {times[jobs]:.1f} s for {len(step)} candidates", flush=True)
    base = times[min(times)]
    print("ratio to 1 worker: " + ", ".join(f"{j}: {t / base:.2f}" for j, t in times.items()))


if __name__ == "__main__":
    main()
