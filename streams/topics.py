"""The topic catalogue: every topic the engine reads or writes, declared once.

Behaviour topics (clicks, purchases, reviews, social) are all keyed by a user id and are
co-partitioned: they have the same partition count, so the default partitioner sends every event of
one user to the same partition number in each of them. A worker that owns partition ``p`` therefore
sees the user's whole behaviour and keeps that user's state (history, session, social graph) locally,
with no repartition topic and no cross-worker lookups. Changing the partition count of one of them
breaks that, so ``create_topics`` refuses a catalogue whose existing behaviour topics disagree.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from socialpulse.schemas.records import (
    Click,
    Conversion,
    DeadLetter,
    Item,
    MarketingTrigger,
    Purchase,
    Recommendation,
    Record,
    Review,
    Social,
)

from .settings import Settings

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

__all__ = [
    "BEHAVIOUR_TOPICS",
    "TOPICS",
    "TopicError",
    "TopicSpec",
    "TopicState",
    "create_topics",
    "describe_topics",
    "spec_for",
    "topic_name",
]

log = logging.getLogger(__name__)

_DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its unprefixed name, the record type it carries and how it is keyed and kept."""

    name: str
    record_type: type[Record]
    key_field: str  # record attribute whose value (UTF-8) is the message key
    key: str  # what the key means, for people
    partitions: int | None = None  # None: settings.partitions
    replication: int | None = None  # None: settings.replication_factor
    cleanup: Literal["delete", "compact"] = "delete"
    retention_ms: int | None = 7 * _DAY_MS  # None: the broker default
    doc: str = ""

    def partitions_for(self, settings: Settings) -> int:
        return self.partitions if self.partitions is not None else settings.partitions

    def replication_for(self, settings: Settings) -> int:
        return self.replication if self.replication is not None else settings.replication_factor

    def config(self) -> dict[str, str]:
        """Topic-level configs for creation."""
        config: dict[str, str] = {"cleanup.policy": self.cleanup}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        return config

    def key_of(self, record: Record) -> bytes:
        return str(getattr(record, self.key_field)).encode("utf-8")


TOPICS: dict[str, TopicSpec] = {
    spec.name: spec
    for spec in (
        # Behaviour: keyed by the acting user, co-partitioned (see the module docstring).
        TopicSpec("clicks", Click, "user_id", "user_id", doc="Views, cart and wishlist actions."),
        TopicSpec("purchases", Purchase, "user_id", "user_id", doc="Completed orders."),
        TopicSpec("reviews", Review, "user_id", "user_id (the reviewer)", doc="Product reviews."),
        TopicSpec("social", Social, "actor_id", "actor_id (the acting user)", doc="Follows, unfollows, shares."),
        # Catalogue: the latest state per item wins, kept forever by compaction.
        TopicSpec(
            "items", Item, "item_id", "item_id", cleanup="compact", retention_ms=None, doc="Catalogue state."
        ),
        # Outputs.
        TopicSpec(
            "recommendations", Recommendation, "user_id", "user_id", retention_ms=3 * _DAY_MS,
            doc="Ranked lists per user.",
        ),
        TopicSpec("marketing-triggers", MarketingTrigger, "user_id", "user_id", doc="Campaign contact decisions."),
        TopicSpec(
            "conversions", Conversion, "user_id", "user_id", retention_ms=30 * _DAY_MS,
            doc="Purchases attributed to recommendations and triggers.",
        ),
        TopicSpec(
            "dlq", DeadLetter, "source_topic", "source topic of the bad record", retention_ms=14 * _DAY_MS,
            doc="Input records the engine could not use, kept whole with the reason.",
        ),
    )
}

BEHAVIOUR_TOPICS: tuple[str, ...] = ("clicks", "purchases", "reviews", "social")
assert len({TOPICS[name].partitions for name in BEHAVIOUR_TOPICS}) == 1, "behaviour topics must be co-partitioned"


class TopicError(RuntimeError):
    """Existing topics that the engine cannot run on (e.g. behaviour topics no longer co-partitioned)."""


def topic_name(spec: TopicSpec, settings: Settings) -> str:
    """The topic's name on the broker: ``settings.topic_prefix`` + catalogue name."""
    return settings.topic_prefix + spec.name


