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
