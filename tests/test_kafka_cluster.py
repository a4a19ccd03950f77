"""A 3-node KRaft cluster keeps every acked message when the partition leader is killed (kill -9)."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from socialpulse.deploy.kafka import LocalKafka

N_BEFORE = 500
N_AFTER = 2000


def test_three_nodes_survive_leader_crash():
    with LocalKafka(nodes=3) as cluster:
        print(f"\n3-node cluster start-to-ready: {cluster.ready_seconds:.1f} s")
        # In a function, so every client is gone before the cluster stops (no reconnect noise).
        _crash_leader_while_producing(cluster)


def _crash_leader_while_producing(cluster: LocalKafka) -> None:
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    topic = f"crash-{uuid.uuid4().hex[:8]}"
    admin.create_topics(
        [NewTopic(topic, num_partitions=3, replication_factor=3, config={"min.insync.replicas": "2"})],
        operation_timeout=30,
    )[topic].result(timeout=30)

    producer = Producer({
        "bootstrap.servers": cluster.bootstrap, "enable.idempotence": True, "acks": "all",
        "linger.ms": 5, "delivery.timeout.ms": 60000,
    })  # fmt: skip
    acked: list[bytes] = []
    errors: list[str] = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked.append(msg.value())

    def produce(start: int, stop: int) -> None:
        for i in range(start, stop):
            producer.produce(topic, key=str(i % 17).encode(), value=str(i).encode(), on_delivery=on_delivery)
            producer.poll(0)
        assert producer.flush(60) == 0

    produce(0, N_BEFORE)
    leader = admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
    victim = cluster.node_of_broker_id(leader)
    cluster.kill_broker(victim)  # SIGKILL the leader of partition 0
    produce(N_BEFORE, N_BEFORE + N_AFTER)

    assert errors == []
    expected = {str(i).encode() for i in range(N_BEFORE + N_AFTER)}
    assert set(acked) == expected

    new_leader = admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
    assert new_leader != leader

    consumer = Consumer({
        "bootstrap.servers": cluster.bootstrap, "group.id": f"g-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })  # fmt: skip
    consumer.subscribe([topic])
    seen: list[bytes | None] = []
    try:
        idle = 0
        while len(set(seen)) < len(expected) and idle < 60:
            batch = consumer.consume(1000, timeout=0.5)
            idle = 0 if batch else idle + 1
            for msg in batch:
                assert msg.error() is None, msg.error()
                seen.append(msg.value())
    finally:
        consumer.close()
    assert set(seen) == expected, f"lost {len(expected - set(seen))} messages"
    assert len(seen) == len(expected), "duplicates despite the idempotent producer"
