"""Helpers for tests that run real worker processes against the real broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from confluent_kafka import Consumer, TopicPartition

from socialpulse.agents.worker_topics import FANOUT_TOPICS, changelog_topic
from socialpulse.deploy.kafka import free_port
from socialpulse.schemas import Record
from socialpulse.streams.serde import AvroSerde, DecodeError
from socialpulse.streams.settings import Settings
from socialpulse.streams.topics import TOPICS, create_topics, spec_for, topic_name


def engine_settings(bootstrap: str, data_dir: Path, partitions: int = 2, **overrides: Any) -> Settings:
    """Settings for one isolated engine: unique topic prefix and app id."""
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "topic_prefix": f"t{tag}.",
        "app_id": f"sp-test-{tag}",
        "partitions": partitions,
        "data_dir": data_dir,
        "web_port": free_port(),
        "rec_debounce_ms": 0,
    }
    values.update(overrides)
    return Settings(**values)


class WorkerProcess:
    """`socialpulse worker` in a subprocess, stopped (or killed) by PID."""

    def __init__(self, settings: Settings, log_path: Path, python_args: Sequence[str] = ()) -> None:
        self.settings = settings
        self.log_path = log_path
        self.python_args = list(python_args)  # e.g. ["-m", "cProfile", "-o", path]: run the worker under them
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, *self.python_args, "-m", "socialpulse.agents.worker"],
            env=self.settings.to_env(os.environ),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"worker not ready after {timeout_s}s:\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def debug_dump(self) -> str:
        """What each agent and asyncio task is waiting on (the worker's /debug/tasks), for failure messages."""
        try:
            return httpx.get(self.url + "/debug/tasks", timeout=10).text[:20000]
        except httpx.HTTPError as exc:
            return f"(no /debug/tasks: {exc!r})"

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout_s: float = 30.0) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def create_all_topics(settings: Settings) -> None:
    create_topics(settings)


def produce(settings: Settings, records: Iterable[Record], topic: str | None = None) -> int:
    """Send records to their catalogue topics (by record type) and wait for every delivery."""
    from socialpulse.streams.clients import Sender, make_producer

    serde = AvroSerde.from_settings(settings)
    by_type = {spec.record_type: spec for spec in TOPICS.values()}
    sender = Sender(make_producer(settings), serde)
    n = 0
    for record in records:
        spec = spec_for(topic) if topic else by_type[type(record)]
        sender.send(topic_name(spec, settings), spec.key_of(record), record)
        n += 1
    sender.flush()
    return n


def produce_raw(settings: Settings, topic: str, values: Sequence[tuple[bytes | None, bytes]]) -> None:
    from socialpulse.streams.clients import make_producer

    producer = make_producer(settings)
    name = topic_name(TOPICS[topic], settings)
    for key, value in values:
        producer.produce(name, key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def consume_all(settings: Settings, topic: str, *, idle_s: float = 5.0, expect: int | None = None,
                timeout_s: float = 120.0) -> list[tuple[Any, Record | DecodeError]]:
    """Read a topic from the beginning with read_committed: at least up to the end offsets it has when called,
    then until `expect` records or `idle_s` of silence (for records still being written)."""
    serde = AvroSerde.from_settings(settings)
    name = topic_name(TOPICS[topic], settings)
    consumer = Consumer({
        "bootstrap.servers": settings.kafka_bootstrap, "group.id": f"check-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": "read_committed",
    })
    meta = consumer.list_topics(name, timeout=10).topics[name]
    consumer.assign([TopicPartition(name, p, 0) for p in meta.partitions])
    # Everything already in the topic is read whatever the pauses: a slow fetch never cuts the read short.
    pending_end = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in meta.partitions}
    pending_end = {p: end for p, end in pending_end.items() if end > 0}
    out: list[tuple[Any, Record | DecodeError]] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            if pending_end:
                pass
            elif expect is not None and len(out) >= expect:
                # Linger briefly so duplicates (if any) would show up too.
                if time.monotonic() - last > 1.5:
                    break
            elif time.monotonic() - last > idle_s:
                break
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            last = time.monotonic()
            if msg.partition() in pending_end and (msg.offset() or 0) >= pending_end[msg.partition()] - 1:
                del pending_end[msg.partition()]
            try:
                out.append((msg, serde.decode(msg.value() or b"")))  # a tombstone is DecodeError("empty")
            except DecodeError as exc:
                out.append((msg, exc))
    finally:
        consumer.close()
    return out


