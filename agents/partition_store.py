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

from faust.stores.base import SerializedStore
from faust.streams import _current_event
from faust.types import TP

from .delivery import Deliveries

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
        self.forgotten: list[str] = []  # users a sweep removed: their latest list goes with the batch's state
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

    def flush(self, out: Deliveries | None = None) -> int:
        """Write every dirty key to the table once (one changelog record each); returns how many.

        A deletion is a changelog tombstone, like any other write. With ``out``, the records are
        produced by the worker's own producer (:class:`TableWriter`); without, by the table itself.
        """
        written = len(self._dirty)
        if not written:
            return 0
        writer = TableWriter.of(self.table) if out is not None else None
        with in_event(self.event):
            for key, value in self._dirty.items():
                table_key = self._table_key(key)
                if writer is not None:
                    assert out is not None
                    writer.write(out, self.partition, table_key, None if value is _DELETED else value)
                elif value is _DELETED:
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
        self.forgotten.clear()


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


class TableWriter:
    """Writes a Faust table's keys as ``table[key] = value`` does, with the changelog record produced elsewhere.

    Faust sends each table write through its own producer (aiokafka, in Python on the event loop, and
    a RocksDB write of the changelog offset per record). Here the value is encoded once, written to
    the local store, and produced to the table's changelog partition by a :class:`Deliveries`; after
    they are delivered, :meth:`persisted` records the changelog offsets, as Faust's callback would,
    so a restart recovers only what came after. Every write of a table must take one path: records of
    one key from two producers could reach the changelog out of order.
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.data = table.data
        self.topic = table.changelog_topic.get_topic_name()
        self.serialized = isinstance(self.data, SerializedStore)

    @classmethod
    def of(cls, table: Any) -> TableWriter:
        """The table's writer, made once and kept on the table (its store exists once the table is used)."""
        writer = getattr(table, "_socialpulse_writer", None)
        if writer is None:
            writer = table._socialpulse_writer = cls(table)
        return writer

    def write(self, out: Deliveries, partition: int, key: str, value: Any) -> None:
        """``table[key] = value`` in ``partition``, or a deletion when ``value`` is None.

        RocksDB picks its partition from Faust's current event: call it inside :func:`in_event`.
        """
        raw_key = self.data._encode_key(key)
        raw_value = None if value is None else self.data._encode_value(value)
        if self.serialized:
            if raw_value is None and hasattr(self.data, "_db_for_partition"):
                self.data._db_for_partition(partition).delete(raw_key)  # Faust's _del may try every partition
            elif raw_value is None:
                self.data._del(raw_key)
            else:
                self.data._set(raw_key, raw_value)
        elif value is None:  # the memory store keeps decoded values
            self.data.data.pop(key, None)
        else:
            self.data.data[key] = value
        out.produce(self.topic, raw_key, raw_value, partition)

    def persisted(self, offsets: dict[tuple[str, int], int]) -> None:
        """Record the delivered changelog offsets of this table (``Deliveries.done()``'s result)."""
        for (topic, partition), offset in offsets.items():
            if topic == self.topic:
                self.data.set_persisted_offset(TP(topic, partition), offset)
