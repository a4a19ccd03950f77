"""Every partition's events reach an agent in order and without holes, from the committed offset on.

faust-streaming 0.15 can drop fetched records around a rebalance or table recovery: its fetch loop
discards records of partitions that are paused or no longer active, then carries on from the
advanced fetch position. Its gap bookkeeping then marks the missing offsets as done, so the group
commits past events nobody processed (measured here: a restarted worker resumed 17 and 1,017
offsets past the committed ones, and those events were never processed).

:class:`OffsetGuard` checks each event's offset against the next one expected. The first event of a
partition after an assignment is expected at the group's committed offset (or the log start). An
event past the expected offset makes the guard ask the broker whether the missing offsets hold
records; if they do, it seeks the consumer back and drops events until the missing one arrives (and
seeks again if Faust skips it again); if they do not (compaction, retention, transaction markers),
it accepts the gap and logs it. Events already seen are dropped unprocessed. The logic is a plain
class over injected callables, so it is unit-tested without a broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]


REWIND_PATIENCE_S = 5.0  # re-check a rewind that has not delivered its target by then
STALL_S = 30.0  # an idle agent's partition with records left but no event this long had its tail skipped


@dataclass
class _Rewind:
    target: int  # the first missing offset, sought back to
    last: int  # the last offset dropped while waiting for it
    since: float  # when the seek was made


class OffsetGuard:
    """Per-partition offset continuity for one worker's input streams."""

    def __init__(self, resume_at: Callable[[str, int], Awaitable[int]],
                 first_at: Callable[[str, int, int], Awaitable[int | None]],
                 seek: Callable[[str, int, int], Awaitable[None]],
                 on_rewind: Callable[[str, int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 resume_many: Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int]]] | None = None,
                 ) -> None:
        self._resume_at = resume_at
        self._resume_many = resume_many
        self._pending: dict[TopicPartition, asyncio.Future[dict[TopicPartition, int]]] = {}
        self._first_at = first_at
        self._seek = seek
        self._on_rewind = on_rewind
        self._clock = clock
        self._expected: dict[TopicPartition, int] = {}
        self._rewinding: dict[TopicPartition, _Rewind] = {}
        self._last_event: dict[TopicPartition, float] = {}
        self._assigned_at = clock()

    def reset(self) -> None:
        """Forget every partition (after a rebalance: positions restart from the committed offsets)."""
        self._expected.clear()
        self._pending.clear()
        self._rewinding.clear()
        self._last_event.clear()
        self._assigned_at = self._clock()

    def prefetch(self, partitions: list[TopicPartition]) -> None:
        """Ask where newly assigned partitions resume, all in one request, before their first events.

        Asked one partition at a time on each first event, the answers held the first batches after
        an assignment for a second or more. A partition whose prefetch fails is asked on its own.
        """
        todo = [tp for tp in partitions if tp not in self._expected and tp not in self._pending]
        if not todo or self._resume_many is None:
            return
        task = asyncio.ensure_future(self._resume_many(todo))
        for tp in todo:
            self._pending[tp] = task

    async def _expected_offset(self, topic: str, partition: int) -> int:
        tp = (topic, partition)
        expected = self._expected.get(tp)
        if expected is None:
            found = None
            task = self._pending.pop(tp, None)
            if task is not None:
                try:
                    found = (await asyncio.shield(task)).get(tp)
                except Exception:
                    log.warning("resume offsets of %s[%d] not prefetched; asking again", topic, partition,
                                exc_info=True)
            if found is None:
                found = await self._resume_at(topic, partition)
            expected = self._expected[tp] = found
        return expected

    async def accept(self, topic: str, partition: int, offset: int) -> bool:
        """True when this event is the next one of its partition; False to drop it unprocessed."""
        tp = (topic, partition)
        self._last_event[tp] = self._clock()
        expected = await self._expected_offset(topic, partition)
        rewind = self._rewinding.get(tp)
        if rewind is None:
            if offset == expected:
                self._expected[tp] = offset + 1
                return True
            if offset < expected:
                return False  # seen already in this assignment, or before the committed offset
            log.warning("%s[%d] skipped from %d to %d; seeking back", topic, partition, expected, offset)
            return await self._rewind(topic, partition, expected, offset)
        if offset == rewind.target:
            del self._rewinding[tp]
            self._expected[tp] = offset + 1
            return True
        if offset < rewind.target:
            return False
        # Events queued before the seek arrive in increasing order; going backwards means the re-fetch
        # began and skipped the target again. Waiting too long means it was skipped past the queue.
        refetched = offset <= rewind.last
        rewind.last = offset
        if refetched or self._clock() - rewind.since > REWIND_PATIENCE_S:
            return await self._rewind(topic, partition, rewind.target, offset)
        return False

    async def check_stalled(self, topic: str, partition: int, high_watermark: int,
                            position: int | None = None) -> bool:
        """Seek back a partition whose events stopped coming while records remain; True when it did.

        Faust can skip a partition's whole tail; then no later event arrives to reveal the hole, so a
        timer asks here. ``position``, the consumer's next fetch offset, tells a skip from a backlog:
        at or below the expected offset, the fetcher has not handed those records over yet (it is busy
        with other partitions), so nothing was skipped and seeking would only disturb it.
        """
        tp = (topic, partition)
        now = self._clock()
        quiet_since = self._last_event.get(tp, self._assigned_at)
        if now - quiet_since < STALL_S:
            return False
        expected = await self._expected_offset(topic, partition)
        if high_watermark <= expected or (position is not None and position <= expected):
            return False
        log.warning("%s[%d] has records from %d to %d but no event came for %.0f s; seeking back", topic,
                    partition, expected, high_watermark - 1, now - quiet_since)
        self._last_event[tp] = now
        await self._seek_back(topic, partition, expected, high_watermark)
        return True

    async def _rewind(self, topic: str, partition: int, target: int, offset: int) -> bool:
        """Seek back to ``target`` unless the broker has nothing before ``offset``; True to take ``offset``."""
        tp = (topic, partition)
        first = await self._first_at(topic, partition, target)
        if first is None or first >= offset:
            log.warning("offsets %s[%d] %d..%d do not exist (compaction, retention or transaction markers)",
                        topic, partition, target, offset - 1)
            self._rewinding.pop(tp, None)
            self._expected[tp] = offset + 1
            return True
        if first > target:
            log.warning("offsets %s[%d] %d..%d do not exist; resuming at %d", topic, partition, target, first - 1,
                        first)
        await self._seek_back(topic, partition, first, offset)
        return False

    async def _seek_back(self, topic: str, partition: int, target: int, last: int) -> None:
        """Expect ``target`` next, drop events until it comes (``last``: the latest offset seen), and seek."""
        if self._on_rewind is not None:
            self._on_rewind(topic, partition)
        self._expected[(topic, partition)] = target
        self._rewinding[(topic, partition)] = _Rewind(target, last, self._clock())
        await self._seek(topic, partition, target)


