"""State sweeps in a real worker: driven by event time, deletions reach the changelog as tombstones."""

from __future__ import annotations

from pathlib import Path

import httpx
from harness import (
    WorkerProcess,
    create_all_topics,
    engine_settings,
    internal_topics,
    produce,
    table_state,
    wait_drained,
)
from prometheus_client.parser import text_string_to_metric_families

from socialpulse.schemas import Click, Item

T0 = 1_760_000_000_000  # a multiple of the 10 s sweep interval below
CATALOGUE = [Item(f"i{n}", f"Item {n}", ("Fashion", "Shoes"), 1000 + n, True, T0) for n in range(3)]


def click(n: int, user: str, item: str, second: int) -> Click:
    return Click(f"c{n}", user, item, f"session-{user}", "view", T0 + second * 1000)


def test_idle_users_are_swept_by_event_time(kafka, tmp_path: Path) -> None:
    # Users idle over 60 s of event time expire; partitions are swept when event time enters a new 10 s.
    settings = engine_settings(kafka.bootstrap, tmp_path / "worker", partitions=1, user_ttl_s=60,
                               sweep_interval_s=10)
    create_all_topics(settings)
    produce(settings, CATALOGUE)
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        produce(settings, [click(1, "old", "i0", 1), click(2, "new", "i1", 2), click(3, "new", "i0", 9)])
        wait_drained(settings, extra_topics=internal_topics(settings))
        assert {"0|u:old", "0|u:new", "0|rr:old"} <= set(table_state(settings))  # same 10 s: no sweep yet
        assert httpx.get(f"{worker.url}/users/old/recommendations", timeout=10).status_code == 200
        # A new 10 s interval: swept before this click is applied, when 'old' is idle 64 s and 'new' 56 s.
        produce(settings, [click(4, "new", "i2", 65)])
        wait_drained(settings, extra_topics=internal_topics(settings))
        state = table_state(settings)
        assert "0|u:old" not in state and "0|u:new" in state
        # The user's other keys and served list go with the profile: nothing per user outlives the TTL.
        assert "0|rr:old" not in state and "0|rr:new" in state
        assert httpx.get(f"{worker.url}/users/old/recommendations", timeout=10).status_code == 404
        assert httpx.get(f"{worker.url}/users/new/recommendations", timeout=10).status_code == 200
        metrics = httpx.get(f"{worker.url}/metrics", timeout=10).text
        swept = {s.labels["kind"]: s.value for fam in text_string_to_metric_families(metrics)
                 for s in fam.samples if s.name == "socialpulse_state_swept_total"}
        assert swept == {"user": 1.0, "user_keys": 1.0}
        sweeps = [s.value for fam in text_string_to_metric_families(metrics) for s in fam.samples
                  if s.name == "socialpulse_sweep_duration_seconds_count"]
        assert sweeps == [1.0]  # one partition, one interval crossed: one timed sweep
    finally:
        worker.stop()
