"""A write-back view of one partition of a Faust table, so models see a plain MutableMapping.

Faust tables send one changelog record per ``__setitem__``; models touch the same keys many times
per batch. This view reads through to the table, keeps writes in memory and flushes each dirty key
once per batch (:meth:`flush`), which is what makes batching pay off. Table keys are prefixed with
the partition number because some model state is partition-local (the same key lives in several
partitions) and the in-memory store does not separate partitions.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event

_MISSING = object()
_DELETED = object()


@contextmanager
def in_event(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event: tables pick partition and store from it."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class PartitionStore(MutableMapping[str, Any]):
    """Read-through, write-back cache of one table partition (bounded LRU of clean entries)."""

    def __init__(self, table: Any, partition: int, max_cached: int = 200_000) -> None:
        self.table = table
        self.partition = partition
        self.max_cached = max_cached
        self._prefix = f"{partition}|"
        self._clean: OrderedDict[str, Any] = OrderedDict()
        self._dirty: dict[str, Any] = {}
        self.event: Any = None  # an event of this partition, set by the agent before each batch
        self.high_ms = 0  # highest event time seen: the clock of state sweeps
        self.sweep_tick: int | None = None  # sweep interval of the last sweep (None: none since assignment)

    def _table_key(self, key: str) -> str:
        return self._prefix + key

    def get(self, key: str, default: Any = None) -> Any:
        # Models read through ``get`` several million times per minute: one method call, no KeyError
        # round trip through ``Mapping.get`` -> ``__getitem__``.
        value = self._dirty.get(key, _MISSING)
        if value is _MISSING:
            value = self._clean.get(key, _MISSING)
            if value is _MISSING:
                value = self._read_table(key)
                self._remember(key, value)
            else:
                self._clean.move_to_end(key)
        return default if value is _DELETED else value

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _DELETED)
        if value is _DELETED:
            raise KeyError(key)
        return value

    def _remember(self, key: str, value: Any) -> None:
        self._clean[key] = value
        if len(self._clean) > self.max_cached:
            self._clean.popitem(last=False)

    def __setitem__(self, key: str, value: Any) -> None:
        self._dirty[key] = value
        self._clean.pop(key, None)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._dirty[key] = _DELETED
        self._clean.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return self.get(key, _DELETED) is not _DELETED  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        # Only what this worker has touched: a full scan of a partition is never needed on the hot path.
        seen = set()
        for key, value in (*self._dirty.items(), *self._clean.items()):
            if key not in seen and value is not _DELETED:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def peek(self, key: str, default: Any = None) -> Any:
        """Like :meth:`get`, but a value read from the table is not cached (for scans)."""
        value = self._dirty.get(key, _MISSING)
        if value is _MISSING:
            value = self._clean.get(key, _MISSING)
        if value is _MISSING:
            value = self._read_table(key)
        return default if value is _DELETED else value

    def _read_table(self, key: str) -> Any:
        """The table's value for ``key`` (``_DELETED`` when absent), read as this partition's event."""
        with in_event(self.event):
            return self.table.get(self._table_key(key), _DELETED)

    def scan(self, stored: Iterable[str] | None = None) -> Iterator[str]:
        """Every live key of the partition: unflushed writes, then the table's keys (a full scan, unless
        ``stored`` lists them already)."""
        for key, value in list(self._dirty.items()):
            if value is not _DELETED:
                yield key
        for key in self._stored_keys() if stored is None else stored:
            if key not in self._dirty:
                yield key

    def _stored_keys(self) -> Iterator[str]:
        data = getattr(self.table, "data", self.table)  # a Faust table's store; tests pass a plain dict
        prefix = self._prefix
        dbs = getattr(data, "_dbs", None)
        db = dbs.get(self.partition) if isinstance(dbs, dict) else None
        if db is not None and hasattr(db, "keys"):  # RocksDB (rocksdict): one database per partition
            raw_prefix = prefix.encode()
            for raw in db.keys(from_key=raw_prefix):
                if not raw.startswith(raw_prefix):
                    break
                yield raw[len(raw_prefix):].decode()
            return
        for stored in list(getattr(data, "data", data)):  # the memory store: a dict of every partition's keys
            key = stored.decode() if isinstance(stored, bytes) else str(stored)
            if key.startswith(prefix):
                yield key[len(prefix):]

    def scan_view(self) -> MutableMapping[str, Any]:
        """This store, iterated over every key of the partition: what a state sweep needs."""
        return _ScanView(self)

    def cached_values(self) -> list[Any]:
        """The values held in memory (cached reads and unflushed writes; absent keys remembered are not values)."""
        return [v for v in (*self._clean.values(), *self._dirty.values()) if v is not _DELETED]

    @property
    def dirty_keys(self) -> int:
        return len(self._dirty)

    def flush(self) -> int:
        """Write every dirty key to the table once (one changelog record each); returns how many.

        A deletion is a changelog tombstone, like any other write.
        """
        written = len(self._dirty)
        if not written:
            return 0
        with in_event(self.event):
            for key, value in self._dirty.items():
                table_key = self._table_key(key)
                if value is _DELETED:
                    self.table.pop(table_key, None)
                else:
                    self.table[table_key] = value
                self._remember(key, value)
        self._dirty.clear()
        return written

    def discard(self) -> None:
        """Forget unflushed writes and cached reads (after a rebalance or a failed batch)."""
        self._dirty.clear()
        self._clean.clear()


class _ScanView(MutableMapping[str, Any]):
    """A :class:`PartitionStore` whose iteration covers the whole partition; reads do not fill its cache."""

    def __init__(self, store: PartitionStore) -> None:
        self._store = store
        self._stored: list[str] | None = None  # the table's keys, listed once: a sweep iterates several times

    def __getitem__(self, key: str) -> Any:
        value = self._store.peek(key, _DELETED)
        if value is _DELETED:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.peek(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self._store[key] = value

    def __delitem__(self, key: str) -> None:
        del self._store[key]

    def __iter__(self) -> Iterator[str]:
        if self._stored is None:
            self._stored = list(self._store._stored_keys())
        return self._store.scan(self._stored)

    def __len__(self) -> int:
        return sum(1 for _ in self)
