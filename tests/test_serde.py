"""AvroSerde and the JSON helpers, without Kafka: round trips, old payloads, and bad bytes."""

from __future__ import annotations

import dataclasses
import io
import json
import random
import struct
import uuid

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from record_samples import ALL, SAMPLES, T0

from socialpulse.schemas import registry
from socialpulse.schemas.records import RECORD_TYPES, Click, ClickSource, DeadLetter, Purchase, Record, Review
from socialpulse.streams.serde import (
    DECODE_REASONS,
    AvroSerde,
    DecodeError,
    RecordJsonError,
    encode_json,
    record_from_json,
    record_to_json,
    registry_client,
)


def _plain() -> AvroSerde:
    return AvroSerde()


def _confluent() -> AvroSerde:
    return AvroSerde(registry_client(f"mock://{uuid.uuid4().hex}"))


FRAMINGS = {"single_object": _plain, "confluent": _confluent}


def _ids(records: list[Record]) -> list[str]:
    return [f"{type(r).__name__}-{i}" for i, r in enumerate(records)]


def _expect_error(serde: AvroSerde, data: bytes, *reasons: str, expected: type[Record] | None = None) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        serde.decode(data, expected)
    err = info.value
    assert err.raw == data
    assert err.reason in DECODE_REASONS
    if reasons:
        assert err.reason in reasons, err
    return err


# --- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("record", ALL, ids=_ids(ALL))
def test_every_record_round_trips(framing: str, record: Record) -> None:
    serde = FRAMINGS[framing]()
    data = serde.encode(record, "clicks")
    assert data[:2] == b"\xc3\x01" if framing == "single_object" else data[:1] == b"\x00"
    assert serde.decode(data) == record
    assert serde.decode(data, type(record)) == record


@pytest.mark.parametrize("record", ALL, ids=_ids(ALL))
def test_to_avro_is_asdict_without_the_copies(record: Record) -> None:
    data = record.to_avro()
    expected = dataclasses.asdict(record)
    for name in ("lines", "items", "category_path", "tags"):  # the overrides hand fastavro lists
        if name in data and isinstance(data[name], list):
            expected[name] = list(expected[name])
    assert data == expected
    assert [type(v) for v in data.values()] == [type(v) for v in expected.values()]


def test_every_record_type_has_samples() -> None:
    assert set(SAMPLES) == set(RECORD_TYPES)


def test_single_object_header_is_the_current_fingerprint() -> None:
    record = SAMPLES["Click"][0]
    data = _plain().encode(record)
    assert data[2:10] == registry.current("Click").fingerprint


def test_confluent_subject_is_topic_value_and_id_is_cached() -> None:
    client = registry_client(f"mock://{uuid.uuid4().hex}")
    serde = AvroSerde(client)
    a = serde.encode(SAMPLES["Click"][0], "staging.clicks")
    b = serde.encode(SAMPLES["Click"][1], "staging.clicks")
    assert a[:5] == b[:5]
    (schema_id,) = struct.unpack(">I", a[1:5])
    assert client.get_latest_version("staging.clicks-value").schema_id == schema_id
    # another serde (another process) with the same registry decodes by id
    assert AvroSerde(client).decode(a) == SAMPLES["Click"][0]


def test_confluent_encode_needs_the_topic() -> None:
    with pytest.raises(ValueError, match="topic"):
        _confluent().encode(SAMPLES["Click"][0])


def test_a_plain_serde_still_decodes_after_switching_to_a_registry() -> None:
    data = _plain().encode(SAMPLES["Review"][0])
    assert _confluent().decode(data) == SAMPLES["Review"][0]


# --- old payloads ---------------------------------------------------------------------------------
V1_CLICK = {
    "event_id": "old", "user_id": "u1", "item_id": "i1", "session_id": "s1", "type": "wishlist",
    "timestamp": T0, "source": {"channel": "feed", "shared_by": "u3"},
}
EXPECTED_FROM_V1 = Click("old", "u1", "i1", "s1", "wishlist", T0, ClickSource("feed", "u3", None), None)


