"""The session broker works end to end, and starts fast once its jars are cached."""

from __future__ import annotations

from confluent_kafka import Consumer, Producer


def test_produce_then_consume(kafka, topic_factory, unique_group):
    topic = topic_factory(partitions=1)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "enable.idempotence": True})
    errors: list[object] = []

    def on_delivery(err: object, msg: object) -> None:
        if err:
            errors.append(err)

    producer.produce(topic, key=b"k", value=b"hello", on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert errors == []

    consumer = Consumer({
        "bootstrap.servers": kafka.bootstrap, "group.id": unique_group(),
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })  # fmt: skip
    consumer.subscribe([topic])
    try:
        msg = None
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None:
                break
        assert msg is not None, "no message within 30 s"
        assert msg.error() is None
        assert (msg.key(), msg.value()) == (b"k", b"hello")
    finally:
        consumer.close()


def test_start_to_ready_is_fast(kafka):
    if kafka.ready_seconds is None:  # an external broker (SOCIALPULSE_TEST_BOOTSTRAP)
        return
    print(f"\nlocal Kafka start-to-ready: {kafka.ready_seconds:.1f} s (jar check {kafka.fetch_seconds:.1f} s)")
    assert kafka.ready_seconds < 60
