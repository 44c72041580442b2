"""Worker for the multi-process store test: a plain module so spawned children can import it."""

from __future__ import annotations


def write_scores(directory: str, worker: int, count: int, barrier) -> None:
    from glpsearch.store.cache import Store
    from glpsearch.store.keys import Key

    barrier.wait(timeout=60)  # start writing at the same moment as the other process
    with Store(directory) as store:
        for i in range(count):
            removed = {worker * 1000 + i}
            store.put(
                "score", Key("fp", 0, removed), {"score": worker + i / 1000, "worker": worker}
            )