def _v1_body() -> bytes:
    (v1,) = registry.older("Click")
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, v1.parsed, V1_CLICK)
    return buf.getvalue()


def test_click_v1_single_object_payload_decodes_with_current_schema() -> None:
    (v1,) = registry.older("Click")
    assert v1.fingerprint != registry.current("Click").fingerprint
    data = b"\xc3\x01" + v1.fingerprint + _v1_body()
    assert _plain().decode(data, Click) == EXPECTED_FROM_V1


def test_click_v1_confluent_payload_decodes_with_current_schema() -> None:
    client = registry_client(f"mock://{uuid.uuid4().hex}")
    with open(registry.__file__.replace("registry.py", "history/click.v1.avsc"), encoding="utf-8") as f:
        schema_id = client.register_schema("clicks-value", Schema(f.read(), "AVRO"))
    data = b"\x00" + struct.pack(">I", schema_id) + _v1_body()
    assert AvroSerde(client).decode(data, Click) == EXPECTED_FROM_V1


# --- bad bytes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("framing", FRAMINGS)
def test_empty_payload(framing: str) -> None:
    _expect_error(FRAMINGS[framing](), b"", "empty")


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("first", [b"\x01", b"\xc3\x02", b"{", b"\xff\xff\xff"])
def test_wrong_magic_byte(framing: str, first: bytes) -> None:
    _expect_error(FRAMINGS[framing](), first + b"\x00" * 20, "bad_magic")


def test_unknown_fingerprint() -> None:
    body = _plain().encode(SAMPLES["Click"][0])[10:]
    err = _expect_error(_plain(), b"\xc3\x01" + b"\x12" * 8 + body, "unknown_schema")
    assert "1212121212121212" in err.detail


def test_unknown_schema_id() -> None:
    serde = _confluent()
    body = serde.encode(SAMPLES["Click"][0], "clicks")[5:]
    _expect_error(serde, b"\x00" + struct.pack(">I", 987_654) + body, "unknown_schema")


def test_confluent_payload_without_a_registry() -> None:
    data = _confluent().encode(SAMPLES["Click"][0], "clicks")
    _expect_error(_plain(), data, "unknown_schema")


def test_schema_id_of_a_foreign_schema() -> None:
    client = registry_client(f"mock://{uuid.uuid4().hex}")
    foreign = '{"type": "record", "name": "Other", "namespace": "elsewhere", "fields": [{"name": "a", "type": "int"}]}'
    schema_id = client.register_schema("x-value", Schema(foreign, "AVRO"))
    _expect_error(AvroSerde(client), b"\x00" + struct.pack(">I", schema_id) + b"\x02", "unknown_schema")


@pytest.mark.parametrize("framing", FRAMINGS)
def test_wrong_type(framing: str) -> None:
    serde = FRAMINGS[framing]()
    data = serde.encode(SAMPLES["Click"][0], "clicks")
    err = _expect_error(serde, data, "wrong_type", expected=Purchase)
    assert "Purchase" in err.detail and "Click" in err.detail


@pytest.mark.parametrize("framing", FRAMINGS)
def test_trailing_bytes(framing: str) -> None:
    serde = FRAMINGS[framing]()
    _expect_error(serde, serde.encode(SAMPLES["Review"][0], "reviews") + b"\x00", "bad_avro")


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("record", ALL, ids=_ids(ALL))
def test_every_truncation_raises_decode_error(framing: str, record: Record) -> None:
    serde = FRAMINGS[framing]()
    data = serde.encode(record, "t")
    for end in range(len(data)):
        _expect_error(serde, data[:end])


