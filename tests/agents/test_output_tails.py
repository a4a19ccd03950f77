"""Output tails (the dedupe windows) are read for all outputs of a partition at once, once per assignment."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from socialpulse.agents import app as app_module
from socialpulse.agents.app import OUTPUT_TOPICS, create_app
from socialpulse.agents.emitted import RecentIds
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.settings import Settings


def test_one_partitions_outputs_are_read_together_once_and_not_across_a_rebalance(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(Settings(data_dir=tmp_path), Metrics(CollectorRegistry()))
    engine: Any = app.socialpulse  # type: ignore[attr-defined]
    reads: list[tuple[str, int]] = []
    active = [0, 0]  # reads running now, most at once

    async def fake_read(_bootstrap: str, topic: str, partition: int, window: int, _serde: Any) -> RecentIds:
        reads.append((topic, partition))
        active[0] += 1
        active[1] = max(active[1], active[0])
        await asyncio.sleep(0.05)
        active[0] -= 1
        ids = RecentIds(window)
        ids.add(f"{topic}@{partition}")
        return ids

    monkeypatch.setattr(app_module, "read_tail_ids", fake_read)

    async def run() -> None:
        engine.read_output_tails(1)  # what the assignment handler starts
        found = await asyncio.gather(*(engine.recent_outputs(o, 1) for o in OUTPUT_TOPICS))
        assert [len(ids) for ids in found] == [1, 1, 1]
        assert len(reads) == 3 and active[1] == 3  # all three ran at once
        await engine.recent_outputs("recommendations", 1)
        assert len(reads) == 3  # cached for the assignment

        engine.read_output_tails(2)
        engine.reset_stores()  # a rebalance while partition 2 is being read: its result is stale
        await asyncio.sleep(0.1)
        assert ("recommendations", 2) not in engine.emitted
        await engine.recent_outputs("recommendations", 2)  # read again for the new assignment
        assert len(reads) == 9

    asyncio.run(run())
