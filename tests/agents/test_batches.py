"""``batches()`` against a fake Faust stream: batches fill while a backlog arrives, never wait at the tail."""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass
from typing import Any

from socialpulse.agents.app import batches, release_held


@dataclass(eq=False)  # hashed by identity, like Faust's messages (kept in a weak set)
class _Message:
    topic: str
    partition: int
    offset: int
    generation_id: int | None = None


@dataclass
class _Event:
    message: _Message


class _Consumer:
    def __init__(self) -> None:
        self.high = 0
        self._unacked_messages: weakref.WeakSet[_Message] = weakref.WeakSet()  # Faust's, filled on delivery

    def highwater(self, _tp: Any) -> int:
        return self.high


class _App:
    def __init__(self) -> None:
        self.consumer = _Consumer()


class _Stream:
    """What ``batches`` uses of a Faust stream: ``noack()``, ``channel``, ``events()``, ``ack()``, ``app``."""

    def __init__(self) -> None:
        self.app = _App()
        self.channel: asyncio.Queue[_Event] = asyncio.Queue()
        self.acked: list[int] = []

    def noack(self) -> _Stream:
        return self

    async def events(self) -> Any:
        while True:
            yield await self.channel.get()

    async def ack(self, event: _Event) -> bool:
        self.acked.append(event.message.offset)
        return True


async def _feed(stream: _Stream, offsets: range, high: int) -> None:
    """Put one event per turn of the loop, as Faust's fetcher does."""
    stream.app.consumer.high = high
    for offset in offsets:
        message = _Message("clicks", 0, offset)
        stream.app.consumer._unacked_messages.add(message)
        await stream.channel.put(_Event(message))
        await asyncio.sleep(0)


async def _collect(stream: _Stream, max_events: int, linger_s: float, stop_after: int) -> list[list[int]]:
    sizes: list[int] = []
    out: list[list[int]] = []
    async for batch in batches(stream, max_events, linger_s=linger_s, on_batch=sizes.append):  # type: ignore[arg-type]
        out.append([e.message.offset for e in batch])
        if sum(map(len, out)) >= stop_after:
            break
    assert sizes == [len(b) for b in out]
    return out


def test_a_backlog_fills_batches() -> None:
    async def run(linger_s: float) -> list[list[int]]:
        stream = _Stream()
        feed = asyncio.create_task(_feed(stream, range(100), high=100))
        out = await _collect(stream, 40, linger_s=linger_s, stop_after=100)
        await feed
        return out

    filled = asyncio.run(run(0.05))
    assert [len(b) for b in filled] == [40, 40, 20]
    assert [o for b in filled for o in b] == list(range(100))
    assert len(asyncio.run(run(0.0))) > 10  # without lingering the same feed comes one or two at a time


def test_the_tail_is_handed_over_at_once() -> None:
    async def run() -> tuple[list[list[int]], float]:
        stream = _Stream()
        await _feed(stream, range(1), high=1)  # the only event is the last in its partition
        started = time.monotonic()
        out = await _collect(stream, 40, linger_s=5.0, stop_after=1)
        return out, time.monotonic() - started

    out, waited = asyncio.run(run())
    assert out == [[0]]
    assert waited < 1.0


def test_lingering_is_bounded_per_batch() -> None:
    async def run() -> tuple[list[list[int]], float]:
        stream = _Stream()
        await _feed(stream, range(1), high=10)  # the broker has more, but they never arrive
        started = time.monotonic()
        out = await _collect(stream, 40, linger_s=0.05, stop_after=1)
        return out, time.monotonic() - started

    out, waited = asyncio.run(run())
    assert out == [[0]]
    assert 0.04 <= waited < 1.0


def test_events_are_acked_after_the_body() -> None:
    async def run() -> list[tuple[list[int], list[int]]]:
        stream = _Stream()
        seen: list[tuple[list[int], list[int]]] = []
        await _feed(stream, range(5), high=5)
        async for batch in batches(stream, 3, linger_s=0.01):  # type: ignore[arg-type]
            seen.append(([e.message.offset for e in batch], list(stream.acked)))
            if len(seen) == 2:
                break
        return seen

    assert asyncio.run(run()) == [([0, 1, 2], []), ([3, 4], [0, 1, 2])]


