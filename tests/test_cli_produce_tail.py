"""The real `socialpulse` console script against the real broker: topics create/list, produce, tail."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from socialpulse.schemas.records import Click, Purchase
from socialpulse.streams.serde import AvroSerde, record_from_json
from socialpulse.streams.settings import Settings
from socialpulse.streams.topics import TOPICS

pytestmark = pytest.mark.kafka

SCRIPT = Path(sys.executable).with_name("socialpulse")
T0 = 1_700_000_000_000


@pytest.fixture
def cli_env(kafka) -> Iterator[dict[str, str]]:
    """Environment for the console script: this broker, a unique topic prefix; its topics deleted after."""
    prefix = f"cli{uuid.uuid4().hex[:8]}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALPULSE_")}
    env.update(SOCIALPULSE_KAFKA_BOOTSTRAP=kafka.bootstrap, SOCIALPULSE_TOPIC_PREFIX=prefix, SOCIALPULSE_PARTITIONS="3")
    yield env
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    names = [prefix + name for name in TOPICS]
    for future in admin.delete_topics(names, operation_timeout=30).values():
        with contextlib.suppress(Exception):  # not created by a failed test; the broker dies with the session
            future.result(timeout=30)


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout)


def _clicks(n: int) -> list[dict[str, object]]:
    kinds = ["view", "add_to_cart", "remove_from_cart", "wishlist"]
    lines: list[dict[str, object]] = []
    for i in range(n):
        line: dict[str, object] = {
            "event_id": f"c{i}", "user_id": f"u{i % 7}", "item_id": f"i{i % 13}", "session_id": f"s{i % 5}",
            "type": kinds[i % 4], "source": {"channel": "feed"},
            # timestamps as int ms and as ISO-8601, with and without a zone
            "timestamp": T0 + i if i % 3 else f"2023-11-14T22:13:{20 + i % 30:02d}Z",
        }
        if i % 2:
            line["device"] = "android"
            line["source"] = {"channel": "share", "shared_by": "u1", "recommendation_id": f"rec-{i}"}
        lines.append(line)
    return lines


def _write(path: Path, rows: Sequence[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def _message_count(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4().hex[:8]}"})
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        total = 0
        for p in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


def test_topics_create_is_idempotent_and_list_shows_them(cli_env) -> None:
    prefix = cli_env["SOCIALPULSE_TOPIC_PREFIX"]
    first = _run(cli_env, "topics", "create")
    assert first.returncode == 0, first.stderr
    assert first.stdout.split("\n")[:-1] == [f"{prefix}{name}\tcreated" for name in TOPICS]
    again = _run(cli_env, "topics", "create")
    assert again.returncode == 0, again.stderr
    assert again.stdout.split("\n")[:-1] == [f"{prefix}{name}\texists" for name in TOPICS]
    listed = _run(cli_env, "topics", "list", timeout=60)
    assert listed.returncode == 0, listed.stderr
    for name in TOPICS:
        assert name in listed.stdout
    assert "missing" not in listed.stdout and "3/3" in listed.stdout


def test_produce_then_tail_returns_the_same_records(cli_env, kafka, tmp_path) -> None:
    assert _run(cli_env, "topics", "create").returncode == 0
    rows = _clicks(250)
    produced = _run(cli_env, "produce", "clicks", "--file", str(_write(tmp_path / "clicks.jsonl", [*rows, ""])))
    assert produced.returncode == 0, produced.stderr
    assert f"sent 250 records to {cli_env['SOCIALPULSE_TOPIC_PREFIX']}clicks" in produced.stdout

    purchase = {"order_id": "o1", "user_id": "u1", "currency": "USD", "timestamp": "2023-11-14T22:13:20+00:00",
                "lines": [{"item_id": "i1", "quantity": 2, "unit_price": 1999}]}
    produced = _run(cli_env, "produce", "purchases", "-f", str(_write(tmp_path / "p.jsonl", [purchase])))
    assert produced.returncode == 0, produced.stderr

    # A record no Avro reader can use, to see tail report it on stderr.
    clicks_topic = cli_env["SOCIALPULSE_TOPIC_PREFIX"] + "clicks"
    producer = Producer({"bootstrap.servers": kafka.bootstrap})
    producer.produce(clicks_topic, key=b"u0", value=b"not avro")
    assert producer.flush(30) == 0

    tailed = _run(cli_env, "tail", "clicks", "--from-beginning", "--max", "251", "--timeout", "20")
    assert tailed.returncode == 0, tailed.stderr
    got = [record_from_json(Click, json.loads(line)) for line in tailed.stdout.splitlines()]
    want = [record_from_json(Click, row) for row in rows]
    assert sorted(got, key=lambda r: r.event_id) == sorted(want, key=lambda r: r.event_id)
    errors = [json.loads(line) for line in tailed.stderr.splitlines() if line.startswith("{")]
    assert len(errors) == 1
    assert errors[0]["error"] == "bad_magic" and base64.b64decode(errors[0]["raw"]) == b"not avro"
    assert errors[0]["topic"] == clicks_topic

    tailed = _run(cli_env, "tail", "purchases", "--from-beginning", "--max", "1", "--timeout", "20")
    assert tailed.returncode == 0, tailed.stderr
    assert [record_from_json(Purchase, json.loads(line)) for line in tailed.stdout.splitlines()] == [
        record_from_json(Purchase, purchase)
    ]

    # The key is the user id, so each user's events sit on one partition of the co-partitioned topics.
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([clicks_topic])
    partitions: dict[str, set[int]] = {}
    serde = AvroSerde.from_settings(Settings(kafka_bootstrap=kafka.bootstrap))
    seen = 0
    try:
        while seen < 251:
            msg = consumer.poll(20)
            assert msg is not None, "clicks topic went quiet"
            seen += 1
            if msg.value() == b"not avro":
                continue
            record = serde.decode(msg.value() or b"", Click)
            assert isinstance(record, Click)
            assert msg.key() == record.user_id.encode()
            # the partition Faust's producer (aiokafka) would choose for this key
            assert msg.partition() == DefaultPartitioner()(msg.key(), [0, 1, 2], [0, 1, 2])
            partitions.setdefault(record.user_id, set()).add(msg.partition() or 0)
    finally:
        consumer.close()
    assert all(len(p) == 1 for p in partitions.values()), partitions


def test_a_file_with_one_bad_line_sends_nothing(cli_env, kafka, tmp_path) -> None:
    assert _run(cli_env, "topics", "create").returncode == 0
    rows: list[object] = list(_clicks(5))
    rows.insert(2, {**_clicks(1)[0], "type": "purchase"})  # line 3: not a ClickType
    rows.append("{not json")  # line 7
    path = _write(tmp_path / "bad.jsonl", rows)
    produced = _run(cli_env, "produce", "clicks", "--file", str(path))
    assert produced.returncode == 1
    assert "line 3: field 'type'" in produced.stderr
    assert "line 7: invalid JSON" in produced.stderr
    assert "nothing was sent" in produced.stderr
    assert "sent" not in produced.stdout
    assert _message_count(kafka.bootstrap, cli_env["SOCIALPULSE_TOPIC_PREFIX"] + "clicks") == 0


def test_unknown_topic_is_a_clear_error(cli_env, tmp_path) -> None:
    produced = _run(cli_env, "produce", "clickz", "--file", str(_write(tmp_path / "x.jsonl", _clicks(1))))
    assert produced.returncode == 2
    assert "unknown topic 'clickz'" in produced.stderr and "clicks" in produced.stderr
