"""Kafka producers and consumers with the engine's defaults, and a record-level send/consume layer.

Producer defaults: idempotent, ``acks=all``, small linger and lz4 compression. Consumer defaults:
``read_committed``, start from the earliest offset, no auto-commit (the caller commits after
processing). Overrides are librdkafka keys; in keyword form underscores stand for dots
(``linger_ms=20`` is ``linger.ms``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from socialpulse.schemas.records import Record

from .serde import AvroSerde, DecodeError
from .settings import Settings

__all__ = ["DeliveryError", "Sender", "consume_records", "make_consumer", "make_producer"]

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "compression.type": "lz4",
    # The Java client's and aiokafka's (Faust's) partitioner: a user's events land on the same partition
    # number in every topic, whoever produced them (librdkafka's default CRC32 would scatter them).
    "partitioner": "murmur2_random",
}

CONSUMER_DEFAULTS: dict[str, Any] = {
    "isolation.level": "read_committed",
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
}


def _librdkafka_keys(overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {key if "." in key else key.replace("_", "."): value for key, value in overrides.items()}


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    """A confluent-kafka Producer for ``settings.kafka_bootstrap`` with the engine's defaults."""
    config = {"bootstrap.servers": settings.kafka_bootstrap, **PRODUCER_DEFAULTS, **_librdkafka_keys(overrides)}
    return Producer(config)


def make_consumer(settings: Settings, group: str, **overrides: Any) -> Consumer:
    """A confluent-kafka Consumer in consumer group ``group`` with the engine's defaults."""
    config = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group,
        **CONSUMER_DEFAULTS,
        **_librdkafka_keys(overrides),
    }
    return Consumer(config)


class DeliveryError(RuntimeError):
    """Some records were not delivered; ``errors`` holds the first few broker errors."""

    def __init__(self, failed: int, errors: Sequence[str]) -> None:
        detail = "; ".join(errors)
        super().__init__(f"{failed} record(s) were not delivered: {detail}")
        self.failed = failed
        self.errors = list(errors)


class Sender:
    """Encodes and sends records, tracking delivery reports.

    ``send`` is asynchronous; ``flush`` waits for every outstanding record and raises
    :class:`DeliveryError` if any delivery failed since the last flush.
    """

    _KEEP_ERRORS = 10

    def __init__(self, producer: Producer, serde: AvroSerde) -> None:
        self.producer = producer
        self.serde = serde
        self.sent = 0
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []

    def send(self, topic: str, key: str | bytes | None, record: Record) -> None:
        """Queue ``record`` for ``topic`` (the broker name, prefix included)."""
        value = self.serde.encode(record, topic)
        raw_key = key.encode("utf-8") if isinstance(key, str) else key
        while True:
            try:
                self.producer.produce(topic, value=value, key=raw_key, on_delivery=self._on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.1)
        self.sent += 1
        self.producer.poll(0)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.failed += 1
        if len(self.errors) < self._KEEP_ERRORS:
            self.errors.append(f"{msg.topic()}: {err.str()}")

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for every queued record; returns how many were delivered in total."""
        remaining = self.producer.flush(timeout_s)
        if remaining:
            raise DeliveryError(remaining, [f"{remaining} still queued after {timeout_s}s", *self.errors])
        if self.failed:
            failed, errors = self.failed, self.errors
            self.failed, self.errors = 0, []
            raise DeliveryError(failed, errors)
        return self.delivered


def consume_records(
    consumer: Consumer,
    topics: Sequence[str],
    serde: AvroSerde,
    *,
    expected: type[Record] | Mapping[str, type[Record]] | None = None,
    idle_timeout_s: float | None = None,
    max_records: int | None = None,
    poll_s: float = 0.5,
    join_timeout_s: float = 30.0,
) -> Iterator[tuple[Message, Record | DecodeError]]:
    """Subscribe to ``topics`` and yield ``(message, record or DecodeError)``; bad bytes never raise.

    ``expected`` is the record type of every topic, or a mapping from topic name to type. Stops after
    ``max_records`` or when no message arrived for ``idle_timeout_s`` seconds; the idle clock starts
    once partitions are assigned (waiting at most ``join_timeout_s`` more for that). Broker errors
    other than end-of-partition raise :class:`confluent_kafka.KafkaException`. Commits are the
    caller's business.
    """
    assigned = False
    last_activity = time.monotonic()

    def on_assign(_consumer: Consumer, _partitions: list[Any]) -> None:
        nonlocal assigned, last_activity
        if not assigned:
            assigned = True
            last_activity = time.monotonic()

    consumer.subscribe(list(topics), on_assign=on_assign)
    count = 0
    while max_records is None or count < max_records:
        msg = consumer.poll(poll_s)
        now = time.monotonic()
        if msg is None:
            if idle_timeout_s is not None:
                limit = idle_timeout_s if assigned else idle_timeout_s + join_timeout_s
                if now - last_activity >= limit:
                    return
            continue
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(error)
        last_activity = now
        topic = msg.topic() or ""
        kind = expected.get(topic) if isinstance(expected, Mapping) else expected
        value = msg.value()
        try:
            record: Record | DecodeError = serde.decode(value if value is not None else b"", kind)
        except DecodeError as exc:
            record = exc
        count += 1
        yield msg, record