def spec_for(name: str, settings: Settings | None = None) -> TopicSpec:
    """Look a topic up by catalogue name, or by its prefixed broker name when ``settings`` are given."""
    if name in TOPICS:
        return TOPICS[name]
    if settings is not None and settings.topic_prefix and name.startswith(settings.topic_prefix):
        short = name[len(settings.topic_prefix) :]
        if short in TOPICS:
            return TOPICS[short]
    raise KeyError(f"unknown topic {name!r}; the catalogue has {', '.join(TOPICS)}")


def _admin(settings: Settings) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap})


@dataclass(frozen=True)
class TopicState:
    """A catalogue topic as the broker has it (``partitions`` None: it does not exist)."""

    spec: TopicSpec
    name: str
    expected_partitions: int
    partitions: int | None

    @property
    def exists(self) -> bool:
        return self.partitions is not None


def describe_topics(settings: Settings, admin: AdminClient | None = None, timeout_s: float = 10.0) -> list[TopicState]:
    """Every catalogue topic with its actual partition count on the broker."""
    admin = admin or _admin(settings)
    metadata = admin.list_topics(timeout=timeout_s)
    states = []
    for spec in TOPICS.values():
        name = topic_name(spec, settings)
        meta = metadata.topics.get(name)
        actual = len(meta.partitions) if meta is not None and meta.error is None else None
        states.append(TopicState(spec, name, spec.partitions_for(settings), actual))
    return states


def create_topics(
    settings: Settings, admin: AdminClient | None = None, timeout_s: float = 30.0
) -> dict[str, Literal["created", "exists"]]:
    """Create every missing catalogue topic; idempotent. Returns ``{broker name: "created" | "exists"}``.

    An existing topic with another partition count than configured is kept (partitions cannot
    shrink, and growing them would move keys) and logged as a warning. If that leaves the behaviour
    topics with different partition counts, :class:`TopicError` is raised: per-user state would split.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    admin = admin or _admin(settings)
    states = describe_topics(settings, admin, timeout_s)
    result: dict[str, Literal["created", "exists"]] = {}
    new = []
    raced: set[str] = set()
    for state in states:
        if state.exists:
            result[state.name] = "exists"
            if state.partitions != state.expected_partitions:
                log.warning(
                    "topic %s exists with %s partitions, settings ask for %s; keeping it as it is",
                    state.name, state.partitions, state.expected_partitions,
                )
        else:
            spec = state.spec
            replication = spec.replication_for(settings)
            new.append(NewTopic(state.name, state.expected_partitions, replication, config=spec.config()))
    if new:
        futures = admin.create_topics(new, operation_timeout=timeout_s, request_timeout=timeout_s)
        for name, future in futures.items():
            try:
                future.result(timeout=timeout_s)
                result[name] = "created"
            except KafkaException as exc:
                if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    result[name] = "exists"  # created meanwhile, or not yet in the metadata we read
                    raced.add(name)
                else:
                    raise TopicError(f"could not create topic {name}: {exc}") from exc
    if raced:  # their partition counts are unknown: read them back before checking co-partitioning
        states = _describe_until_visible(settings, admin, raced, timeout_s)
    _check_co_partitioned(states)
    return {state.name: result[state.name] for state in states}


def _describe_until_visible(
    settings: Settings, admin: AdminClient, names: set[str], timeout_s: float
) -> list[TopicState]:
    deadline = time.monotonic() + timeout_s
    while True:
        states = describe_topics(settings, admin, timeout_s)
        if all(s.exists for s in states if s.name in names) or time.monotonic() > deadline:
            return states
        time.sleep(0.2)


def _check_co_partitioned(states: list[TopicState]) -> None:
    counts = {
        state.name: state.partitions if state.exists else state.expected_partitions
        for state in states
        if state.spec.name in BEHAVIOUR_TOPICS
    }
    if len(set(counts.values())) > 1:
        listing = ", ".join(f"{name}={count}" for name, count in counts.items())
        raise TopicError(
            f"behaviour topics are not co-partitioned ({listing}): per-user state would be split across "
            "workers. Recreate them with one partition count."
        )