def committed_or_start(bootstrap: str, group: str, topic: str, partition: int, timeout_s: float = 15.0) -> int:
    """Where a new owner of the partition resumes: the group's committed offset, else the log start.

    Blocking (confluent-kafka); call it in a thread. Raises when the broker does not answer in time.
    """
    return committed_or_start_many(bootstrap, group, [(topic, partition)], timeout_s)[(topic, partition)]


def committed_or_start_many(bootstrap: str, group: str, partitions: list[TopicPartition],
                            timeout_s: float = 15.0) -> dict[TopicPartition, int]:
    """:func:`committed_or_start` for several partitions with one consumer and one committed-offsets request.

    Never subscribes, so it never joins the group: it only reads the group's offsets.
    """
    from confluent_kafka import Consumer, KafkaException
    from confluent_kafka import TopicPartition as KafkaTP

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found: dict[TopicPartition, int] = {}
        for tp in consumer.committed([KafkaTP(t, p) for t, p in partitions], timeout=timeout_s):
            if tp.error is not None:
                raise KafkaException(tp.error)
            if tp.offset >= 0:
                found[(tp.topic, tp.partition)] = int(tp.offset)
            else:
                low, _ = consumer.get_watermark_offsets(KafkaTP(tp.topic, tp.partition), timeout=timeout_s)
                found[(tp.topic, tp.partition)] = int(low)
        return found
    finally:
        consumer.close()


def first_offset_at(bootstrap: str, topic: str, partition: int, offset: int, timeout_s: float = 15.0) -> int | None:
    """The first offset at or after ``offset`` that holds a record, or None when there is none yet.

    Blocking (confluent-kafka); call it in a thread.
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "socialpulse-offset-probe",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
        if offset >= high:
            return None
        consumer.assign([TopicPartition(topic, partition, max(offset, low))])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.retriable() or error.code() < 0:
                    continue  # partition EOF and transient errors: keep polling
                raise KafkaException(error)
            found = message.offset()
            assert found is not None  # a fetched record always has one
            return int(found)
        raise TimeoutError(f"no record from {topic}[{partition}]@{offset} in {timeout_s}s (high watermark {high})")
    finally:
        consumer.close()
