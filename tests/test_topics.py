"""The topic catalogue (unit) and create_topics / Sender against the real broker."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from socialpulse.schemas.records import RECORD_TYPES
from socialpulse.streams.clients import DeliveryError, Sender, make_consumer, make_producer
from socialpulse.streams.serde import AvroSerde
from socialpulse.streams.settings import Settings
from socialpulse.streams.topics import (
    BEHAVIOUR_TOPICS,
    TOPICS,
    TopicError,
    create_topics,
    describe_topics,
    spec_for,
    topic_name,
)


def test_catalogue_covers_the_contract() -> None:
    assert set(TOPICS) == {
        "clicks", "purchases", "reviews", "social", "items", "recommendations", "marketing-triggers",
        "conversions", "dlq",
    }  # fmt: skip
    assert {spec.record_type for spec in TOPICS.values()} == set(RECORD_TYPES.values())
    for spec in TOPICS.values():
        field_names = {f.name for f in dataclasses.fields(spec.record_type)}
        assert spec.key_field in field_names, spec.name


def test_behaviour_topics_are_keyed_by_user_and_co_partitioned() -> None:
    keys = {name: TOPICS[name].key_field for name in BEHAVIOUR_TOPICS}
    assert keys == {"clicks": "user_id", "purchases": "user_id", "reviews": "user_id", "social": "actor_id"}
    for settings in (Settings(), Settings(partitions=12)):
        assert len({TOPICS[name].partitions_for(settings) for name in BEHAVIOUR_TOPICS}) == 1


def test_items_are_compacted_and_keyed_by_item() -> None:
    items = TOPICS["items"]
    assert (items.cleanup, items.key_field) == ("compact", "item_id")
    assert items.config() == {"cleanup.policy": "compact"}


def test_names_and_defaults_come_from_settings() -> None:
    settings = Settings(topic_prefix="staging.", partitions=6, replication_factor=3)
    clicks = TOPICS["clicks"]
    assert topic_name(clicks, settings) == "staging.clicks"
    assert (clicks.partitions_for(settings), clicks.replication_for(settings)) == (6, 3)
    assert spec_for("staging.clicks", settings) is clicks
    assert spec_for("clicks") is clicks
    with pytest.raises(KeyError, match="unknown topic"):
        spec_for("clickz")


# --- against the broker ---------------------------------------------------------------------------
@pytest.fixture
def prefix(kafka) -> Iterator[str]:
    prefix = f"tp{uuid.uuid4().hex[:8]}."
    yield prefix
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.delete_topics([prefix + n for n in TOPICS], operation_timeout=30).values():
        with contextlib.suppress(Exception):
            future.result(timeout=30)


@pytest.mark.kafka
def test_create_topics_is_idempotent_and_keeps_other_partition_counts(kafka, prefix, caplog) -> None:
    settings = Settings(kafka_bootstrap=kafka.bootstrap, topic_prefix=prefix, partitions=2)
    assert set(create_topics(settings).values()) == {"created"}
    states = {s.spec.name: s for s in describe_topics(settings)}
    assert all(s.partitions == 2 for s in states.values())

    more = settings.model_copy(update={"partitions": 4})
    with caplog.at_level(logging.WARNING, logger="socialpulse.streams.topics"):
        assert set(create_topics(more).values()) == {"exists"}
    assert f"{prefix}clicks exists with 2 partitions, settings ask for 4" in caplog.text


@pytest.mark.kafka
def test_create_topics_refuses_behaviour_topics_that_are_not_co_partitioned(kafka, prefix) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_topics([NewTopic(prefix + "reviews", 5, 1)])[prefix + "reviews"].result(timeout=30)
    settings = Settings(kafka_bootstrap=kafka.bootstrap, topic_prefix=prefix, partitions=2)
    with pytest.raises(TopicError, match="not co-partitioned"):
        create_topics(settings)


@pytest.mark.kafka
def test_sender_flush_raises_when_delivery_fails(kafka, topic_factory) -> None:
    settings = Settings(kafka_bootstrap=kafka.bootstrap)
    from record_samples import SAMPLES

    good = topic_factory()
    sender = Sender(make_producer(settings, message_timeout_ms=3000), AvroSerde())
    sender.send(good, "u1", SAMPLES["Click"][0])
    assert sender.flush() == 1
    sender.send(f"missing-{uuid.uuid4().hex[:8]}", "u1", SAMPLES["Click"][0])  # auto-create is off
    with pytest.raises(DeliveryError) as info:
        sender.flush()
    assert info.value.failed == 1
    assert (sender.sent, sender.delivered) == (2, 1)


def test_client_defaults_and_overrides() -> None:
    from socialpulse.streams.clients import CONSUMER_DEFAULTS, PRODUCER_DEFAULTS, _librdkafka_keys

    assert PRODUCER_DEFAULTS["enable.idempotence"] is True and PRODUCER_DEFAULTS["acks"] == "all"
    assert CONSUMER_DEFAULTS["isolation.level"] == "read_committed"
    assert CONSUMER_DEFAULTS["enable.auto.commit"] is False
    assert _librdkafka_keys({"linger_ms": 1, "auto.offset.reset": "latest"}) == {
        "linger.ms": 1, "auto.offset.reset": "latest"
    }
    make_consumer(Settings(), "g", auto_offset_reset="latest").close()  # librdkafka accepts the merged config


@pytest.mark.kafka
def test_worker_topics_exist_with_leaders_before_faust_starts(kafka, prefix) -> None:
    from confluent_kafka.admin import ConfigResource

    from socialpulse.agents.worker_topics import ensure_worker_topics, worker_topics

    settings = Settings(kafka_bootstrap=kafka.bootstrap, topic_prefix=prefix, partitions=3,
                        app_id=f"sp-{prefix.rstrip('.')}")
    names = worker_topics(settings)
    assert prefix + "social-signals" in names and f"{settings.app_id}-state-changelog" in names
    assert ensure_worker_topics(settings) == sorted(names)
    assert ensure_worker_topics(settings) == []  # idempotent
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    metadata = admin.list_topics(timeout=10).topics
    assert all(len(metadata[n].partitions) == 3 for n in names)
    configs = admin.describe_configs([ConfigResource("topic", n) for n in names])
    policies = {r.name: f.result(timeout=10)["cleanup.policy"].value for r, f in configs.items()}
    assert policies == {n: c["cleanup.policy"] for n, c in names.items()}
    for future in admin.delete_topics(list(names), operation_timeout=30).values():
        future.result(timeout=30)
