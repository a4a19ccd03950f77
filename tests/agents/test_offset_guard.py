"""The offset guard against a fake partition log: every record reaches the agent once, in order.

The fake consumer reproduces what faust-streaming was seen doing on a restart: it delivers a
partition from a later offset than the committed one, or stops delivering its tail altogether.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from socialpulse.agents.offsets import REWIND_PATIENCE_S, STALL_S, OffsetGuard

TOPIC = "clicks"
T = TypeVar("T")


class FakeLog:
    """One partition's offsets (with holes where records do not exist) and a consumer position."""

    def __init__(self, offsets: list[int], committed: int) -> None:
        self.offsets = offsets
        self.committed = committed
        self.position = 0
        self.seeks: list[int] = []
        self.now = 0.0

    async def resume_at(self, topic: str, partition: int) -> int:
        return self.committed

    async def first_at(self, topic: str, partition: int, offset: int) -> int | None:
        return next((o for o in self.offsets if o >= offset), None)

    async def seek(self, topic: str, partition: int, offset: int) -> None:
        self.seeks.append(offset)
        self.position = offset

    def guard(self) -> OffsetGuard:
        return OffsetGuard(self.resume_at, self.first_at, self.seek, clock=lambda: self.now)

    async def deliver(self, guard: OffsetGuard, skip: frozenset[int] = frozenset(), limit: int = 10_000) -> list[int]:
        """Feed records from the position on, dropping those in ``skip`` once (as Faust did)."""
        accepted: list[int] = []
        skipped = set(skip)
        for _ in range(limit):
            pending = [o for o in self.offsets if o >= self.position]
            if not pending:
                return accepted
            offset = pending[0]
            self.position = offset + 1
            if offset in skipped:
                skipped.discard(offset)
                continue
            if await guard.accept(TOPIC, 0, offset):
                accepted.append(offset)
        raise AssertionError("did not finish")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_in_order_delivery_passes_untouched() -> None:
    log = FakeLog(list(range(100)), committed=0)
    guard = log.guard()
    assert run(log.deliver(guard)) == list(range(100))
    assert log.seeks == []


def test_records_skipped_after_a_restart_are_read_again() -> None:
    log = FakeLog(list(range(100)), committed=40)
    log.position = 40
    guard = log.guard()
    assert run(log.deliver(guard, skip=frozenset(range(40, 57)))) == list(range(40, 100))
    assert log.seeks == [40]


def test_a_partition_without_commits_starts_at_the_log_start() -> None:
    log = FakeLog(list(range(20)), committed=0)
    guard = log.guard()
    assert run(log.deliver(guard, skip=frozenset(range(0, 17)))) == list(range(20))


def test_records_already_processed_are_dropped() -> None:
    log = FakeLog(list(range(30)), committed=10)
    guard = log.guard()  # the consumer starts too early: 0..9 were committed by the last owner
    assert run(log.deliver(guard)) == list(range(10, 30))


def test_holes_that_do_not_exist_are_accepted_after_asking_the_broker() -> None:
    offsets = [*range(10), *range(12, 20), *range(25, 30)]  # transaction markers or compaction
    log = FakeLog(offsets, committed=0)
    guard = log.guard()
    assert run(log.deliver(guard)) == offsets
    assert log.seeks == []


def test_a_skip_repeated_during_the_rewind_is_sought_back_again() -> None:
    log = FakeLog(list(range(50)), committed=0)
    guard = log.guard()

    async def scenario() -> list[int]:
        assert not await guard.accept(TOPIC, 0, 10)  # 0..9 skipped: seek back to 0
        assert not await guard.accept(TOPIC, 0, 11)  # queued before the seek
        assert not await guard.accept(TOPIC, 0, 5)  # the re-fetch skipped 0..4 again: seek again
        assert log.seeks == [0, 0]
        return [o for o in range(50) if await guard.accept(TOPIC, 0, o)]

    assert run(scenario()) == list(range(50))


def test_a_rewind_that_never_arrives_is_retried_after_patience() -> None:
    log = FakeLog(list(range(50)), committed=0)
    guard = log.guard()

    async def scenario() -> None:
        assert not await guard.accept(TOPIC, 0, 10)
        log.now += REWIND_PATIENCE_S + 1
        assert not await guard.accept(TOPIC, 0, 12)  # increasing, but the patience ran out
        assert log.seeks == [0, 0]

    run(scenario())


