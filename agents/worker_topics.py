"""The worker's own topics (fan-out topics and table changelogs), created before Faust starts.

Faust declares these topics itself at start-up and subscribes at once. When the broker's metadata
does not show a just-created topic yet, Faust's assignor ignores it ("Ignoring missing topic") and the
consumer only notices it at the next metadata refresh, five minutes later: meanwhile nothing reads
that topic (seen here with ``social-signals``: no social feed for the first five minutes). Creating
them first, and waiting until every partition has a leader, closes that window.
"""

from __future__ import annotations

import logging
import time

from socialpulse.streams.settings import Settings

log = logging.getLogger(__name__)

FANOUT_TOPICS = ("social-edges", "social-signals", "price-drops")
TABLES = ("state", "latest-recommendations", "item-prices")


def changelog_topic(app_id: str, table: str) -> str:
    """The changelog topic of one of the worker's tables (Faust's naming, which recovery reads)."""
    return f"{app_id}-{table}-changelog"


def worker_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """Broker name -> topic config of every topic a worker reads besides the catalogue topics."""
    topics = {settings.topic_prefix + name: {"cleanup.policy": "delete"} for name in FANOUT_TOPICS}
    topics |= {changelog_topic(settings.app_id, table): {"cleanup.policy": "compact"} for table in TABLES}
    return topics


def ensure_worker_topics(settings: Settings, timeout_s: float = 60.0) -> list[str]:
    """Create the missing ones and wait until all partitions have leaders; returns those created."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    wanted = worker_topics(settings)
    existing = admin.list_topics(timeout=timeout_s).topics
    new = [NewTopic(name, settings.partitions, settings.replication_factor, config=config)
           for name, config in wanted.items() if name not in existing]
    created = []
    if new:
        for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
            try:
                future.result(timeout=timeout_s)
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another worker raced us: fine
                    raise
    deadline = time.monotonic() + timeout_s
    while True:
        topics = admin.list_topics(timeout=timeout_s).topics
        waiting = [name for name in wanted if name not in topics or topics[name].error is not None
                   or any(p.leader < 0 for p in topics[name].partitions.values())]
        if not waiting:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics without leaders after {timeout_s}s: {waiting}")
        time.sleep(0.2)
    if created:
        log.info("created worker topics %s", ", ".join(sorted(created)))
    return sorted(created)
