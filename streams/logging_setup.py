"""Logging for the worker: plain or JSON lines, each record tagged with the Kafka position
(``topic[partition]@offset``) of the event being processed, and user ids hashed unless debugging.

    configure_logging(settings)
    with event_context(event.topic, event.partition, event.offset):
        log.warning("model failed for %s, falling back", hash_user(user_id, settings.debug_pii))
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

__all__ = ["EventContextFilter", "configure_logging", "event_context", "format_position", "hash_user"]

NO_EVENT = "-"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(kafka)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(kafka)s"

# Per asyncio task (each Faust agent runs in its own), so concurrent agents do not mix positions.
_position: ContextVar[tuple[str, int, int] | None] = ContextVar("socialpulse_kafka_position", default=None)


def format_position(topic: str, partition: int, offset: int) -> str:
    return f"{topic}[{partition}]@{offset}"


@contextmanager
def event_context(topic: str, partition: int, offset: int) -> Iterator[None]:
    """Tag every record logged inside the block with this Kafka position."""
    token = _position.set((topic, partition, offset))
    try:
        yield
    finally:
        _position.reset(token)


class EventContextFilter(logging.Filter):
    """Adds ``kafka`` (``topic[partition]@offset`` or ``-``) and, inside an event, ``topic``,
    ``partition`` and ``offset`` to each record. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        pos = _position.get()
        if pos is None:
            if not hasattr(record, "kafka"):
                record.kafka = NO_EVENT
        else:
            record.kafka = format_position(*pos)
            record.topic, record.partition, record.offset = pos
        return True


def hash_user(user_id: object, debug: bool = False) -> str:
    """Stable 12-hex-digit hash of a user id for logs; the raw id only when ``debug`` is set.

    Stable across processes and runs (unlike ``hash()``), so one user's lines can be followed.
    It hides ids from casual reading; it is not anonymisation against someone who can enumerate ids.
    """
    text = str(user_id)
    if debug:
        return text
    return "u_" + hashlib.blake2b(text.encode(), digest_size=6, person=b"socialpulse").hexdigest()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg,unused-ignore]
    """Marks the handler this module installed, so reconfiguring replaces it instead of adding one."""


def configure_logging(settings: Any, stream: IO[str] | None = None) -> logging.Handler:
    """Configure the root logger from ``settings.log_level`` and ``settings.log_json``.

    Idempotent: calling it again replaces the handler it installed before. Returns that handler.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _Handler):
            root.removeHandler(handler)
    handler = _Handler(stream or sys.stderr)
    formatter: logging.Formatter
    if settings.log_json:
        formatter = JsonFormatter(
            JSON_FIELDS, rename_fields={"levelname": "level", "asctime": "time", "name": "logger"}
        )
    else:
        formatter = logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(EventContextFilter())
    root.addHandler(handler)
    root.setLevel(str(settings.log_level).upper())
    return handler