def test_a_stalled_tail_is_sought_back_by_the_timer() -> None:
    log = FakeLog(list(range(30)), committed=0)
    guard = log.guard()

    async def scenario() -> list[int]:
        got = [o for o in range(10) if await guard.accept(TOPIC, 0, o)]
        # Offsets 10..29 were fetched and dropped: nothing more arrives.
        assert not await guard.check_stalled(TOPIC, 0, high_watermark=30)  # too early to tell
        log.now += STALL_S + 1
        assert await guard.check_stalled(TOPIC, 0, high_watermark=30)
        assert log.seeks == [10]
        return got + [o for o in range(10, 30) if await guard.accept(TOPIC, 0, o)]

    assert run(scenario()) == list(range(30))


def test_a_partition_the_fetcher_has_not_reached_is_not_stalled() -> None:
    """Under a backlog the fetcher may not hand a partition's records over for a while: its position
    has not passed them, so they were not skipped and the partition is left alone."""
    log = FakeLog(list(range(30)), committed=0)
    guard = log.guard()

    async def scenario() -> tuple[bool, bool]:
        for o in range(10):
            await guard.accept(TOPIC, 0, o)
        log.now += STALL_S + 1
        waiting = await guard.check_stalled(TOPIC, 0, high_watermark=30, position=10)
        skipped = await guard.check_stalled(TOPIC, 0, high_watermark=30, position=30)
        return waiting, skipped

    assert run(scenario()) == (False, True)
    assert log.seeks == [10]


def test_a_drained_partition_is_not_stalled() -> None:
    log = FakeLog(list(range(10)), committed=0)
    guard = log.guard()

    async def scenario() -> bool:
        for o in range(10):
            await guard.accept(TOPIC, 0, o)
        log.now += STALL_S + 1
        return await guard.check_stalled(TOPIC, 0, high_watermark=10)

    assert run(scenario()) is False
    assert log.seeks == []


def test_reset_starts_again_from_the_committed_offset() -> None:
    log = FakeLog(list(range(20)), committed=0)
    guard = log.guard()

    async def scenario() -> list[int]:
        for o in range(10):
            await guard.accept(TOPIC, 0, o)
        log.committed = 5  # a rebalance: the group's committed offset is where it restarts
        guard.reset()
        return [o for o in range(5, 20) if await guard.accept(TOPIC, 0, o)]

    assert run(scenario()) == list(range(5, 20))


def test_assigned_partitions_resume_offsets_are_asked_once_for_all() -> None:
    calls: list[list[tuple[str, int]]] = []
    single: list[tuple[str, int]] = []

    async def resume_many(partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        calls.append(sorted(partitions))
        return {tp: 10 * tp[1] for tp in partitions if tp[1] != 2}  # partition 2: no answer

    async def resume_at(topic: str, partition: int) -> int:
        single.append((topic, partition))
        return 20

    async def first_at(topic: str, partition: int, offset: int) -> int | None:
        return offset

    async def seek(topic: str, partition: int, offset: int) -> None:
        raise AssertionError("no seek expected")

    async def go() -> list[bool]:
        guard = OffsetGuard(resume_at, first_at, seek, resume_many=resume_many)
        guard.prefetch([(TOPIC, 0), (TOPIC, 1), (TOPIC, 2)])
        guard.prefetch([(TOPIC, 1)])  # already on its way: not asked again
        out = [await guard.accept(TOPIC, 0, 0), await guard.accept(TOPIC, 1, 10), await guard.accept(TOPIC, 1, 11),
               await guard.accept(TOPIC, 2, 20)]
        guard.reset()  # a rebalance: the next assignment asks again
        guard.prefetch([(TOPIC, 0)])
        out.append(await guard.accept(TOPIC, 0, 0))
        return out

    assert run(go()) == [True, True, True, True, True]
    assert calls == [[(TOPIC, 0), (TOPIC, 1), (TOPIC, 2)], [(TOPIC, 0)]]
    assert single == [(TOPIC, 2)]  # the one the batch request did not answer
