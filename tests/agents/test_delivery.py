"""The worker's own producer: batches awaited against a real broker, and table writes with their changelog."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP
from harness import engine_settings
from prometheus_client import CollectorRegistry

from socialpulse.agents.app import create_app
from socialpulse.agents.delivery import Sink
from socialpulse.agents.partition_store import TableWriter, in_event
from socialpulse.streams.clients import DeliveryError, make_producer
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.settings import Settings


def _sink(bootstrap: str, **overrides: Any) -> Sink:
    return Sink(lambda: make_producer(Settings(kafka_bootstrap=bootstrap), **overrides))


def _read(bootstrap: str, topic: str, expect: int) -> list[tuple[int, bytes | None, bytes | None]]:
    """``(partition, key, value)`` of the first ``expect`` records of ``topic``, partition by partition."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-delivery-read",
                         "enable.auto.commit": False})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    found: list[tuple[int, int, bytes | None, bytes | None]] = []
    try:
        for _ in range(200):
            if len(found) >= expect:
                break
            for msg in consumer.consume(expect, timeout=0.5):
                if msg.error() is None:
                    found.append((msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value()))
    finally:
        consumer.close()
    return [(p, k, v) for p, _o, k, v in sorted(found, key=lambda r: (r[0], r[1]))]


def test_a_batch_returns_once_the_broker_has_every_record(kafka: Any,
                                                          topic_factory: Callable[..., str]) -> None:
    topic = topic_factory(partitions=2)
    sink = _sink(kafka.bootstrap)

    async def run() -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        first = sink.batch()
        for n in range(300):
            first.produce(topic, f"k{n}".encode(), f"v{n}".encode(), n % 2)
        first_offsets = await first.done()
        assert first.delivered == first.produced == 300
        second = sink.batch()  # a second batch counts only its own records
        second.produce(topic, b"k", b"last", 1)
        return first_offsets, await second.done()

    try:
        first, second = asyncio.run(run())
    finally:
        assert sink.close() == 0
    assert first == {(topic, 0): 149, (topic, 1): 149}
    assert second == {(topic, 1): 150}
    records = _read(kafka.bootstrap, topic, 301)
    assert records == ([(0, f"k{n}".encode(), f"v{n}".encode()) for n in range(0, 300, 2)]
                       + [(1, f"k{n}".encode(), f"v{n}".encode()) for n in range(1, 300, 2)] + [(1, b"k", b"last")])


def test_an_undelivered_record_fails_its_batch(kafka: Any, topic_factory: Callable[..., str]) -> None:
    topic = topic_factory(partitions=1)
    sink = _sink(kafka.bootstrap, message_timeout_ms=3000)

    async def run() -> None:
        out = sink.batch()
        out.produce(topic, b"k", b"fine", 0)
        out.produce(topic, b"k", b"nowhere", 7)  # the topic has one partition
        await out.done()

    try:
        with pytest.raises(DeliveryError, match=r"\[7\]"):
            asyncio.run(run())
    finally:
        sink.close()


class _Message:
    def __init__(self, partition: int) -> None:
        self.partition = partition


class _Event:
    def __init__(self, partition: int) -> None:
        self.message = _Message(partition)


@pytest.mark.parametrize("store", ["rocksdb://", "memory://"])
def test_a_table_write_reaches_the_store_and_the_changelog(kafka: Any, tmp_path: Path, store: str) -> None:
    """The local value, the changelog record (the same bytes Faust would send) and the persisted offset."""
    from socialpulse.agents.worker_topics import ensure_worker_topics

    settings = engine_settings(kafka.bootstrap, tmp_path, partitions=2, store=store)
    ensure_worker_topics(settings)
    app = create_app(settings, Metrics(CollectorRegistry()))
    engine = app.socialpulse  # type: ignore[attr-defined]
    table = engine.state_table
    writer = TableWriter.of(table)
    assert TableWriter.of(table) is writer and writer.topic == table.changelog_topic.get_topic_name()
    value = {"h": [["item-1", 3, 1.5]], "n": 2}

    async def run() -> dict[tuple[str, int], int]:
        out = engine.sink.batch()
        with in_event(_Event(1)):
            writer.write(out, 1, "1|u:alice", value)
            writer.write(out, 1, "1|u:bob", {"n": 1})
            writer.write(out, 1, "1|u:bob", None)  # a deletion: a tombstone
        offsets = await out.done()
        writer.persisted(offsets)
        return offsets

    try:
        offsets = asyncio.run(run())
    finally:
        engine.sink.close()
    assert offsets == {(writer.topic, 1): 2}
    with in_event(_Event(1)):
        assert table.get("1|u:alice") == value
        assert table.get("1|u:bob") is None
    assert _read(kafka.bootstrap, writer.topic, 3) == [(1, b"1|u:alice", table.data._encode_value(value)),
                                                       (1, b"1|u:bob", table.data._encode_value({"n": 1})),
                                                       (1, b"1|u:bob", None)]
    if store.startswith("rocksdb"):  # where a restart resumes its recovery from
        assert table.data.persisted_offset(TP(writer.topic, 1)) == 2
