"""Where a worker's memory goes: RocksDB, the state caches, the dedupe windows, the catalogue.

Served as ``GET /debug/memory`` and sampled by the soak benchmark, so a run whose memory grows says
which part grew. Cheap enough to call every few seconds: RocksDB reports its own usage, and cached
state values are sized from a sample of them.
"""

from __future__ import annotations

import pickle
import random
from typing import Any

import psutil

from socialpulse.models import _state

MB = 2**20
SAMPLED_VALUES = 200  # cached state values pickled to estimate their mean size
ROCKSDB_PROPERTIES = {
    "memtables_mb": "rocksdb.cur-size-all-mem-tables",
    "block_cache_mb": "rocksdb.block-cache-usage",
    "table_readers_mb": "rocksdb.estimate-table-readers-mem",
}


def rocksdb_usage(table: Any) -> dict[str, float]:
    """RocksDB's own memory figures summed over the table's local partitions, in MB (empty for memory tables)."""
    dbs = getattr(getattr(table, "data", None), "_dbs", None)
    if not isinstance(dbs, dict):
        return {}
    out = dict.fromkeys(ROCKSDB_PROPERTIES, 0.0)
    for db in dbs.values():
        for name, prop in ROCKSDB_PROPERTIES.items():
            try:
                out[name] += int(db.property_int_value(prop) or 0) / MB
            except Exception:  # a property this RocksDB build does not report
                continue
    return {k: round(v, 1) for k, v in out.items()}


def cached_state(stores: dict[int, Any], rng: random.Random | None = None) -> dict[str, float]:
    """Keys held by the partition stores' caches, and their pickled size estimated from a sample."""
    rng = rng or random.Random(0)
    values = [v for store in stores.values() for v in store.cached_values()]
    sample = rng.sample(values, min(len(values), SAMPLED_VALUES))
    mean = sum(len(pickle.dumps(v)) for v in sample) / len(sample) if sample else 0.0
    return {"keys": len(values), "pickled_mb_estimate": round(mean * len(values) / MB, 1)}


def report(engine: Any) -> dict[str, Any]:
    """The worker's memory, by part (sizes in MB; counts are entries)."""
    tables = {"state": engine.state_table, "latest-recommendations": engine.latest_table}
    return {
        "rss_mb": round(psutil.Process().memory_info().rss / MB, 1),
        "rocksdb": {name: rocksdb_usage(table) for name, table in tables.items() if table is not None},
        "state_cache": cached_state(engine.stores),
        "dedupe_ids": sum(len(ids) for ids in engine.emitted.values()),
        "catalogue_items": len(engine.catalogue),
        "decayed_row_orders": len(_state._orders),
        "decayed_row_entries": _state._orders.entries,
    }
