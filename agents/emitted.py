"""Read-back of recent outputs, so a replay after a crash does not send a recommendation twice.

At-least-once processing re-reads the events after the last committed offset; some of their
recommendations may already be in the output topic (sent, then the worker died before it committed).
Output ids are derived from input ids, and the recommendations topic is co-partitioned with the inputs
(keyed by user, same partition count), so before a partition's first batch the worker reads the tail
of the same partition of the output topic and skips ids found there.
"""

from __future__ import annotations

import logging
from collections import deque

from aiokafka import AIOKafkaConsumer, TopicPartition

from socialpulse.streams.serde import AvroSerde, DecodeError

log = logging.getLogger(__name__)


class RecentIds:
    """A bounded set of ids (oldest forgotten first)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._order: deque[str] = deque()
        self._ids: set[str] = set()

    def add(self, value: str) -> None:
        if value in self._ids:
            return
        self._order.append(value)
        self._ids.add(value)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())

    def __contains__(self, value: object) -> bool:
        return value in self._ids

    def __len__(self) -> int:
        return len(self._ids)


async def read_tail_ids(bootstrap: str, topic: str, partition: int, window: int, serde: AvroSerde) -> RecentIds:
    """Ids of the last ``window`` committed records of one output partition."""
    ids = RecentIds(window)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                isolation_level="read_committed")
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        start = max(0, end - window)
        consumer.seek(tp, start)
        while end > 0 and (await consumer.position(tp)) < end:
            batches = await consumer.getmany(tp, timeout_ms=500, max_records=5000)
            for message in batches.get(tp, []):
                try:
                    record = serde.decode(message.value)
                except DecodeError:
                    continue
                ids.add(record.event_id)
    finally:
        await consumer.stop()
    log.info("read %d recent output ids from %s[%d]", len(ids), topic, partition)
    return ids
