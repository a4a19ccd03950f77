"""Offline twin of ``test_evaluation_e2e.py``: the simulator's records through the plain pipeline functions
(no Kafka, no Faust), partitioned by user as the worker would be, then the same prequential evaluation.

Seconds instead of minutes, so model changes can be tried quickly; the e2e test stays the judge (Kafka
interleaves the input topics differently from run to run, here they keep the simulator's order).

    .venv/bin/python tests/offline_eval.py [--seed 11] [--partitions 2] [--shuffle 0]
    .venv/bin/python tests/offline_eval.py --dataset taobao --limit 60000   # a real dataset instead

``--dataset`` replays one of ``socialpulse replay``'s datasets (``../shared/datasets`` or
``SOCIALPULSE_DATASETS_DIR``) through the same functions, so a change can be checked on real traffic too.

``--shuffle N`` delays each non-click record by up to N positions, a rough stand-in for topic interleaving.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka.partitioner import murmur2

from socialpulse.agents import pipeline
from socialpulse.models.config import ModelConfig, parse_source_weights
from socialpulse.models.interactions import ItemInfo
from socialpulse.schemas import Click, Item, Purchase, Recommendation, Review, Social
from socialpulse.streams import replay
from socialpulse.streams.evaluate import evaluate_records
from socialpulse.streams.simulator import SimConfig, generate

sys.path.insert(0, str(Path(__file__).parent))
from test_evaluation_e2e import CONFIG  # the e2e test's traffic

_HANDLERS: dict[type, tuple[str, Any]] = {
    Click: ("clicks", pipeline.on_click),
    Purchase: ("purchases", pipeline.on_purchase),
    Review: ("reviews", pipeline.on_review),
    Social: ("social", pipeline.on_social),
}


def partition_of(key: str, partitions: int) -> int:
    """aiokafka's and the Java client's default partitioner."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def _user(record: Any) -> str:
    return record.actor_id if isinstance(record, Social) else record.user_id


def shuffled(records: list, window: int, seed: int) -> list:
    """Non-click records each delayed by up to ``window`` positions (the per-topic order is kept)."""
    if window <= 0:
        return records
    rng = random.Random(seed)
    keyed = [(i + (rng.randint(0, window) if not isinstance(r, (Click, Item)) else 0), i, r)
             for i, r in enumerate(records)]
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [r for _, _, r in keyed]


def run_pipeline(records: list, partitions: int, cfg: ModelConfig) -> list[Recommendation]:
    stores: list[dict[str, Any]] = [{} for _ in range(partitions)]
    offsets: dict[tuple[str, int], int] = {}
    catalogue: dict[str, ItemInfo] = {}
    recs: list[Recommendation] = []
    for record in records:
        if isinstance(record, Item):
            catalogue[record.item_id] = pipeline.item_info(record)
            continue
        topic, handler = _HANDLERS[type(record)]
        p = partition_of(_user(record), partitions)
        offset = offsets.get((topic, p), 0)
        offsets[(topic, p)] = offset + 1
        out = handler(stores[p], catalogue, record, offset, record.timestamp, cfg)
        recs.extend(out.recommendations)
        for f in out.fanout:  # delivered at once; the worker sends them through internal topics
            q = partition_of(f.key, partitions)
            if f.topic == "social-edges":
                pipeline.on_social_edge(stores[q], f.key, f.value, p, cfg)
            else:
                pipeline.on_social_signal(stores[q], f.key, f.value, p, cfg)
    return recs


def evaluate(sim: SimConfig = CONFIG, partitions: int = 2, cfg: ModelConfig | None = None,
             shuffle: int = 0, records: list | None = None) -> dict[str, dict[str, float]]:
    """Prequential HR/NDCG@10 of the engine and the baselines; ``records`` instead of the simulator's."""
    cfg = cfg or ModelConfig(debounce_ms=0)
    records = list(generate(sim)) if records is None else records
    recs = run_pipeline(shuffled(records, shuffle, sim.seed), partitions, cfg)
    return evaluate_records(records, recs, k=10, exclude_seen=True).report()


def model_config(overrides: list[str]) -> ModelConfig:
    """``ModelConfig(debounce_ms=0)`` with ``name=value`` fields and ``weight.<source>=<w>`` source weights."""
    fields: dict[str, Any] = {"debounce_ms": 0}
    weights: list[str] = []  # parsed as SOCIALPULSE_REC_SOURCE_WEIGHTS is: an unknown source is an error
    for text in overrides:
        name, value = text.split("=", 1)
        if name.startswith("weight."):
            weights.append(f"{name[len('weight.'):]}={value}")
        else:
            default = getattr(ModelConfig(), name)
            fields[name] = type(default)(value)
    return ModelConfig(source_weights=parse_source_weights(",".join(weights)), **fields)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=CONFIG.seed)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--shuffle", type=int, default=0)
    parser.add_argument("--events", type=int, default=CONFIG.events)
    parser.add_argument("--dataset", choices=sorted(replay.LOADERS), help="a real dataset instead of the simulator")
    parser.add_argument("--limit", type=int, default=60_000, help="records read from --dataset")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="ModelConfig overrides; source weights as weight.<source>=<w>")
    args = parser.parse_args()
    cfg = model_config(args.set)
    sim = SimConfig(users=CONFIG.users, items=CONFIG.items, categories=CONFIG.categories, events=args.events,
                    seed=args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory():
        records = list(replay.load(args.dataset, limit=args.limit)) if args.dataset else None
        results = evaluate(sim, args.partitions, cfg, shuffle=args.shuffle, records=records)
    pop = results["popularity"]
    for name, m in results.items():
        print(f"{name:24s} lists={int(m['lists']):5d} HR@10={m['hr']:.3f} ({m['hr'] / pop['hr']:.2f}x) "
              f"NDCG@10={m['ndcg']:.3f} ({m['ndcg'] / pop['ndcg']:.2f}x) cov={m['coverage']:.2f}")
    print(f"{time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
