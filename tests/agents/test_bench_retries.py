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
