from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from socialpulse.streams.logging_setup import (
    EventContextFilter,
    configure_logging,
    event_context,
    format_position,
    hash_user,
)
from socialpulse.streams.settings import Settings


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_text_logs_carry_the_kafka_position(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(Settings(log_json=False, log_level="DEBUG"), stream=out)
    log = logging.getLogger("socialpulse.test")
    log.info("outside")
    with event_context("interactions", 3, 1234):
        log.warning("inside")
    lines = out.getvalue().splitlines()
    assert "[-] outside" in lines[0]
    assert "WARNING socialpulse.test [interactions[3]@1234] inside" in lines[1]


def test_json_logs(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(Settings(log_json=True), stream=out)
    log = logging.getLogger("socialpulse.test")
    with event_context("reviews", 0, 7):
        log.error("bad %s", "thing", extra={"reason": "decode_error"})
    log.info("no event")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "bad thing"
    assert first["level"] == "ERROR" and first["logger"] == "socialpulse.test"
    assert first["kafka"] == "reviews[0]@7"
    assert (first["topic"], first["partition"], first["offset"]) == ("reviews", 0, 7)
    assert first["reason"] == "decode_error"
    assert "time" in first
    assert second["kafka"] == "-" and "topic" not in second


def test_level_and_idempotence(restore_root: None) -> None:
    out = io.StringIO()
    configure_logging(Settings(log_level="WARNING"), stream=out)
    configure_logging(Settings(log_level="WARNING"), stream=out)
    log = logging.getLogger("socialpulse.test")
    log.info("hidden")
    log.warning("shown")
    assert out.getvalue().count("shown") == 1  # one handler, not two
    assert "hidden" not in out.getvalue()


def test_position_is_per_task() -> None:
    seen: dict[str, str] = {}
    flt = EventContextFilter()

    async def agent(topic: str, offset: int) -> None:
        with event_context(topic, 0, offset):
            await asyncio.sleep(0.01)
            record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
            flt.filter(record)
            seen[topic] = record.kafka  # type: ignore[attr-defined]

    async def main() -> None:
        await asyncio.gather(agent("a", 1), agent("b", 2))

    asyncio.run(main())
    assert seen == {"a": "a[0]@1", "b": "b[0]@2"}


def test_context_resets_after_exception() -> None:
    flt = EventContextFilter()
    with pytest.raises(RuntimeError), event_context("t", 1, 2):
        raise RuntimeError
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    flt.filter(record)
    assert record.kafka == "-"  # type: ignore[attr-defined]


def test_format_position() -> None:
    assert format_position("interactions", 2, 99) == "interactions[2]@99"


def test_hash_user_is_stable_short_and_hides_the_id() -> None:
    h = hash_user("alice")
    assert h == hash_user("alice") and h != hash_user("bob")
    assert h.startswith("u_") and len(h) == 14
    assert "alice" not in h
    assert hash_user(42) == hash_user("42")
    assert hash_user("alice", debug=True) == "alice"
    # Pinned: the hash must not change between releases or log searches break.
    assert hash_user("alice") == "u_ddc0cadfe1d5"
    assert len({hash_user(f"user-{i}") for i in range(10_000)}) == 10_000
