"""The simulator: deterministic, ordered, catalogue first, and its ground truth recoverable from the stream."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from dataclasses import replace

import pytest

from socialpulse.schemas.records import Click, Item, Purchase, Review, Social
from socialpulse.streams.simulator import (
    SimConfig,
    Simulation,
    category_counts,
    generate,
    read_jsonl,
    write_jsonl,
)

CFG = SimConfig(users=200, items=150, categories=10, seed=3, events=25_000)


@pytest.fixture(scope="module")
def run() -> tuple[Simulation, list]:
    sim = Simulation(CFG)
    return sim, list(sim.records())


def test_same_seed_same_stream(run) -> None:
    _, records = run
    assert list(generate(CFG)) == records


def test_different_seed_differs(run) -> None:
    _, records = run
    assert list(generate(replace(CFG, seed=4))) != records


def test_exact_count_and_unique_ids(run) -> None:
    _, records = run
    assert len(records) == CFG.events
    ids = [r.event_id for r in records if not isinstance(r, Item)]
    assert len(ids) == len(set(ids))


def test_timestamps_non_decreasing_from_start(run) -> None:
    _, records = run
    stamps = [r.timestamp for r in records]
    assert stamps[0] == CFG.start_ms
    assert all(a <= b for a, b in itertools.pairwise(stamps))


def test_catalogue_comes_first(run) -> None:
    _, records = run
    head = records[: CFG.items]
    assert all(isinstance(r, Item) for r in head)
    assert {r.item_id for r in head} == {f"i{i:06d}" for i in range(CFG.items)}
    known = {r.item_id for r in head}
    for r in records:
        if isinstance(r, Click | Review):
            assert r.item_id in known
        elif isinstance(r, Purchase):
            assert all(line.item_id in known for line in r.lines)


def test_purchases_follow_true_taste(run) -> None:
    sim, records = run
    truth = sim.truth()
    counts = category_counts(records, (Purchase,))
    buyers = [u for u, c in counts.items() if sum(c.values()) >= 3]
    assert len(buyers) > 50
    right = sum(counts[u].most_common(1)[0][0] == truth.top_category(u) for u in buyers)
    assert right / len(buyers) > 0.7


def test_stars_follow_text_sentiment(run) -> None:
    _, records = run
    reviews = [r for r in records if isinstance(r, Review)]
    assert {r.language for r in reviews} == {"en", "zh"}
    positive = ("love", "Great", "Perfect", "Amazing", "Excellent", "喜欢", "推荐", "完美", "回购")
    negative = ("Terrible", "disappointed", "refund", "Bad", "很差", "失望", "退款", "糟糕")
    pos = [r.stars for r in reviews if any(w in r.text for w in positive)]
    neg = [r.stars for r in reviews if any(w in r.text for w in negative)]
    assert pos and neg
    assert min(pos) >= 4 and max(neg) <= 2
    assert len(set(Counter(r.stars for r in reviews))) >= 4  # stars vary with satisfaction


def test_catalogue_changes_occur_and_truth_tracks_stock(run) -> None:
    sim, records = run
    updates = [r for r in records[CFG.items :] if isinstance(r, Item)]
    base = {r.item_id: r.price for r in records[: CFG.items]}
    assert any(r.price < base[r.item_id] for r in updates), "no price drop"
    assert any(not r.in_stock for r in updates), "no stock-out"
    latest = {r.item_id: r.in_stock for r in records if isinstance(r, Item)}
    assert sim.truth().in_stock == latest


def test_social_graph_shares_and_influencers(run) -> None:
    sim, records = run
    social = [r for r in records if isinstance(r, Social)]
    assert {r.type for r in social} >= {"follow", "share"}
    shared_clicks = [r for r in records if isinstance(r, Click) and r.source.shared_by is not None]
    assert shared_clicks and all(r.source.channel == "share" for r in shared_clicks)
    followers = Counter(r.target_user_id for r in social if r.type == "follow")
    top = {u for u, _ in followers.most_common(len(sim.truth().influencers))}
    assert top & set(sim.truth().influencers)


def test_truth_and_jsonl_round_trip(run, tmp_path) -> None:
    sim, records = run
    sim.truth().write(tmp_path / "truth.json")
    data = json.loads((tmp_path / "truth.json").read_text("utf-8"))
    assert set(data["taste"]) == set(sim.users) and len(data["item_category"]) == CFG.items
    assert write_jsonl(records[:500], tmp_path / "ev.jsonl") == 500
    assert list(read_jsonl(tmp_path / "ev.jsonl")) == records[:500]


def test_small_budget_truncates_catalogue() -> None:
    assert [type(r) for r in generate(replace(CFG, events=5))] == [Item] * 5


class _FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, object]] = []

    def send(self, topic, key, record) -> None:
        self.sent.append((topic, key, record))

    def flush(self) -> int:
        return len(self.sent)


def test_produce_routes_and_keys_per_catalogue() -> None:
    from socialpulse.streams.settings import Settings
    from socialpulse.streams.simulator import produce

    records = list(generate(replace(CFG, events=3000)))
    sender = _FakeSender()
    n = produce(records, Settings(topic_prefix="t."), sender=sender, progress=False)  # type: ignore[arg-type]
    assert n == len(records)
    for topic, key, record in sender.sent:
        expected = {Item: ("t.items", "item_id"), Click: ("t.clicks", "user_id"), Purchase: ("t.purchases", "user_id"),
                    Review: ("t.reviews", "user_id"), Social: ("t.social", "actor_id")}[type(record)]
        assert topic == expected[0] and key == getattr(record, expected[1]).encode()


def test_produce_paces_to_rate() -> None:
    import time

    from socialpulse.streams.settings import Settings
    from socialpulse.streams.simulator import produce

    start = time.monotonic()
    produce(list(generate(replace(CFG, events=50))), Settings(), 200, sender=_FakeSender(), progress=False)  # type: ignore[arg-type]
    assert 0.2 < time.monotonic() - start < 2.0


def test_pacing_starts_at_the_first_record() -> None:
    """Records a slow generator yields late are still paced, not sent at once to catch up a clock
    started before it (building a 100,000-user world takes minutes)."""
    import time

    from socialpulse.streams.settings import Settings
    from socialpulse.streams.simulator import produce

    records = list(generate(replace(CFG, events=21)))
    sent_at: list[float] = []

    class Timed(_FakeSender):
        def send(self, topic, key, record) -> None:
            sent_at.append(time.monotonic())
            super().send(topic, key, record)

    def slow_start():
        time.sleep(0.3)  # longer than the 20 records' schedule at 100 records/s
        yield from records

    produce(slow_start(), Settings(), 100, sender=Timed(), progress=False)  # type: ignore[arg-type]
    assert sent_at[-1] - sent_at[0] >= 0.19


def test_setup_records_then_traffic_of_a_chosen_size(run) -> None:
    sim = Simulation(replace(CFG, events=0))
    setup = sim.setup_records
    assert setup == CFG.items + sum(1 for r in run[1] if isinstance(r, Social) and r.type == "follow"
                                    and r.timestamp == CFG.start_ms)
    records = list(sim.records(setup + 100))
    assert len(records) == setup + 100
    assert not any(isinstance(r, (Click, Purchase, Review)) for r in records[:setup])
    assert any(isinstance(r, Click) for r in records[setup:])
