"""1,000 malformed records among good ones: every bad one is dead-lettered with its reason and raw bytes,
the worker stays up, and every good record in between is processed."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import httpx
from harness import (
    WorkerProcess,
    consume_all,
    create_all_topics,
    engine_settings,
    produce,
    produce_raw,
    wait_drained,
)
from prometheus_client.parser import text_string_to_metric_families

from socialpulse.schemas import Click, DeadLetter, Item, Purchase, PurchaseLine, Recommendation, Review, Social
from socialpulse.streams.serde import AvroSerde

T0 = 1_760_000_000_000
FAR_FUTURE = 4_000_000_000_000


def test_malformed_records_go_to_dlq_and_good_ones_flow(kafka, tmp_path: Path) -> None:
    settings = engine_settings(kafka.bootstrap, tmp_path / "w", partitions=2)
    create_all_topics(settings)
    serde = AvroSerde.from_settings(settings)
    produce(settings, [Item(f"i{n}", f"Item {n}", ("Shop", "cat"), 100, True, T0) for n in range(20)])
    worker = WorkerProcess(settings, tmp_path / "w.log").start()
    rng = random.Random(5)
    good = [Click(f"g{n}", f"u{n % 40}", f"i{n % 20}", "s", "view", T0 + n) for n in range(500)]
    good_bytes = [serde.encode(c) for c in good]

    def bad_click(n: int) -> tuple[str, bytes]:
        kind = n % 6
        if kind == 0:
            return "decode_error", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        if kind == 1:
            return "decode_error", b"\x07" + good_bytes[n % 500][1:]  # wrong magic byte
        if kind == 2:
            return "decode_error", good_bytes[n % 500][:-3]  # truncated
        if kind == 3:  # a valid record of another type on the clicks topic
            return "decode_error", serde.encode(Review(f"r{n}", "u1", "i1", 4, "ok", "en", T0))
        if kind == 4:
            return "empty_id", serde.encode(Click(f"b{n}", " ", "i1", "s", "view", T0))
        return "future_timestamp", serde.encode(Click(f"b{n}", "u1", "i1", "s", "view", FAR_FUTURE))

    expected: Counter[str] = Counter()
    sent_bad: set[tuple[str, bytes]] = set()
    clicks_topic: list[tuple[bytes | None, bytes]] = []
    for n in range(700):
        reason, value = bad_click(n)
        expected[reason] += 1
        sent_bad.add((settings.topic_prefix + "clicks", value))
        clicks_topic.append((b"u1", value))
        if n < 500:
            clicks_topic.append((good[n].user_id.encode(), good_bytes[n]))
    others: dict[str, list[tuple[bytes | None, bytes]]] = {"reviews": [], "purchases": [], "social": []}
    for n in range(300):
        if n % 3 == 0:
            reason = "stars_out_of_range" if n % 2 else "text_too_long"
            review = Review(f"r{n}", "u2", "i2", 9 if n % 2 else 4, "x" * (settings.max_text_chars + 1), "en", T0)
            topic, value = "reviews", serde.encode(review)
        elif n % 3 == 1:
            reason, topic = "negative_amount", "purchases"
            value = serde.encode(Purchase(f"o{n}", "u3", (PurchaseLine("i3", -1, 100),), "USD", T0))
        else:
            reason, topic = "schema_violation", "social"
            value = serde.encode(Social(f"s{n}", "follow", "u4", T0, target_user_id="u4"))
        expected[reason] += 1
        sent_bad.add((settings.topic_prefix + topic, value))
        others[topic].append((b"u", value))
    try:
        worker.wait_ready()
        produce_raw(settings, "clicks", clicks_topic)
        for topic, values in others.items():
            produce_raw(settings, topic, values)
        wait_drained(settings, timeout_s=240)
        assert httpx.get(worker.url + "/healthz", timeout=5).status_code == 200
        assert worker.proc is not None and worker.proc.poll() is None
        metrics = httpx.get(worker.url + "/metrics", timeout=5).text
    finally:
        worker.stop()

    letters = [r for _, r in consume_all(settings, "dlq", expect=1000)]
    assert all(isinstance(r, DeadLetter) for r in letters)
    assert len(letters) == 1000
    assert Counter(r.error_type for r in letters) == expected  # type: ignore[union-attr]
    assert {(r.source_topic, r.value) for r in letters} == sent_bad  # type: ignore[union-attr]
    assert all(r.error_message for r in letters)  # type: ignore[union-attr]

    counted = {s.labels["reason"]: s.value for f in text_string_to_metric_families(metrics)
               if f.name == "socialpulse_dead_letters" for s in f.samples if s.name.endswith("_total")}
    assert {k: v for k, v in counted.items() if v} == dict(expected)

    recs = {r.trigger_event_id for _, r in consume_all(settings, "recommendations") if isinstance(r, Recommendation)}
    assert {c.event_id for c in good} <= recs

    # Each dead letter is logged once, by our handler only (mode's own console handler would double it).
    logged = [line for line in (tmp_path / "w.log").read_text().splitlines() if "dead-lettered" in line]
    assert len(logged) == 1000, len(logged)