@pytest.mark.parametrize("framing", FRAMINGS)
def test_random_bytes_raise_only_decode_error(framing: str) -> None:
    rng = random.Random(20240611)
    serde = FRAMINGS[framing]()
    headers = [b"", b"\xc3\x01", b"\x00"] + [b"\xc3\x01" + v.fingerprint for v in registry.by_fingerprint().values()]
    if framing == "confluent":
        for record in ALL:  # register every schema so random bodies meet real writer schemas
            headers.append(serde.encode(record, "t")[:5])
    decoded = 0
    for _ in range(4000):
        head = rng.choice(headers)
        data = head + rng.randbytes(rng.randrange(0, 96))
        try:
            serde.decode(data)
            decoded += 1  # random bytes can be a valid record; that is fine
        except DecodeError as err:
            assert err.raw == data
            assert err.reason in DECODE_REASONS


def test_random_mutations_of_valid_payloads() -> None:
    rng = random.Random(7)
    serde = _plain()
    for record in ALL:
        data = bytearray(serde.encode(record))
        for _ in range(200):
            mutated = bytearray(data)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(2, len(mutated))] = rng.randrange(256)
            try:
                serde.decode(bytes(mutated))
            except DecodeError as err:
                assert err.raw == bytes(mutated)


def test_decode_error_pickles() -> None:
    import pickle

    err = DecodeError("bad_avro", b"\x00\x01", "EOFError")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.reason, copy.raw, copy.detail) == ("bad_avro", b"\x00\x01", "EOFError")


# --- JSON helpers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("record", ALL, ids=_ids(ALL))
def test_json_round_trip(record: Record) -> None:
    line = encode_json(record)
    assert "\n" not in line
    assert record_from_json(type(record), json.loads(line)) == record
    assert record_to_json(record) == json.loads(line)


def test_json_timestamps_accept_iso_8601() -> None:
    base = record_to_json(SAMPLES["Click"][0])
    texts = ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20+00:00", "2023-11-15T06:13:20+08:00", "2023-11-14T22:13:20")
    for text in texts:
        assert record_from_json(Click, {**base, "timestamp": text}).timestamp == T0


def test_json_bytes_are_base64() -> None:
    record = SAMPLES["DeadLetter"][0]
    assert isinstance(record, DeadLetter)
    data = record_to_json(record)
    assert data["value"] == "/wBnYXJiYWdl"
    assert record_from_json(DeadLetter, data).value == b"\xff\x00garbage"


def test_json_optional_fields_may_be_left_out() -> None:
    data = {"event_id": "e", "user_id": "u", "item_id": "i", "session_id": "s", "type": "view",
            "timestamp": T0, "source": {"channel": "feed"}}
    assert record_from_json(Click, data) == Click("e", "u", "i", "s", "view", T0, ClickSource("feed"), None)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"stars": "five"}, "stars", "integer"),
        ({"stars": 2**40}, "stars", "out of range"),
        ({"timestamp": "yesterday"}, "timestamp", "ISO-8601"),
        ({"timestamp": 1.5}, "timestamp", "milliseconds"),
        ({"text": None}, "text", "string"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_json_errors_name_the_field(change: dict[str, object], field: str, words: str) -> None:
    data = {**record_to_json(SAMPLES["Review"][0]), **change}
    with pytest.raises(RecordJsonError) as info:
        record_from_json(Review, data)
    assert info.value.field == field
    assert field in str(info.value) and words in str(info.value)


def test_json_errors_in_nested_fields_give_the_path() -> None:
    data = record_to_json(SAMPLES["Purchase"][0])
    data["lines"][1]["quantity"] = "2"
    with pytest.raises(RecordJsonError, match=r"lines\[1\]\.quantity"):
        record_from_json(Purchase, data)
    data = record_to_json(SAMPLES["Click"][0])
    data["type"] = "purchase"
    with pytest.raises(RecordJsonError, match=r"'type'.*view, add_to_cart"):
        record_from_json(Click, data)
    del data["user_id"]
    with pytest.raises(RecordJsonError, match="'user_id': missing"):
        record_from_json(Click, {**data, "type": "view"})
    with pytest.raises(RecordJsonError, match="base64"):
        record_from_json(DeadLetter, {**record_to_json(SAMPLES["DeadLetter"][0]), "key": "not base64!"})
    with pytest.raises(RecordJsonError, match="expected an object"):
        record_from_json(Click, ["not", "an", "object"])
