"""``GET /debug/memory``'s report: RocksDB's figures, cached state sized from a sample, dedupe windows."""

from __future__ import annotations

import pickle
from pathlib import Path

from prometheus_client import CollectorRegistry

from socialpulse.agents import memory
from socialpulse.agents.app import create_app
from socialpulse.agents.emitted import RecentIds
from socialpulse.agents.partition_store import PartitionStore
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.settings import Settings


class _Event:
    pass


def test_cached_state_counts_values_not_remembered_absences_and_sizes_them() -> None:
    table: dict = {}
    store = PartitionStore(table, 0, max_cached=100)
    store.event = _Event()  # what the agent sets before a batch: tables read as this partition's event
    value = {"h": [[f"item{n}", 1.0, n] for n in range(20)]}
    for n in range(10):
        store[f"u:{n}"] = value
    store.flush()  # written values stay cached
    assert store.get("u:absent") is None  # remembered as absent: not a value
    found = memory.cached_state({0: store})
    assert found["keys"] == 10
    assert found["pickled_mb_estimate"] == round(10 * len(pickle.dumps(value)) / memory.MB, 1)


def test_report_of_a_worker_before_its_tables_open(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), Metrics(CollectorRegistry()))
    engine = app.socialpulse  # type: ignore[attr-defined]
    engine.emitted[("recommendations", 0)] = ids = RecentIds(10)
    for n in range(3):
        ids.add(f"rec:{n}")
    report = memory.report(engine)
    assert report["rss_mb"] > 10
    assert report["dedupe_ids"] == 3 and report["catalogue_items"] == 0
    assert report["rocksdb"]["state"] == dict.fromkeys(memory.ROCKSDB_PROPERTIES, 0.0)  # no partition open yet
    assert report["state_cache"] == {"keys": 0, "pickled_mb_estimate": 0.0}
