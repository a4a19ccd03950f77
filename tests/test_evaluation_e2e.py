"""The simulator's ground truth is recoverable: simulated traffic through the real broker and a real
worker (two partitions), then the prequential evaluation `socialpulse evaluate` runs
(:func:`socialpulse.streams.evaluate.run_evaluation`) over the records produced, in order, and the
recommendations the worker wrote. The engine's HR@10 must clearly beat popularity's.

Fair comparison: the engine never offers an item the user has already interacted with, so the
evaluation runs with ``exclude_seen``: only items new to the user count as targets, and the
baselines' lists exclude the user's items too.
"""

from __future__ import annotations

import time
from pathlib import Path

from harness import (
    WorkerProcess,
    consume_all_of,
    create_all_topics,
    engine_settings,
    internal_topics,
    produce,
    wait_drained,
)

from socialpulse.schemas import Item, Recommendation
from socialpulse.streams.evaluate import run_evaluation
from socialpulse.streams.simulator import SimConfig, generate

# ~6k behaviour events after the catalogue and the initial follow graph: 20-40 s of worker time on 2 cores.
CONFIG = SimConfig(users=300, items=200, categories=10, events=9_000, seed=11)

# Engine HR@10 must beat popularity by at least this ratio and this absolute margin, NDCG by MIN_NDCG_RATIO,
# and item-KNN's HR@10 by MIN_KNN_RATIO. Measured on this config (2 partitions, exclude-seen) over four runs:
# engine HR@10 0.412-0.417 vs popularity 0.308 (1.34-1.35x) and item-KNN 0.259 (1.59-1.61x), NDCG@10
# 0.233-0.237 vs popularity 0.146 (1.60-1.62x). The taste source (models/taste.py) does most of it.
# tests/offline_eval.py runs the same traffic without Kafka in seconds, for trying changes (1.41x there).
#
# The traffic goes in chunks, each drained before the next, as a worker that keeps up sees it. Produced all
# at once, the worker reads the four topics at different paces (Kafka orders records within a partition of
# one topic only), so a list can be built before or after events that came before it: engine 0.34-0.37 vs
# popularity 0.31 (1.10-1.16x) over three runs. One way it hurts: a purchase read ahead of the views that
# led to it marks the item as bought, and the views' lists leave out the item the user buys next
# (offline, purchases read up to 3,000 records early take 1.41x to 1.28x on their own).
# (Follows used to send lists too; those answered late, with the user's later views already learned, made
# the engine look better than it was: 1.30-1.43x on this traffic produced at once.)
MIN_RATIO = 1.22
CHUNK = 1000  # records produced at a time, each drained before the next: a worker keeping up with its traffic
MIN_ABSOLUTE = 0.05
MIN_NDCG_RATIO = 1.35
MIN_KNN_RATIO = 1.40


def test_engine_beats_popularity_on_simulated_traffic(kafka, tmp_path: Path) -> None:
    started = time.monotonic()
    records = list(generate(CONFIG))
    catalogue = records[: CONFIG.items]  # the simulator emits the whole catalogue first
    assert all(isinstance(r, Item) for r in catalogue)
    settings = engine_settings(kafka.bootstrap, tmp_path / "worker", partitions=2)
    create_all_topics(settings)
    produce(settings, catalogue)  # the catalogue first, as a real deployment would have it
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        behaviour = records[CONFIG.items :]
        for start in range(0, len(behaviour), CHUNK):
            produce(settings, behaviour[start : start + CHUNK])
            try:
                wait_drained(settings, extra_topics=internal_topics(settings), timeout_s=150)
            except TimeoutError as exc:
                raise AssertionError(f"{exc}\n{worker.tail()}") from None
        recs = consume_all_of(settings, "recommendations", Recommendation, idle_s=3.0)
    finally:
        worker.stop()
    assert recs
    processed = time.monotonic() - started

    data = run_evaluation(records, recs, tmp_path / "reports", k=10, exclude_seen=True)
    results = data["results"]
    print(f"\n{len(records)} records, {len(recs)} recommendations, worker done in {processed:.1f}s")
    engine, popularity, knn = results["engine"], results["popularity"], results["item_knn"]
    print(f"HR@10 engine {engine['hr']:.3f}, popularity {popularity['hr']:.3f}, item-KNN {knn['hr']:.3f}; "
          f"NDCG@10 engine {engine['ndcg']:.3f}, popularity {popularity['ndcg']:.3f}")
    assert engine["lists"] > 1000 and popularity["lists"] == engine["lists"], results
    assert (tmp_path / "reports" / "evaluate.json").exists()
    assert (tmp_path / "reports" / "evaluate_hr_over_time.png").stat().st_size > 0
    assert engine["hr"] >= popularity["hr"] * MIN_RATIO, (engine, popularity)
    assert engine["hr"] >= popularity["hr"] + MIN_ABSOLUTE, (engine, popularity)
    assert engine["ndcg"] >= popularity["ndcg"] * MIN_NDCG_RATIO, (engine, popularity)
    assert engine["hr"] >= knn["hr"] * MIN_KNN_RATIO, (engine, knn)
