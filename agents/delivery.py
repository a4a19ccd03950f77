"""The worker's outputs and table changelog records, produced by librdkafka and awaited per batch.

Faust's producer (aiokafka) builds, partitions and batches every record in Python on the event loop,
and resolves a future per record there; with a changelog record per touched key and an output per
list, that was a large share of a worker's CPU. librdkafka does that work in its own threads (the
second core), and here a batch's records are awaited together: an agent produces a batch's outputs,
awaits them, writes its state (local store and changelog records) and awaits those before it acks
the batch, so an event's offset is committed only after its outputs and state are in Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from socialpulse.streams.clients import DeliveryError

log = logging.getLogger(__name__)

_KEEP_ERRORS = 10


class Deliveries:
    """Records produced for one step of one batch; ``await done()`` until the broker has them all."""

    __slots__ = ("_sink", "_waiter", "delivered", "errors", "offsets", "produced")

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self.produced = 0  # written by the event loop only
        self.delivered = 0  # written by the polling thread only
        self.errors: list[str] = []
        self.offsets: dict[tuple[str, int], int] = {}  # highest offset delivered per (topic, partition)
        self._waiter: asyncio.Future[None] | None = None

    def produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None = None) -> None:
        """Queue a record; ``partition`` None lets the partitioner (Java's murmur2) pick it from ``key``."""
        self._sink.produce(topic, key, value, partition, self._on_delivery)
        self.produced += 1

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:  # in the polling thread
        if err is not None:
            if len(self.errors) < _KEEP_ERRORS:
                self.errors.append(f"{msg.topic()}[{msg.partition()}]: {err.str()}")
        else:
            tp = (str(msg.topic()), int(msg.partition() or 0))
            offset = msg.offset()
            if offset is not None and offset > self.offsets.get(tp, -1):
                self.offsets[tp] = offset
        self.delivered += 1

    @property
    def complete(self) -> bool:
        return self.delivered >= self.produced

    async def done(self) -> dict[tuple[str, int], int]:
        """Wait for every record produced so far; raises :class:`DeliveryError` if any failed."""
        if not self.complete:
            self._waiter = asyncio.get_running_loop().create_future()
            self._sink.wait_for(self)
            await self._waiter
        if self.errors:
            raise DeliveryError(len(self.errors), self.errors)
        return self.offsets

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class Sink:
    """One librdkafka producer per worker, with a thread that serves its delivery reports.

    The producer is made at the first batch (librdkafka connects at once, and an app built only to be
    inspected should not). The thread wakes the event loop once per poll that served reports, not
    once per record.
    """

    def __init__(self, make_producer: Callable[[], Producer]) -> None:
        self._make_producer = make_producer
        self.producer: Producer | None = None
        self._waiting: set[Deliveries] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def batch(self) -> Deliveries:
        if self._thread is None:
            self.producer = self._make_producer()
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(target=self._poll, name="socialpulse-delivery", daemon=True)
            self._thread.start()
        return Deliveries(self)

    def produce(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None,
                on_delivery: Any) -> None:
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        assert self.producer is not None  # made by the batch that produces
        while True:
            try:
                self.producer.produce(topic, **kwargs)
                return
            except BufferError:  # librdkafka's queue is full: its threads drain it; back-pressure here
                time.sleep(0.005)

    def wait_for(self, deliveries: Deliveries) -> None:
        self._waiting.add(deliveries)
        self._check()  # the last report may have arrived before the waiter was registered

    def _check(self) -> None:
        for deliveries in [d for d in self._waiting if d.complete]:
            self._waiting.discard(deliveries)
            deliveries.wake()

    def _poll(self) -> None:
        assert self.producer is not None
        while not self._stop.is_set():
            try:
                served = self.producer.poll(0.05)
            except Exception:  # the thread must outlive one bad report, or every later batch waits forever
                log.exception("serving the producer's delivery reports failed")
                served = 1
            if served and self._loop is not None:
                try:
                    self._loop.call_soon_threadsafe(self._check)
                except RuntimeError:  # the loop closed: the process is ending
                    return

    def close(self, timeout_s: float = 10.0) -> int:
        """Stop the polling thread and deliver what is queued; returns how many records were left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.producer is None:
            return 0
        left = self.producer.flush(timeout_s)
        self.producer = None  # librdkafka's threads and connections end with the object
        if left:
            log.warning("%d records were still queued when the worker's producer closed", left)
        return left