R = TypeVar("R", bound=Record)


def consume_all_of(settings: Settings, topic: str, record_type: type[R], *, idle_s: float = 5.0,
                   expect: int | None = None, timeout_s: float = 120.0) -> list[R]:
    """:func:`consume_all`'s records, asserting that every value decoded to ``record_type`` (typed for mypy)."""
    values = [value for _, value in consume_all(settings, topic, idle_s=idle_s, expect=expect, timeout_s=timeout_s)]
    wrong = [v for v in values if not isinstance(v, record_type)]
    assert not wrong, f"{len(wrong)} values on {topic} are not {record_type.__name__}: {wrong[:3]}"
    return [v for v in values if isinstance(v, record_type)]


def wait_drained(settings: Settings, topics: Sequence[str] = ("clicks", "purchases", "reviews", "social"),
                 timeout_s: float = 120.0, extra_topics: Sequence[str] = (),
                 workers: Sequence[WorkerProcess] = ()) -> None:
    """Block until the worker group has committed every input offset: all events are processed.

    ``extra_topics`` are full broker names (e.g. Faust's internal fan-out topics). On a timeout the
    error carries what each of ``workers`` was waiting on.
    """
    names = [topic_name(TOPICS[t], settings) for t in topics] + list(extra_topics)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.app_id,
                         "enable.auto.commit": False})
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            tps = []
            for name in names:
                meta = consumer.list_topics(name, timeout=10).topics.get(name)
                if meta is None or meta.error is not None:
                    continue
                tps += [TopicPartition(name, p) for p in meta.partitions]
            committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10)}
            behind = []
            for tp in tps:
                _, high = consumer.get_watermark_offsets(tp, timeout=10)
                done = committed.get((tp.topic, tp.partition), -1)
                if high > 0 and done < high:
                    behind.append(f"{tp.topic}[{tp.partition}] {max(done, 0)}/{high}")
            if not behind:
                return
            if time.monotonic() > deadline:
                dumps = "\n\n".join(w.debug_dump() for w in workers)
                raise TimeoutError("worker did not drain: " + ", ".join(behind) + ("\n" + dumps if dumps else ""))
            time.sleep(0.25)
    finally:
        consumer.close()


def internal_topics(settings: Settings) -> list[str]:
    """Broker names of the worker's internal fan-out topics (the ones the worker creates before it starts)."""
    return [settings.topic_prefix + name for name in FANOUT_TOPICS]


def table_state(settings: Settings, table: str = "state") -> dict[str, Any]:
    """Final value per key of a worker table, read from its changelog topic (what a restart recovers)."""
    from faust.serializers import codecs

    name = changelog_topic(settings.app_id, table)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"dump-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    state: dict[str, Any] = {}
    try:
        meta = consumer.list_topics(name, timeout=10).topics[name]
        tps = [TopicPartition(name, p, 0) for p in meta.partitions]
        ends = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in meta.partitions}
        consumer.assign(tps)
        remaining = {p for p, end in ends.items() if end > 0}
        while remaining:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            raw_key, value, offset, partition = msg.key(), msg.value(), msg.offset(), msg.partition()
            assert raw_key is not None and offset is not None and partition is not None, "changelog records are keyed"
            key = raw_key.decode()
            if value is None:
                state.pop(key, None)
            else:
                state[key] = codecs.loads("pickle", value) if table == "state" else value
            if offset >= ends[partition] - 1:
                remaining.discard(partition)
    finally:
        consumer.close()
    return state
