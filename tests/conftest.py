"""Shared fixtures: the real Kafka and schema registry the test session starts.

Any test that takes ``kafka``, ``topic_factory``, ``unique_group`` or ``registry`` runs against a real
broker; when it cannot start, the fixture raises and those tests fail (they never skip).
Set ``SOCIALPULSE_TEST_BOOTSTRAP`` to use a broker that is already running instead.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from socialpulse.deploy.kafka import LocalKafka
from socialpulse.deploy.registry import LocalRegistry


@dataclass(frozen=True)
class ExternalKafka:
    """A broker this session did not start (``SOCIALPULSE_TEST_BOOTSTRAP``); never stopped by tests."""

    bootstrap: str
    ready_seconds: float | None = None
    pids: tuple[int, ...] = ()


@pytest.fixture(scope="session")
def kafka() -> Iterator[LocalKafka | ExternalKafka]:
    """A single-node Kafka for the whole session; ``.bootstrap`` is ``"127.0.0.1:PORT"``."""
    external = os.environ.get("SOCIALPULSE_TEST_BOOTSTRAP")
    if external:
        yield ExternalKafka(external)
        return
    broker = LocalKafka(nodes=1).start()  # raises KafkaStartError with the broker log's tail
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topic_factory(kafka: LocalKafka | ExternalKafka) -> Iterator[Callable[..., str]]:
    """``topic_factory(partitions=1, config=None, prefix="t") -> name``: creates a unique topic and
    waits until it exists. The topics are deleted after the test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    created: list[str] = []

    def create(partitions: int = 1, config: dict[str, str] | None = None, prefix: str = "t",
               replication_factor: int = -1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        new = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                       config=dict(config or {}))
        admin.create_topics([new], operation_timeout=30)[name].result(timeout=30)
        created.append(name)
        return name

    yield create
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            # A test may have deleted it already; the broker dies with the session anyway.
            with contextlib.suppress(Exception):
                future.result(timeout=30)


@pytest.fixture
def unique_group() -> Callable[[str], str]:
    """``unique_group(prefix="g") -> group id`` unused by any other test."""

    def make(prefix: str = "g") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture(scope="session")
def registry() -> Iterator[LocalRegistry]:
    """Apicurio Registry (in-memory, BACKWARD) for the session; ``.url`` is the Confluent-compatible URL."""
    reg = LocalRegistry().start()  # raises RegistryStartError with the log's tail
    try:
        yield reg
    finally:
        reg.stop()
