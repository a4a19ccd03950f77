"""Process-level tests: SIGKILL a worker mid-stream, and split partitions across two workers.

Both compare against an uninterrupted single-worker run over the same events on the same broker:
the final table state (read back from the changelog, as a restarted worker would) and the set of
recommendation ids must be equal, and a read_committed consumer must see no id twice.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

from harness import (
    WorkerProcess,
    consume_all,
    create_all_topics,
    engine_settings,
    free_port,
    internal_topics,
    produce,
    table_state,
    wait_drained,
)

from socialpulse.agents.pipeline import RECENT_RECS
from socialpulse.schemas import Click, ClickSource, Item, Recommendation
from socialpulse.streams.settings import Settings
from socialpulse.streams.topics import TOPICS, topic_name

T0 = 1_760_000_000_000
USERS, ITEMS, EVENTS = 200, 100, 3000


def catalogue() -> list[Item]:
    return [Item(f"i{n:03d}", f"Item {n}", ("Shop", f"cat{n % 8}"), 1000 + n, True, T0) for n in range(ITEMS)]


def clicks(seed: int = 11) -> list[Click]:
    rng = random.Random(seed)
    out = []
    for n in range(EVENTS):
        user = f"u{rng.randrange(USERS):03d}"
        item = f"i{min(int(rng.expovariate(1 / 25)), ITEMS - 1):03d}"
        kind = rng.choices(["view", "add_to_cart", "wishlist"], [8, 2, 1])[0]
        shared = f"u{rng.randrange(USERS):03d}" if rng.random() < 0.05 else None
        source = ClickSource(channel="share", shared_by=shared) if shared else ClickSource()
        out.append(Click(f"k{n}", user, item, f"s-{user}", kind, T0 + n * 50, source))  # type: ignore[arg-type]
    return out


def recommendation_ids(settings: Settings) -> list[str]:
    ids = []
    for _, rec in consume_all(settings, "recommendations", idle_s=3.0):
        assert isinstance(rec, Recommendation), rec
        ids.append(rec.recommendation_id)
    return ids


def run_reference(kafka, tmp_path: Path, partitions: int) -> tuple[dict, list[str]]:
    settings = engine_settings(kafka.bootstrap, tmp_path / "ref", partitions=partitions)
    create_all_topics(settings)
    produce(settings, catalogue())
    worker = WorkerProcess(settings, tmp_path / "ref.log").start()
    try:
        worker.wait_ready()
        produce(settings, clicks())
        wait_drained(settings, extra_topics=internal_topics(settings), timeout_s=300, workers=[worker])
        wait_drained(settings, extra_topics=internal_topics(settings), timeout_s=60, workers=[worker])
    finally:
        worker.stop()
    return table_state(settings), recommendation_ids(settings)


def comparable(state: dict) -> dict:
    """Table state with each user's recent-recommendation log reduced to ids and times.

    The items of a list depend on which fan-out signals (``social-signals``, from other partitions)
    had arrived when it was made, and that timing differs between runs; which lists were made, and
    everything else in the state, must not.
    """
    return {k: [r[0::2] for r in v] if "|" + RECENT_RECS in k else v for k, v in state.items()}


def _emitted(settings: Settings) -> int:
    """Recommendations in the output topic so far (the high watermarks: no duplicates before a crash)."""
    from confluent_kafka import Consumer, TopicPartition

    name = topic_name(TOPICS["recommendations"], settings)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "probe"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
                   for p in range(settings.partitions))
    finally:
        consumer.close()


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(kafka, tmp_path: Path) -> None:
    ref_state, ref_ids = run_reference(kafka, tmp_path, partitions=2)
    assert len(ref_ids) == len(set(ref_ids)) > EVENTS * 0.9

    settings = engine_settings(kafka.bootstrap, tmp_path / "crash", partitions=2)
    create_all_topics(settings)
    produce(settings, catalogue())
    log = tmp_path / "crash.log"
    worker = WorkerProcess(settings, log).start()
    try:
        worker.wait_ready()
        produce(settings, clicks())
        deadline = time.monotonic() + 240
        while _emitted(settings) < len(ref_ids) * 0.3:
            assert time.monotonic() < deadline, worker.tail()
            time.sleep(0.05)
        worker.kill()  # SIGKILL: no shutdown, no flush, no commit
        killed_at = _emitted(settings)
        assert killed_at < len(ref_ids) * 0.8, "the worker was nearly done when killed: the test proved little"
        worker = WorkerProcess(settings, log).start()
        worker.wait_ready()
        wait_drained(settings, extra_topics=internal_topics(settings), timeout_s=300, workers=[worker])
        wait_drained(settings, extra_topics=internal_topics(settings), timeout_s=60, workers=[worker])
    finally:
        worker.stop()

    ids = recommendation_ids(settings)
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} duplicate ids, e.g. {duplicates[:5]}"
    assert set(ids) == set(ref_ids)
    state, ref_state = comparable(table_state(settings)), comparable(ref_state)
    assert state.keys() == ref_state.keys()
    different = [k for k in state if state[k] != ref_state[k]]
    assert not different, f"{len(different)} keys differ, e.g. {different[:5]}"


def test_two_workers_share_partitions_and_match_one(kafka, tmp_path: Path) -> None:
    ref_state, ref_ids = run_reference(kafka, tmp_path, partitions=4)

    settings = engine_settings(kafka.bootstrap, tmp_path / "w", partitions=4)
    create_all_topics(settings)
    produce(settings, catalogue())
    first = WorkerProcess(settings, tmp_path / "w1.log").start()
    second = WorkerProcess(settings.model_copy(update={"web_port": free_port(),
                                                       "data_dir": tmp_path / "w2"}), tmp_path / "w2.log")
    try:
        first.wait_ready()
        second.start().wait_ready()
        produce(settings, clicks())
        wait_drained(settings, extra_topics=internal_topics(settings), timeout_s=300, workers=[first, second])
        wait_drained(settings, extra_topics=internal_topics(settings), timeout_s=60, workers=[first, second])
        # Both workers did part of the work.
        import httpx

        assigned = [httpx.get(w.url + "/ready", timeout=5).json()["assigned"] for w in (first, second)]
        assert all(assigned), assigned
        assert not set(assigned[0]) & set(assigned[1])
    finally:
        second.stop()
        first.stop()

    ids = recommendation_ids(settings)
    assert len(ids) == len(set(ids))
    assert set(ids) == set(ref_ids)
    assert comparable(table_state(settings)) == comparable(ref_state)
