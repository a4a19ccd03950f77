"""Every schema through the real broker (both framings), and the real registry's compatibility check."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryError
from record_samples import SAMPLES

from socialpulse.schemas import registry as schemas
from socialpulse.schemas.records import RECORD_TYPES, Record
from socialpulse.streams.clients import Sender, consume_records, make_consumer, make_producer
from socialpulse.streams.serde import AvroSerde, DecodeError, registry_client
from socialpulse.streams.settings import Settings

pytestmark = pytest.mark.kafka


def _round_trip(kafka, topic_factory, unique_group, serde: AvroSerde, records: list[Record]) -> list[Record]:
    settings = Settings(kafka_bootstrap=kafka.bootstrap)
    topic = topic_factory(partitions=2)
    sender = Sender(make_producer(settings), serde)
    for record in records:
        sender.send(topic, "k", record)
    assert sender.flush() == len(records)
    consumer = make_consumer(settings, unique_group())
    try:
        got = [
            value
            for _msg, value in consume_records(
                consumer, [topic], serde, expected=type(records[0]), idle_timeout_s=5, max_records=len(records)
            )
        ]
    finally:
        consumer.close()
    assert not [g for g in got if isinstance(g, DecodeError)], got
    return [g for g in got if not isinstance(g, DecodeError)]


@pytest.mark.parametrize("name", list(RECORD_TYPES))
def test_every_schema_round_trips_through_kafka(kafka, topic_factory, unique_group, name: str) -> None:
    records = SAMPLES[name]
    assert _round_trip(kafka, topic_factory, unique_group, AvroSerde(), records) == records


def test_consume_records_yields_decode_errors_instead_of_raising(kafka, topic_factory, unique_group) -> None:
    settings = Settings(kafka_bootstrap=kafka.bootstrap)
    topic = topic_factory(partitions=1)
    producer = make_producer(settings)
    good = AvroSerde().encode(SAMPLES["Click"][0])
    for value in (b"garbage", good, b"", AvroSerde().encode(SAMPLES["Review"][0])):
        producer.produce(topic, key=b"u1", value=value)
    assert producer.flush(30) == 0
    consumer = make_consumer(settings, unique_group())
    try:
        got = list(consume_records(consumer, [topic], AvroSerde(), expected=type(SAMPLES["Click"][0]),
                                   idle_timeout_s=3))
    finally:
        consumer.close()
    values = [v for _m, v in got]
    assert len(values) == 4
    assert isinstance(values[0], DecodeError) and values[0].reason == "bad_magic" and values[0].raw == b"garbage"
    assert values[1] == SAMPLES["Click"][0]
    assert isinstance(values[2], DecodeError) and values[2].reason == "empty"
    assert isinstance(values[3], DecodeError) and values[3].reason == "wrong_type"
    assert [m.offset() for m, _v in got] == [0, 1, 2, 3]


# --- the real schema registry (Apicurio, Confluent-compatible API, BACKWARD) ----------------------
def test_every_schema_round_trips_through_kafka_and_the_registry(kafka, topic_factory, unique_group, registry):
    serde = AvroSerde(registry_client(registry.url))
    for name, records in SAMPLES.items():
        got = _round_trip(kafka, topic_factory, unique_group, serde, records)
        assert got == records, name
    # a fresh serde (another process) knows nothing cached and fetches writer schemas by id
    data = serde.encode(SAMPLES["Item"][0], "items-check")
    assert AvroSerde(registry_client(registry.url)).decode(data) == SAMPLES["Item"][0]


def test_registry_accepts_our_evolution_and_rejects_a_backward_incompatible_change(registry):
    client = registry_client(registry.url)
    subject = f"compat-{uuid.uuid4().hex[:8]}-value"
    (v1,) = schemas.older("Click")
    current = schemas.current("Click")
    client.register_schema(subject, Schema(json.dumps(v1.raw), "AVRO"))
    # the shipped v1 -> current change added fields with defaults: BACKWARD compatible
    client.register_schema(subject, Schema(json.dumps(current.raw), "AVRO"))

    incompatible = json.loads(json.dumps(current.raw))
    incompatible["fields"].append({"name": "country", "type": "string"})  # no default: old data unreadable
    with pytest.raises(SchemaRegistryError) as info:
        client.register_schema(subject, Schema(json.dumps(incompatible), "AVRO"))
    assert info.value.http_status_code == 409, info.value
    versions = client.get_versions(subject)
    assert len(versions) == 2
