"""A scripted sequence of events through the real broker and a real worker process.

One partition, so every statistic sees every user and the expected lists can be worked out by hand:
bob views s1, s2, h1 (so s1 co-occurs with s2 and h1); eve then views s1 and is offered s2 and h1 (the
popular items, s2 of eve's category, both co-viewed with s1), the rest of the catalogue as popular fill.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from harness import (
    WorkerProcess,
    consume_all,
    create_all_topics,
    engine_settings,
    internal_topics,
    produce,
    wait_drained,
)

from socialpulse.schemas import Click, Item, Purchase, PurchaseLine, Recommendation, Social
from socialpulse.streams.settings import Settings

T0 = 1_760_000_000_000


def _item(item_id: str, title: str, category: str, price: int, in_stock: bool = True, t: int = 0) -> Item:
    return Item(item_id, title, ("Fashion", category), price, in_stock, T0 + t)


CATALOGUE = [
    _item("s1", "Trail runner", "Shoes", 5000),
    _item("s2", "Road runner", "Shoes", 6000),
    _item("s3", "Hiking boot", "Shoes", 9000),
    _item("h1", "Sun hat", "Hats", 2000),
    _item("h2", "Wool beanie", "Hats", 1500),
    _item("b1", "Tote bag", "Bags", 3000),
]


def click(n: int, user: str, item: str, second: int, kind: str = "view") -> Click:
    return Click(f"c{n}", user, item, f"session-{user}", kind, T0 + second * 1000)  # type: ignore[arg-type]


@pytest.fixture
def engine(kafka, tmp_path: Path) -> Iterator[tuple[Settings, WorkerProcess]]:
    settings = engine_settings(kafka.bootstrap, tmp_path / "worker", partitions=1)
    create_all_topics(settings)
    produce(settings, CATALOGUE)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        yield settings, worker
    finally:
        worker.stop()


def step(settings: Settings, records: list) -> None:
    produce(settings, records)
    wait_drained(settings, extra_topics=internal_topics(settings))


def recommendations(settings: Settings) -> dict[str, Recommendation]:
    out = {}
    for _, rec in consume_all(settings, "recommendations", idle_s=2.0):
        assert isinstance(rec, Recommendation), rec
        assert rec.recommendation_id not in out, f"duplicate {rec.recommendation_id}"
        out[rec.recommendation_id] = rec
    return out


def items_of(rec: Recommendation) -> list[tuple[str, str]]:
    return [(i.item_id, i.source) for i in rec.items]


def wait_item_state(worker: WorkerProcess, item_id: str, in_stock: bool, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = httpx.get(f"{worker.url}/items/{item_id}", timeout=5).json()
        if body.get("in_stock") is in_stock:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{item_id} never became in_stock={in_stock}")


def test_scripted_sequence_yields_expected_recommendations(engine) -> None:
    settings, worker = engine
    step(settings, [click(1, "bob", "s1", 1), click(2, "bob", "s2", 2), click(3, "bob", "h1", 3)])
    step(settings, [click(4, "eve", "s1", 4)])
    recs = recommendations(settings)

    # Taste first (what has been viewed, eve's category Shoes ahead; item-CF and content agree, so they add to
    # the score but the taste source explains), then popular fill; eve's own s1 is never offered.
    eve = recs["rec:c4"]
    assert eve.user_id == "eve" and eve.trigger_event_id == "c4"
    assert set(eve.model_versions) == {"engine"} and eve.model_versions["engine"].startswith("cfg-")
    assert items_of(eve) == [("s2", "taste"), ("h1", "taste"), ("s3", "popular"), ("h2", "popular"),
                             ("b1", "popular")]
    assert eve.items[0].explanation == "popular in Shoes, which you like"
    assert eve.items[1].explanation == "popular in Hats"
    assert eve.items[0].score > eve.items[2].score
    # Bob's first view had no co-occurrence yet: everything is popular fill, without s1 itself.
    assert [i for i, _ in items_of(recs["rec:c1"])] == ["s2", "s3", "h1", "h2", "b1"]

    # A purchased item never comes back, whatever the user does next.
    step(settings, [Purchase("o1", "eve", (PurchaseLine("s2", 1, 6000),), "USD", T0 + 5000)])
    step(settings, [click(5, "eve", "h2", 6), click(6, "eve", "s2", 7)])
    recs = recommendations(settings)
    for rec_id in ("rec:o1", "rec:c5", "rec:c6"):
        assert "s2" not in [i for i, _ in items_of(recs[rec_id])], rec_id

    # Cold start: dave has no history; his first event (a follow) gets trending items, then popular fill.
    step(settings, [Social("f1", "follow", "dave", T0 + 8000, target_user_id="bob")])
    dave = recommendations(settings)["rec:f1"]
    sources = [s for _, s in items_of(dave)]
    assert sources[0] == "trending" and set(sources) <= {"trending", "popular"}
    assert sources == sorted(sources, key=lambda s: s != "trending"), sources
    # s2 was viewed twice and bought once: the most trending item in this partition.
    assert dave.items[0].item_id == "s2" and dave.items[0].explanation == "trending now"
    assert len(dave.items) == 6  # the whole catalogue fits within the diversity caps (3 per category)

    # Social: carol follows bob; bob buys b1; carol's next list shows it with a social explanation.
    step(settings, [Social("f2", "follow", "carol", T0 + 9000, target_user_id="bob")])
    step(settings, [Purchase("o2", "bob", (PurchaseLine("b1", 1, 3000),), "USD", T0 + 10_000)])
    step(settings, [click(7, "carol", "h2", 11)])
    carol = recommendations(settings)["rec:c7"]
    social = [i for i in carol.items if i.source == "social"]
    assert [i.item_id for i in social] == ["b1"], items_of(carol)
    assert "follow" in social[0].explanation and "bought" in social[0].explanation

    # Out of stock: filtered from the next list as soon as the catalogue says so.
    produce(settings, [_item("s3", "Hiking boot", "Shoes", 9000, in_stock=False, t=12_000)])
    wait_item_state(worker, "s3", in_stock=False)
    step(settings, [click(8, "carol", "s1", 13), click(9, "eve", "s1", 14)])
    recs = recommendations(settings)
    for rec_id in ("rec:c8", "rec:c9"):
        assert "s3" not in [i for i, _ in items_of(recs[rec_id])], rec_id
    # And the query endpoint serves the latest list of each user.
    body = httpx.get(f"{worker.url}/users/eve/recommendations", timeout=10).json()
    assert body["recommendation"]["recommendation_id"] == "rec:c9"
    # The debugging page says where each drained partition stands: fetched, at its high watermark.
    debug = httpx.get(f"{worker.url}/debug/tasks", timeout=10).text
    clicks = [line for line in debug.splitlines() if line.startswith(settings.topic_prefix + "clicks[")]
    assert len(clicks) == settings.partitions and all(" active position=" in line for line in clicks), debug[:2000]
    assert all(line.split("position=")[1].split()[0] == line.split("high=")[1].split()[0] for line in clicks), clicks