def test_events_the_offset_guard_drops_are_not_waited_for_by_a_rebalance() -> None:
    class DropOne:
        async def accept(self, _topic: str, _partition: int, offset: int) -> bool:
            return offset != 1  # offset 1 arrives twice in Faust's skips; here: the copy to drop

    async def run() -> tuple[list[int], list[_Message], set[int]]:
        stream = _Stream()
        kept = []
        stream.app.consumer.high = 3
        for offset in range(3):
            message = _Message("clicks", 0, offset)
            kept.append(message)  # still referenced, as Faust's stream holds its current event
            stream.app.consumer._unacked_messages.add(message)
            await stream.channel.put(_Event(message))
        out: list[int] = []
        async for batch in batches(stream, 10, guard=DropOne(), linger_s=0.01):  # type: ignore[arg-type]
            out += [e.message.offset for e in batch]
            if len(out) == 2:
                break
        return out, kept, {m.offset for m in stream.app.consumer._unacked_messages}

    out, kept, unacked = asyncio.run(run())
    assert out == [0, 2]
    # Faust's rebalance waits until this set holds no message left unacked: the dropped one must not stay.
    assert 1 not in unacked and len(kept) == 3


class _Flow:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


def test_a_batch_held_across_a_rebalance_is_released_and_then_dropped() -> None:
    """The channel is cleared between the check that it held an event and the stream taking it."""

    class RebalancingStream(_Stream):
        def __init__(self) -> None:
            super().__init__()
            self.app.flow_control = _Flow()  # type: ignore[attr-defined]
            self.app.consumer_generation_id = 1  # type: ignore[attr-defined]
            self.gate = asyncio.Event()

        async def events(self) -> Any:
            yield await self.channel.get()  # offset 0; offset 1 is still queued
            while not self.channel.empty():  # the revocation clears the agents' channels...
                self.channel.get_nowait()
            self.app.flow_control.active = False  # type: ignore[attr-defined]
            await self.gate.wait()  # ...and waits for every delivered event to be acked
            self.app.consumer_generation_id = 2  # type: ignore[attr-defined]
            self.app.flow_control.active = True  # type: ignore[attr-defined]
            yield _Event(_Message("clicks", 0, 0, generation_id=2))  # re-read from the committed offset

    async def run() -> tuple[int, set[int], list[list[int]]]:
        stream = RebalancingStream()
        for offset in range(2):
            message = _Message("clicks", 0, offset, generation_id=1)
            stream.app.consumer._unacked_messages.add(message)
            await stream.channel.put(_Event(message))
        held: dict[str, list[Any]] = {}
        out: list[list[int]] = []

        async def consume() -> None:
            async for batch in batches(stream, 10, name="clicks", held=held):  # type: ignore[arg-type]
                out.append([e.message.offset for e in batch])
                return

        task = asyncio.create_task(consume())
        while "clicks" not in held:
            await asyncio.sleep(0)
        released = release_held(stream.app, held)
        unacked = {m.offset for m in stream.app.consumer._unacked_messages if m.generation_id == 1}
        stream.gate.set()
        await asyncio.wait_for(task, 5)
        return released, unacked, out

    released, unacked, out = asyncio.run(run())
    assert released == 1
    assert 0 not in unacked  # the revocation no longer waits for the held event
    assert out == [[0]]  # the held batch was dropped unprocessed; offset 0 came again in the new generation


def test_release_does_nothing_outside_a_rebalance() -> None:
    stream = _Stream()
    stream.app.flow_control = _Flow()  # type: ignore[attr-defined]
    message = _Message("clicks", 0, 0)
    stream.app.consumer._unacked_messages.add(message)
    held = {"clicks": [_Event(message)]}
    assert release_held(stream.app, held) == 0
    assert message in stream.app.consumer._unacked_messages and held
