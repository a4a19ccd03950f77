"""The benchmark's yardstick: a plain Faust agent that forwards every input event, one send each.

Run as ``python -m socialpulse.agents.forwarder`` with the same SOCIALPULSE_* settings as a worker;
it reads the behaviour topics and writes each value unchanged to ``<prefix>forwarded``.
"""

from __future__ import annotations

import faust

from socialpulse.streams.settings import Settings
from socialpulse.streams.topics import BEHAVIOUR_TOPICS, TOPICS, topic_name


def _create_output(settings: Settings, name: str) -> None:
    # Faust declares only topics it consumes; auto-creation is off on our brokers.
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    futures = admin.create_topics([NewTopic(name, settings.partitions, settings.replication_factor)])
    for future in futures.values():
        try:
            future.result(30)
        except Exception as exc:  # already there is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


# The yardstick keeps the linger it was measured with and is fastest at (Faust's aiokafka producer spends a
# third more CPU per event without one); the worker's own producer is tuned for its batches instead.
FORWARD_LINGER_S = 0.005


def create_forwarder(settings: Settings) -> faust.App:
    app = faust.App(
        settings.app_id, broker=f"kafka://{settings.kafka_bootstrap}", store="memory://", autodiscover=False,
        datadir=str(settings.data_dir), web_enabled=True, web_host=settings.web_host, web_bind=settings.web_host,
        web_port=settings.web_port, topic_partitions=settings.partitions, producer_acks=-1,
        producer_linger=FORWARD_LINGER_S,
        consumer_auto_offset_reset="earliest", key_serializer="raw", value_serializer="raw",
        broker_commit_interval=1.0,
    )
    _create_output(settings, settings.topic_prefix + "forwarded")
    out = app.topic(settings.topic_prefix + "forwarded", key_serializer="raw", value_serializer="raw",
                    partitions=settings.partitions)
    for name in BEHAVIOUR_TOPICS:
        source = app.topic(topic_name(TOPICS[name], settings), key_serializer="raw", value_serializer="raw")

        async def forward(stream: faust.StreamT) -> None:
            async for event in stream.events():
                await out.send(key=event.message.key, value=event.message.value)

        app.agent(source, name=f"forward.{name}", concurrency=1)(forward)
    return app


if __name__ == "__main__":
    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    faust.Worker(create_forwarder(settings), loglevel="warning", quiet=True, redirect_stdouts=False) \
        .execute_from_commandline()
