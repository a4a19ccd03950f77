"""The benchmark samples committed offsets for minutes: a coordinator moving must not end the run."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from socialpulse.agents import bench


@pytest.mark.parametrize(("code", "transient"), [
    (KafkaError.NOT_COORDINATOR, True),
    (KafkaError.COORDINATOR_LOAD_IN_PROGRESS, True),
    (KafkaError._TIMED_OUT, True),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, False),
])
def test_transient_broker_errors(code: int, transient: bool) -> None:
    assert bench._transient(KafkaException(KafkaError(code))) is transient
    assert bench._transient(ValueError("not kafka")) is False


def test_committed_retries_a_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class FlakyConsumer:
        def __init__(self, config: dict) -> None:
            pass

        def committed(self, tps: list, timeout: float) -> list:
            calls.append(len(tps))
            if len(calls) == 1:
                raise KafkaException(KafkaError(KafkaError.NOT_COORDINATOR))
            for tp in tps:
                tp.offset = 3
            return tps

        def close(self) -> None:
            pass

    import confluent_kafka

    monkeypatch.setattr(confluent_kafka, "Consumer", FlakyConsumer)
    settings = bench.Settings(partitions=2)
    assert bench._committed(settings, "g") == 3 * 2 * len(bench.BEHAVIOUR_TOPICS)
    assert len(calls) == 2


def test_latency_runs_preload_the_simulated_follow_graph_and_time_the_behaviour_after_it() -> None:
    from socialpulse.streams.serde import AvroSerde
    from socialpulse.streams.settings import Settings

    settings = Settings()
    workload = bench.make_workload(bench.BenchConfig(events=3_000, users=200, items=100), settings)
    rows = [r for r in workload.behaviour if r[0] in bench.BEHAVIOUR_TOPICS]
    serde = AvroSerde.from_settings(settings)
    graph = bench.graph_prefix(rows, serde)
    assert 0 < graph < len(rows)
    assert all(serde.decode(v).type == "follow" for _, _, v in rows[:graph])  # type: ignore[attr-defined]
    first = serde.decode(rows[graph][2])
    assert rows[graph][0] != "social" or first.type != "follow"  # type: ignore[attr-defined]
