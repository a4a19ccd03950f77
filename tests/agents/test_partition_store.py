"""PartitionStore: reads through, writes back once per key per flush, and deletes."""

from __future__ import annotations

import pytest

from socialpulse.agents.partition_store import PartitionStore


class _Table(dict):
    """A table that counts writes (each one is a changelog record in Faust)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.writes = 0

    def __setitem__(self, key: str, value: object) -> None:
        self.writes += 1
        super().__setitem__(key, value)


class _Event:
    pass


def make(table: _Table) -> PartitionStore:
    store = PartitionStore(table, 3, max_cached=2)
    store.event = _Event()
    return store


def test_reads_through_and_flushes_each_dirty_key_once() -> None:
    table = _Table({"3|a": 1, "2|a": 99})
    store = make(table)
    assert store.get("a") == 1 and store["a"] == 1 and "a" in store
    assert store.get("b") is None and store.get("b", 7) == 7 and "b" not in store
    with pytest.raises(KeyError):
        store["b"]
    store["b"] = 2
    store["b"] = 3
    assert store.get("b") == 3 and store.dirty_keys == 1
    assert store.flush() == 1 and table == {"3|a": 1, "2|a": 99, "3|b": 3} and table.writes == 1
    assert store.flush() == 0


def test_deleted_keys_read_as_missing_until_flushed_away() -> None:
    table = _Table({"3|a": 1})
    store = make(table)
    del store["a"]
    assert store.get("a") is None and "a" not in store and list(store) == []
    with pytest.raises(KeyError):
        del store["a"]
    store.flush()
    assert table == {}


def test_clean_cache_is_bounded_and_discard_forgets() -> None:
    table = _Table({f"3|k{i}": i for i in range(5)})
    store = make(table)
    assert [store.get(f"k{i}") for i in range(5)] == [0, 1, 2, 3, 4]
    assert len(store._clean) == 2
    store["x"] = 1
    store.discard()
    assert store.get("x") is None and store.dirty_keys == 0


def test_scan_view_covers_the_whole_partition_without_filling_the_cache() -> None:
    table = _Table({f"3|k{i}": i for i in range(5)} | {"2|other": 0})
    store = make(table)
    store["new"] = 9
    del store["k0"]
    view = store.scan_view()
    assert sorted(view) == ["k1", "k2", "k3", "k4", "new"]  # not just the touched keys, as ``iter(store)``
    assert view["k3"] == 3 and view.get("k0") is None and view["new"] == 9
    assert len(store._clean) == 0  # the scan's reads are not cached
    del view["k4"]
    store.flush()
    assert sorted(table) == ["2|other", "3|k1", "3|k2", "3|k3", "3|new"]


class _Stub:
    """What ``Engine.sweep_if_due`` uses of the engine."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        from socialpulse.agents.app import model_config
        from socialpulse.streams.metrics import Metrics
        from socialpulse.streams.settings import Settings

        self.settings = Settings(user_ttl_s=60, sweep_interval_s=10)
        self.cfg = model_config(self.settings)
        self.metrics = Metrics(CollectorRegistry())


def test_sweeps_run_when_event_time_enters_a_new_interval() -> None:
    from socialpulse.agents.app import Engine

    t0 = 1_760_000_000_000  # a multiple of 10 s
    table = _Table({"3|u:old": {"seen": t0}, "3|u:new": {"seen": t0 + 65_000}})
    store = make(table)
    engine = _Stub()
    Engine.sweep_if_due(engine, store, t0 + 1_000)  # type: ignore[arg-type]  # first event: starts counting
    Engine.sweep_if_due(engine, store, t0 + 9_000)  # type: ignore[arg-type]  # same interval
    Engine.sweep_if_due(engine, store, t0 + 5_000)  # type: ignore[arg-type]  # late event: the clock stays
    assert store.dirty_keys == 0 and store.high_ms == t0 + 9_000
    Engine.sweep_if_due(engine, store, t0 + 65_000)  # type: ignore[arg-type]  # 'old' idle 65 s > 60 s
    assert store.get("u:old") is None and store.get("u:new") is not None
    store.flush()
    assert "3|u:old" not in table
    assert engine.metrics.registry.get_sample_value("socialpulse_state_swept_total", {"kind": "user"}) == 1
