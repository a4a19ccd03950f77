"""Every worker keeps the whole catalogue: it reads all partitions of the compacted items topic.

Recommendations for any user may name any item, so the catalogue is broadcast rather than
partitioned. The reader consumes outside any consumer group, from the beginning, and reports ready
once it has caught up with the end offsets it saw at start-up. Invalid items are skipped here; the
items agent dead-letters them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from mode import Service

from socialpulse.models.interactions import ItemInfo
from socialpulse.schemas import Item
from socialpulse.streams.serde import AvroSerde, DecodeError
from socialpulse.streams.settings import Settings
from socialpulse.streams.topics import TOPICS, topic_name
from socialpulse.streams.validation import Limits, problem

from .pipeline import item_info

log = logging.getLogger(__name__)


def apply_item(catalogue: dict[str, ItemInfo], serde: AvroSerde, value: bytes | None, limits: Limits) -> bool:
    """Decode one items-topic value into the catalogue; False when unusable (dead-lettered elsewhere)."""
    if value is None:
        return False
    try:
        item = serde.decode(value, Item)
    except DecodeError:
        return False
    if not isinstance(item, Item) or problem(item, int(time.time() * 1000), limits) is not None:
        return False
    catalogue[item.item_id] = item_info(item)
    return True


class CatalogueReader(Service):
    """A mode Service the Faust app runs beside its agents."""

    def __init__(self, settings: Settings, serde: AvroSerde, catalogue: dict[str, ItemInfo], limits: Limits,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.serde = serde
        self.catalogue = catalogue
        self.limits = limits
        self.caught_up = asyncio.Event()
        self.topic = topic_name(TOPICS["items"], settings)

    @Service.task
    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False,
                                    group_id=None, isolation_level="read_committed")
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(self.topic)
            while not partitions:
                await asyncio.sleep(0.2)
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(self.topic)
                if self.should_stop:
                    return
            tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            end = await consumer.end_offsets(tps)
            remaining = {tp for tp in tps if end[tp] > 0}
            if not remaining:
                self.caught_up.set()
            while not self.should_stop:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for tp, messages in batches.items():
                    for message in messages:
                        apply_item(self.catalogue, self.serde, message.value, self.limits)
                        if tp in remaining and message.offset >= end[tp] - 1:
                            remaining.discard(tp)
                if remaining and await _all_reached(consumer, end, remaining):
                    remaining.clear()
                if not remaining and not self.caught_up.is_set():
                    log.info("catalogue loaded: %d items", len(self.catalogue))
                    self.caught_up.set()
        finally:
            await consumer.stop()


async def _all_reached(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int], tps: set[TopicPartition]) -> bool:
    """Whether the consumer's position is at or past ``end`` on every partition in ``tps``.

    (Not ``all(await ... for ...)``: with an ``await`` inside, that generator is asynchronous and
    ``all()`` raises TypeError on it.) The position can reach the end offset without a record at
    ``end - 1`` being seen, e.g. when the last offset holds a transaction marker.
    """
    for tp in list(tps):
        if await consumer.position(tp) < end[tp]:
            return False
    return True
