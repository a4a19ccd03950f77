"""Builds the Faust app: no global app, no autodiscovery; agents are registered explicitly.

Every input topic has one agent at concurrency 1 (faust-streaming can commit past an unfinished
event at higher concurrency). Each agent takes batches with ``stream.take_events``, calls the plain
functions in :mod:`socialpulse.agents.pipeline`, sends the outputs, waits for their delivery, and
only then writes the touched state keys once each and waits for their changelog records; the batch
is acked after that, so an event's outputs and state are durable before its offset is committed.
Outputs and changelog records go through the worker's own librdkafka producer (:mod:`.delivery`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn, cast

import faust
from faust.types import TP

from socialpulse.deploy.kafka import free_port
from socialpulse.models import learn, marketing
from socialpulse.models.config import ModelConfig, parse_source_weights
from socialpulse.models.interactions import ItemInfo
from socialpulse.models.live_quality import LiveQuality
from socialpulse.models.ranking import Scorer
from socialpulse.schemas import DeadLetter, Item, Record
from socialpulse.streams.clients import make_producer
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.serde import AvroSerde, DecodeError
from socialpulse.streams.settings import Settings, SettingsError
from socialpulse.streams.topics import TOPICS, topic_name
from socialpulse.streams.validation import Limits, problem

from . import pipeline
from .catalogue import CatalogueReader
from .delivery import Deliveries, Sink
from .emitted import RecentIds, read_tail_ids
from .offsets import OffsetGuard, committed_or_start, committed_or_start_many, first_offset_at
from .partition_store import PartitionStore, TableWriter, in_event
from .scoring import build_scorers, declare_models
from .worker_topics import FANOUT_TOPICS, changelog_topic

log = logging.getLogger(__name__)

INTERNAL_TOPICS = FANOUT_TOPICS
OUTPUT_TOPICS = ("recommendations", "marketing-triggers", "conversions")  # co-partitioned with the inputs


def model_config(settings: Settings) -> ModelConfig:
    return ModelConfig(
        history_len=settings.history_len,
        neighbours_per_item=settings.neighbours_per_item,
        user_ttl_ms=int(settings.user_ttl_s * 1000),
        half_life_ms=int(settings.decay_half_life_s * 1000),
        k=settings.rec_k,
        max_per_category=settings.rec_max_per_category,
        debounce_ms=settings.rec_debounce_ms,
        recommend=settings.rec_enabled,
        source_weights=source_weights(settings),
    )


def source_weights(settings: Settings) -> dict[str, float]:
    """``SOCIALPULSE_REC_SOURCE_WEIGHTS`` over the defaults; a bad value is a :class:`SettingsError`."""
    try:
        return parse_source_weights(settings.rec_source_weights)
    except ValueError as exc:
        raise SettingsError(f"SOCIALPULSE_REC_SOURCE_WEIGHTS: {exc}") from None


@dataclass
class Engine:
    """What the agents share inside one worker process."""

    settings: Settings
    metrics: Metrics
    serde: AvroSerde
    cfg: ModelConfig
    limits: Limits
    sink: Sink  # outputs and changelog records (librdkafka; Faust's producer does the rest)
    catalogue: dict[str, ItemInfo] = field(default_factory=dict)
    stores: dict[int, PartitionStore] = field(default_factory=dict)
    emitted: dict[tuple[str, int], RecentIds] = field(default_factory=dict)
    tail_reads: dict[int, asyncio.Future[None]] = field(default_factory=dict)  # partition -> its outputs' read
    assignment_generation: int = 0
    state_table: Any = None
    latest_table: Any = None
    app: Any = None
    catalogue_reader: CatalogueReader | None = None
    resumed: set[tuple[str, int]] = field(default_factory=set)  # partitions seen since the last assignment
    guard: OffsetGuard | None = None
    phases: dict[str, tuple[str, float]] = field(default_factory=dict)  # agent -> (what it awaits, since)
    queues: dict[str, Any] = field(default_factory=dict)  # agent -> its stream's channel (for the watchdog)
    held: dict[str, list[Any]] = field(default_factory=dict)  # agent -> a batch waiting for one more event
    background: list[Any] = field(default_factory=list)  # tasks outside Faust's services (kept referenced)
    scorers: tuple[Scorer, ...] = ()
    quality: LiveQuality = field(default_factory=LiveQuality)  # live HR/NDCG and drift of the lists sent
    batch_started: float = 0.0  # perf_counter() when the current input batch began (scorer queue wait)
    model_versions: dict[str, str] = field(default_factory=dict)  # stamped on every recommendation
    topic_names: dict[str, str] = field(default_factory=dict)  # outputs, dlq and fan-out: broker names

    def observe_quality(self, scores: Sequence[tuple[str, float, float]]) -> None:
        if not self.metrics.enabled:  # only the metrics read it
            return
        for model, hit, ndcg in scores:
            if self.quality.observe(model, hit, ndcg):
                self.metrics.drift_alert(model)
                log.warning("drift in %s: its hit rate changed (now %.3f over the window)", model,
                            self.quality.rates(model)[0])

    def publish_model_gauges(self) -> None:
        """Live quality per model and uplift per campaign (pooled over this worker's partitions)."""
        if not self.metrics.enabled:  # the uplift reads every partition's counters: only for the metrics
            return
        for model in self.quality.models():
            self.metrics.set_prequential(model, self.cfg.k, *self.quality.rates(model))
        stores = list(self.stores.values())
        for campaign in marketing.CAMPAIGNS:
            ratio = marketing.pooled_uplift(stores, campaign)
            if ratio is not None:
                self.metrics.set_uplift(campaign, ratio)

    def note_resume(self, message: Any) -> None:
        """Log where each partition resumes after an assignment: what a crash recovery started from."""
        tp = (message.topic, message.partition)
        if tp not in self.resumed:
            self.resumed.add(tp)
            log.info("resuming %s[%d] at offset %d", message.topic, message.partition, message.offset)

    def batches(self, stream: faust.StreamT, agent: str) -> AsyncIterator[list[Any]]:
        """:func:`batches` with this worker's batch size, linger, offset guard and batch-size metric."""
        return batches(stream, self.settings.batch_size, self.guard, self.phases, agent, self.queues,
                       linger_s=self.settings.batch_linger_ms / 1000,
                       on_batch=lambda n: self.metrics.observe_batch(agent, n), held=self.held)

    def store(self, partition: int) -> PartitionStore:
        store = self.stores.get(partition)
        if store is None:
            store = self.stores[partition] = PartitionStore(self.state_table, partition,
                                                            max_cached=self.settings.state_cache_keys)
        return store

    def sweep_if_due(self, store: PartitionStore, event_ms: int) -> None:
        """Sweep ``store`` when its partition's event time enters a new ``sweep_interval_s``.

        Event time, not wall clock, so a backlog or a replay sweeps at the same events as live traffic
        did, and a test's few minutes of events sweep nothing. Called before an event is applied,
        inside its batch: deleted keys are flushed with the batch's other writes (changelog
        tombstones), after its outputs. A partition newly assigned starts counting from its first event.
        """
        store.high_ms = max(store.high_ms, event_ms)
        tick = store.high_ms // max(1, int(self.settings.sweep_interval_s * 1000))
        due = store.sweep_tick is not None and tick > store.sweep_tick
        if store.sweep_tick is None or due:
            store.sweep_tick = tick
        if due:
            # Their latest lists go too, written with the batch's state (:meth:`write_state`).
            store.forgotten.extend(sweep(store, store.high_ms, self.cfg, self.metrics))

    def fallback_reporter(self, message: Any) -> Callable[[str, Exception], None]:
        """Called when a model fails for one event: count it, log where, and let the list fall back."""

        def report(model: str, exc: Exception) -> None:
            self.metrics.scorer_fallback(model, "error")
            log.error("model %s failed at %s[%d]@%d, fell back: %r", model, message.topic, message.partition,
                      message.offset, exc)

        return report

    async def catalogue_ready(self) -> None:
        reader = self.catalogue_reader
        if reader is not None:
            await reader.caught_up.wait()

    def reset_stores(self) -> None:
        for store in self.stores.values():
            store.discard()
        self.stores.clear()
        self.emitted.clear()
        self.tail_reads.clear()
        self.assignment_generation += 1  # a tail read still running belongs to the old assignment
        self.resumed.clear()
        if self.guard is not None:
            self.guard.reset()

    async def recent_outputs(self, output: str, partition: int) -> RecentIds:
        """Ids already in one partition of an output topic (read once per assignment)."""
        ids = self.emitted.get((output, partition))
        while ids is None:
            await asyncio.shield(self.read_output_tails(partition))
            ids = self.emitted.get((output, partition))
        return ids

    def read_output_tails(self, partition: int) -> asyncio.Future[None]:
        """Read the tail of every output partition ``partition`` writes to, all at once, once per assignment.

        Started when partitions are assigned, so the first events after an assignment do not wait
        for three reads one after another (they did: a second or more of latency at start-up).
        """
        task = self.tail_reads.get(partition)
        if task is None:
            task = self.tail_reads[partition] = asyncio.ensure_future(
                self._read_tails(partition, self.assignment_generation))
        return task

    async def _read_tails(self, partition: int, generation: int) -> None:
        found = await asyncio.gather(*(
            read_tail_ids(self.settings.kafka_bootstrap, topic_name(TOPICS[output], self.settings), partition,
                          self.settings.dedupe_window, self.serde) for output in OUTPUT_TOPICS))
        if generation == self.assignment_generation:
            for output, ids in zip(OUTPUT_TOPICS, found, strict=True):
                self.emitted.setdefault((output, partition), ids)

    async def send_once(self, output: str, partition: int, record: Record, key: str, out: Deliveries) -> bool:
        """Send an output unless the same id is already in its partition (a replay after a crash).

        Sent to the partition of the input event, which the tail read after an assignment reads back.
        """
        emitted = await self.recent_outputs(output, partition)
        if record.event_id in emitted:
            return False
        emitted.add(record.event_id)
        topic = self.topic_names[output]
        out.produce(topic, key.encode(), self.serde.encode(record, topic=topic), partition)
        return True

    def send_fanout(self, fan: pipeline.Fanout, origin: int, out: Deliveries) -> None:
        """A message to the partition of ``fan.key`` (Java's murmur2, as Faust's partitioner) as JSON."""
        value = json.dumps(fan.value | {"origin": origin}, separators=(",", ":")).encode()
        out.produce(self.topic_names[fan.topic], fan.key.encode(), value)

    async def write_state(self, touched: Sequence[PartitionStore],
                          latest: dict[str, tuple[Any, Any]] | None = None) -> None:
        """Write a batch's state (dirty keys, latest lists) once its outputs are delivered; wait for it.

        Call it after the batch's outputs are delivered: a crash in between re-emits them (same ids)
        and never loses one. Returns when the changelog has every record, so the batch may be acked.
        """
        out = self.sink.batch()
        for store in touched:
            store.flush(out)
        latest_writer = TableWriter.of(self.latest_table)
        for store in touched:
            if store.forgotten:
                with in_event(store.event):  # tombstones in this partition's changelog
                    for user in store.forgotten:
                        latest_writer.write(out, store.partition, user, None)
                store.forgotten.clear()
        for user, (event, rec) in (latest or {}).items():
            value = rec.to_avro()
            value["items"] = list(value["items"])  # JSON table: a list, as the web view returns it
            with in_event(event):
                latest_writer.write(out, event.message.partition, user, value)
        offsets = await out.done()
        TableWriter.of(self.state_table).persisted(offsets)
        latest_writer.persisted(offsets)


def create_app(settings: Settings, metrics: Metrics | None = None) -> faust.App:
    """A configured app with every agent, table, web view and the catalogue reader registered."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store=settings.store,
        datadir=str(settings.data_dir),
        autodiscover=False,
        processing_guarantee=settings.processing_guarantee,
        web_enabled=True,
        web_host=settings.web_host,
        web_bind=settings.web_host,
        web_port=settings.web_port or free_port(),  # 0 = a free port; Faust itself refuses 0
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        producer_acks=-1,
        # Outputs and changelog records of a batch go out in few requests, not one each: -22% CPU/event.
        producer_linger=settings.producer_linger_ms / 1000,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        key_serializer="raw",
        value_serializer="raw",
        broker_commit_interval=1.0,
        stream_buffer_maxsize=max(4096, settings.batch_size * 4),
    )
    metrics = metrics or Metrics.from_settings(settings)
    engine = Engine(
        settings=settings,
        metrics=metrics,
        serde=AvroSerde.from_settings(settings),
        cfg=model_config(settings),
        limits=Limits(max_text_chars=settings.max_text_chars,
                      max_future_skew_ms=int(settings.max_future_skew_s * 1000)),
        sink=Sink(lambda: make_producer(settings, linger_ms=settings.producer_linger_ms)),
    )
    app.socialpulse = engine  # type: ignore[attr-defined]
    engine.app = app
    engine.guard = offset_guard(app, settings, metrics)
    engine.scorers = build_scorers(settings, metrics, lambda: engine.batch_started)
    engine.model_versions = declare_models(metrics, engine.cfg, engine.scorers)
    metrics.declare_campaigns()
    register(app, engine)
    return app


def _topic(app: faust.App, settings: Settings, name: str, internal: bool = False) -> faust.TopicT:
    full = topic_name(TOPICS[name], settings) if name in TOPICS else settings.topic_prefix + name
    if internal:
        return app.topic(full, partitions=settings.partitions, internal=True, value_serializer="json",
                         key_serializer="raw")
    return app.topic(full, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")


def offset_guard(app: faust.App, settings: Settings, metrics: Metrics) -> OffsetGuard:
    """The worker's :class:`OffsetGuard`: resumes at the group's committed offsets, seeks with Faust's consumer."""

    async def resume_at(topic: str, partition: int) -> int:
        return await asyncio.to_thread(committed_or_start, settings.kafka_bootstrap, settings.app_id, topic, partition)

    async def first_at(topic: str, partition: int, offset: int) -> int | None:
        return await asyncio.to_thread(first_offset_at, settings.kafka_bootstrap, topic, partition, offset)

    async def seek(topic: str, partition: int, offset: int) -> None:
        await app.consumer.seek(TP(topic, partition), offset)

    async def resume_many(partitions: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        return await asyncio.to_thread(committed_or_start_many, settings.kafka_bootstrap, settings.app_id, partitions)

    return OffsetGuard(resume_at, first_at, seek, on_rewind=lambda topic, _partition: metrics.offset_rewind(topic),
                       resume_many=resume_many)


def sweep(store: PartitionStore, now_ms: int, cfg: ModelConfig, metrics: Metrics) -> tuple[str, ...]:
    """Expire idle users and light items, enforce the key caps, expire marketing state (a full scan).

    Returns the users whose recent recommendations went: their entry in the latest-recommendations
    table goes too, so that table is bounded by the same TTL and cap as the users.
    """
    started = time.perf_counter()
    view = store.scan_view()
    removed = learn.sweep(view, now_ms, cfg)
    marketing_keys = marketing.expire(view, now_ms, pipeline.MARKETING)
    metrics.swept("user", removed.users_removed)
    metrics.swept("user_keys", removed.user_keys_removed)
    metrics.swept("item", removed.items_removed)
    metrics.swept("marketing", marketing_keys)
    took = time.perf_counter() - started
    metrics.observe_sweep(took)
    log.info("swept partition %d at event time %d in %.3f s: %d users (%d other user keys), %d items, "
             "%d marketing keys removed", store.partition, now_ms, took,
             removed.users_removed, removed.user_keys_removed, removed.items_removed, marketing_keys)
    return removed.forgotten


async def batches(stream: faust.StreamT, max_events: int, guard: OffsetGuard | None = None,
                  phases: dict[str, tuple[str, float]] | None = None, name: str = "",
                  queues: dict[str, Any] | None = None, linger_s: float = 0.0,
                  on_batch: Callable[[int], None] | None = None,
                  held: dict[str, list[Any]] | None = None) -> AsyncIterator[list[Any]]:
    """Events in batches: up to ``max_events``, or fewer as soon as no more are waiting.

    Used instead of Faust's ``take_events``, which acks a batch even when the body fails and was seen
    here to stall under load (as reported upstream for ``take``). Events are acked only after the
    body has finished with their batch, so a crash re-reads them. Faust's fetcher hands events over
    one at a time, so the channel is often empty between two events of a backlog: while the last
    event's partition has more records (its offset is below the high watermark), the batch waits up
    to ``linger_s`` in all for the channel to refill. At the tail of the log it is handed over at
    once, so batching adds no latency at low load. With a ``guard``, events out of offset order
    (Faust skipped some) are dropped unacked while the guard re-reads the missing ones.

    A batch can wait for one more event that never comes: a rebalance may clear the channel between
    the check that it held an event and the stream taking it, and then the revocation waits for the
    batch's acks while the batch waits for an event. ``held`` shows such a batch to
    :func:`release_held`, which lets the revocation go on without it; its events are not acked, so
    the next owner re-reads them, and here a batch from an earlier consumer generation is dropped.
    """
    manual = cast(faust.Stream, stream).noack()
    channel = cast(faust.ChannelT, manual.channel)
    app = stream.app
    consumer = app.consumer if linger_s > 0 else None
    phases = {} if phases is None else phases
    held = {} if held is None else held
    if queues is not None:
        queues[name] = channel
    batch: list[Any] = []
    deadline = 0.0
    phases[name] = ("next event", time.time())
    async for event in manual.events():
        msg = event.message
        held.pop(name, None)
        if batch and _generation(batch[0].message) != getattr(app, "consumer_generation_id", None):
            log.warning("%s: dropped a batch of %d events held across a rebalance (they are re-read)", name,
                        len(batch))
            for stale in batch:
                forget(app.consumer, stale.message)
            batch = []
        phases[name] = (f"offset check {msg.topic}[{msg.partition}]@{msg.offset}", time.time())
        accepted = guard is None or await _guarded(guard, msg)
        if accepted:
            if not batch:
                deadline = time.monotonic() + linger_s
            batch.append(event)
        else:
            forget(app.consumer, msg)
        if batch and len(batch) < max_events and channel.empty() and consumer is not None \
                and _backlog(consumer, msg):
            phases[name] = (f"linger after {msg.topic}[{msg.partition}]@{msg.offset}", time.time())
            await _refill(channel, deadline)
        if batch and (len(batch) >= max_events or channel.empty()):
            phases[name] = (f"batch of {len(batch)} from {msg.topic}[{msg.partition}]@{msg.offset}", time.time())
            if on_batch is not None:
                on_batch(len(batch))
            yield batch
            phases[name] = ("ack", time.time())
            for done in batch:
                await manual.ack(done)
            batch = []
        if batch:
            held[name] = batch
        phases[name] = ("next event", time.time())


def _generation(message: Any) -> Any:
    return getattr(message, "generation_id", None)


def release_held(app: Any, held: dict[str, list[Any]]) -> int:
    """While a rebalance is under way, stop Faust waiting for batches that wait for one more event.

    Returns how many events were released. Only batches waiting at the stream (see :func:`batches`)
    are here, never one being processed, so nothing released has changed state or sent output.
    """
    if app.flow_control.is_active():
        return 0
    released = 0
    for name, batch in list(held.items()):
        for event in batch:
            forget(app.consumer, event.message)
        released += len(batch)
        log.warning("%s: released %d events held while a rebalance waited for them", name, len(batch))
        del held[name]
    return released


async def _release_loop(app: Any, held: dict[str, list[Any]]) -> None:
    while True:
        await asyncio.sleep(0.5)
        try:
            release_held(app, held)
        except Exception:  # diagnostics must not end the loop
            log.exception("releasing held batches failed")


def forget(consumer: Any, message: Any) -> None:
    """Stop Faust waiting for a dropped event's ack; its offset stays unacked, so it is never committed.

    A rebalance makes Faust wait until every message it handed to a stream has been acked, and a
    dropped event (the offset guard's) never is. Faust keeps them in a weak set, so they usually
    vanish, but the last one dropped stays referenced by the stream while the agent waits for the
    next event, which a paused partition never delivers: the revocation would wait forever, as it
    did for held batches (:func:`release_held`, the case the two-worker benchmark reproduced).
    """
    unacked = getattr(consumer, "_unacked_messages", None)
    if unacked is not None:
        unacked.discard(message)


def _backlog(consumer: Any, msg: Any) -> bool:
    """Whether the partition of ``msg`` had records after it at the last fetch (unknown counts as no)."""
    high = consumer.highwater(TP(msg.topic, msg.partition))
    return high is not None and msg.offset + 1 < high


async def _refill(channel: Any, deadline: float) -> None:
    """Let the fetcher run until ``channel`` has an event or ``deadline`` (``time.monotonic``) passes.

    Polls rather than awaiting the channel: taking an event out of Faust's stream iterator from
    another task, or cancelling it, would break the stream's own bookkeeping.
    """
    for _ in range(3):  # events already fetched arrive within a few turns of the loop
        await asyncio.sleep(0)
        if not channel.empty():
            return
    while channel.empty():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(left, 0.001))


async def _guarded(guard: OffsetGuard, msg: Any) -> bool:
    try:
        return await guard.accept(msg.topic, msg.partition, msg.offset)
    except Exception:
        # Without knowing where the partition resumes, processing could skip events: restart instead.
        exit_for_restart("cannot check offsets at %s[%d]@%d", msg.topic, msg.partition, msg.offset)


def exit_for_restart(why: str, *args: Any) -> NoReturn:
    """Log the current exception and end the process without acking or committing: a restart re-reads."""
    log.critical(why + "; exiting for a restart", *args, exc_info=True)
    logging.shutdown()
    os._exit(70)


@asynccontextmanager
async def fail_fast(agent: str, events: Sequence[Any]) -> AsyncIterator[None]:
    """A bug while processing a batch ends the process at once, before Faust acks the batch.

    Faust's ``take_events`` acknowledges a batch even when the body raises, and a restarted agent
    would skip it: a lost batch. Exiting without a commit makes the supervisor's restart reprocess
    it from the last committed offset, exactly like a crash.
    """
    try:
        yield
    except asyncio.CancelledError:
        raise
    except BaseException:
        first = events[0].message if events else None
        where = f"{first.topic}[{first.partition}]@{first.offset}" if first is not None else "?"
        exit_for_restart("agent %s failed on the batch starting at %s", agent, where)


def rocksdb_options(settings: Settings) -> dict[str, int]:
    """Bounded RocksDB memory per table partition (Faust's defaults allow a 2 GiB block cache each)."""
    mb = 2**20
    return {"block_cache_size": settings.rocksdb_block_cache_mb * mb,
            "block_cache_compressed_size": settings.rocksdb_block_cache_mb * mb,
            "write_buffer_size": settings.rocksdb_write_buffer_mb * mb,
            "max_write_buffer_number": 2}


def _table(app: faust.App, name: str, partitions: int, value_serializer: str,
           settings: Settings) -> Any:
    # Faust derives table serializers from key/value *types* (json by default); state values are plain
    # Python, so give the table and its changelog (which recovery decodes with) explicit codecs.
    changelog = app.topic(changelog_topic(app.conf.id, name), key_serializer="raw", value_serializer=value_serializer,
                          partitions=partitions, compacting=True, deleting=False, acks=False, internal=True)
    options = rocksdb_options(settings) if settings.store.startswith("rocksdb") else None
    table = cast(faust.Table, app.Table(name, default=None, partitions=partitions, changelog_topic=changelog,
                                        options=options))
    table.key_serializer = "raw"
    table.value_serializer = value_serializer
    return table


def register(app: faust.App, engine: Engine) -> None:
    settings = engine.settings
    engine.state_table = _table(app, "state", settings.partitions, "pickle", settings)
    engine.latest_table = _table(app, "latest-recommendations", settings.partitions, "json", settings)
    internal = {name: _topic(app, settings, name, internal=True) for name in INTERNAL_TOPICS}
    engine.topic_names = {name: topic_name(TOPICS[name], settings) for name in (*OUTPUT_TOPICS, "dlq")}
    engine.topic_names |= {name: t.get_topic_name() for name, t in internal.items()}
    # The state table's changelog partitions follow the input partitions: all co-partitioned.
    handlers: dict[str, Callable[..., pipeline.Outputs]] = {
        "clicks": pipeline.on_click,
        "purchases": pipeline.on_purchase,
        "reviews": pipeline.on_review,
        "social": pipeline.on_social,
    }
    for name, handler in handlers.items():
        _register_input_agent(app, engine, name, handler)
    _register_items_agent(app, engine, internal["price-drops"])
    for name in INTERNAL_TOPICS:
        _register_internal_agent(app, engine, name, internal[name])
    reader = CatalogueReader(settings, engine.serde, engine.catalogue, engine.limits)
    app.service(reader)  # type: ignore[arg-type]  # typed for classes; faust also starts an instance
    engine.catalogue_reader = reader

    @app.on_partitions_revoked.connect
    async def _on_revoked(app_: faust.App, /, *_args: Any, **_kwargs: Any) -> None:
        # Unflushed state of a batch the rebalance interrupted is dropped; its events are re-read.
        engine.reset_stores()

    guarded = {topic_name(TOPICS[name], settings): name for name in (*handlers, "items")}
    guarded |= {settings.topic_prefix + name: name for name in INTERNAL_TOPICS}
    clicks_topic = topic_name(TOPICS["clicks"], settings)

    @app.on_partitions_assigned.connect
    async def _on_assigned(app_: faust.App, /, *args: Any, **_kwargs: Any) -> None:
        # Start what the first events of each partition need, all at once, before they arrive.
        assigned = list(args[0]) if args else []  # the newly assigned partitions
        if engine.guard is not None:
            engine.guard.prefetch([(tp.topic, tp.partition) for tp in assigned if tp.topic in guarded])
        for tp in assigned:
            if tp.topic == clicks_topic:  # every behaviour topic has the same partitions
                engine.read_output_tails(tp.partition)

    @app.task
    async def _start_releasing_held_batches() -> None:
        # A task of our own, not a Faust timer: timers stop before a shutdown waits for acks, and a
        # held batch would hold the shutdown too (seen: a SIGTERMed worker waiting until SIGKILL).
        engine.background.append(asyncio.get_running_loop().create_task(_release_loop(app, engine.held)))

    @app.timer(5.0)
    async def _offset_watchdog() -> None:
        dedupe_acked(app.consumer)
        await watch_offsets(engine, guarded)

    @app.timer(5.0)
    async def _model_gauges() -> None:
        engine.publish_model_gauges()

    @app.timer(10.0)
    async def _table_gauges() -> None:
        engine.metrics.set_table_entries("state", table_sizes(engine.state_table))
        engine.metrics.set_table_entries("latest-recommendations", table_sizes(engine.latest_table))

    from .web import register_views

    register_views(app, engine)


POSITION_TIMEOUT_S = 2.0  # the consumer's fetch position; unknown for longer (a reset): ask next tick


def dedupe_acked(consumer: Any) -> int:
    """Drop repeated offsets from Faust's per-partition lists of acked offsets; returns how many.

    faust-streaming 0.15 merges its "gaps" (offsets it counts as done without seeing them) into the
    acked list without indexing them, so when such an offset is read again (the offset guard re-reads
    skipped records) and acked, it appears twice. Its commit takes the first run of consecutive
    offsets, which a repeat ends: the group's commit then moved one offset a second behind a drained
    partition (seen with two workers, 4,500 offsets behind after minutes). The set of acked offsets is
    unchanged, so nothing is committed that was not processed.
    """
    removed = 0
    for tp, acked in list(getattr(consumer, "_acked", {}).items()):
        unique = sorted(set(acked))
        repeats = len(acked) - len(unique)
        if repeats:
            acked[:] = unique  # in place: Faust holds this list
            removed += repeats
            log.info("dropped %d repeated acked offsets of %s[%d] so its commits advance", repeats, tp.topic,
                     tp.partition)
    return removed


async def watch_offsets(engine: Engine, topics: dict[str, str]) -> None:
    """Have the offset guard check every assigned input partition for a stalled, skipped tail.

    ``topics`` maps broker names to agent names. An agent with events still queued is busy, not
    skipped: only an idle agent's partitions are checked, so the watchdog never competes with work.
    """
    guard, consumer = engine.guard, engine.app.consumer
    if guard is None:
        return
    for tp in list(consumer.assignment()):
        agent = topics.get(tp.topic)
        if agent is None:
            continue
        queue = engine.queues.get(agent)
        if queue is not None and not queue.empty():
            continue
        high = consumer.highwater(tp)
        if high is None:
            continue
        try:
            position = await asyncio.wait_for(consumer.position(tp), POSITION_TIMEOUT_S)
            await guard.check_stalled(tp.topic, tp.partition, high, position)
        except Exception:  # a broker hiccup: the next tick asks again
            log.warning("offset check of %s[%d] failed", tp.topic, tp.partition, exc_info=True)


def _dead_letter(engine: Engine, event: Any, reason: str, detail: str, out: Deliveries) -> None:
    msg = event.message
    record = DeadLetter(source_topic=msg.topic, partition=msg.partition, offset=msg.offset, error_type=reason,
                        error_message=detail[:2000], timestamp=int(time.time() * 1000), key=msg.key,
                        value=msg.value if isinstance(msg.value, bytes) else None)
    engine.metrics.dead_letter(reason)
    engine.metrics.failed(msg.topic)
    log.warning("dead-lettered %s[%d]@%d: %s: %s", msg.topic, msg.partition, msg.offset, reason, detail[:200])
    topic = engine.topic_names["dlq"]
    out.produce(topic, msg.topic.encode(), engine.serde.encode(record, topic=topic))


def _decode(engine: Engine, event: Any, expected: type[Record]) -> tuple[Record | None, tuple[str, str] | None]:
    try:
        record = engine.serde.decode(event.message.value, expected)
    except DecodeError as exc:
        return None, ("decode_error", f"{exc.reason}: {exc}")
    now_ms = int(time.time() * 1000)
    found = problem(record, now_ms, engine.limits)
    return record, found


def _register_input_agent(app: faust.App, engine: Engine, name: str,
                          handler: Callable[..., pipeline.Outputs]) -> None:
    settings, metrics = engine.settings, engine.metrics
    spec = TOPICS[name]
    source = _topic(app, settings, name)

    async def agent(stream: faust.StreamT) -> None:
        # Recommendations filter on stock and seller: never run before the catalogue has been read.
        await engine.catalogue_ready()
        async for events in engine.batches(stream, name):
            started = time.perf_counter()
            async with fail_fast(name, events):
                await _process_batch(engine, spec.record_type, handler, events)
            metrics.observe_processing(name, time.perf_counter() - started)

    agent.__name__ = f"ingest_{name}"
    app.agent(source, name=f"socialpulse.ingest.{name}", concurrency=1)(agent)


async def _process_batch(engine: Engine, record_type: type[Record], handler: Callable[..., pipeline.Outputs],
                         events: Sequence[Any]) -> None:
    metrics = engine.metrics
    out = engine.sink.batch()
    touched: dict[int, PartitionStore] = {}
    latest: dict[str, Any] = {}
    now_ms = int(time.time() * 1000)
    engine.batch_started = time.perf_counter()
    for event in events:
        msg = event.message
        engine.note_resume(msg)
        metrics.consumed(msg.topic)
        record, bad = _decode(engine, event, record_type)
        if bad is not None:
            _dead_letter(engine, event, *bad, out)
            continue
        store = engine.store(msg.partition)
        store.event = event
        touched[msg.partition] = store
        assert record is not None  # decoded: only bad input has no record
        engine.sweep_if_due(store, record.timestamp)
        outputs = handler(store, engine.catalogue, record, msg.offset, now_ms, engine.cfg,
                          on_error=engine.fallback_reporter(msg), scorers=engine.scorers)
        engine.observe_quality(outputs.quality)
        for rec in outputs.recommendations:
            rec = dataclasses.replace(rec, model_versions=engine.model_versions)
            latest[rec.user_id] = (event, rec)
            if not await engine.send_once("recommendations", msg.partition, rec, rec.user_id, out):
                continue  # sent before a crash; the state update above was the part still missing
            # End to end: from the input's produce time (Kafka timestamp) to this output's send.
            metrics.observe_end_to_end(max(0.0, time.time() - msg.timestamp))
            metrics.recommended(rec.items[0].source if rec.items else "popular", len(rec.items))
        await _send_marketing(engine, msg.partition, outputs, out)
        for fan in outputs.fanout:
            engine.send_fanout(fan, msg.partition, out)
    # Outputs first, state second: a crash in between re-emits (same ids), it never loses.
    await out.done()
    await engine.write_state(list(touched.values()), latest)
    _record_lag(engine, events)


async def _send_marketing(engine: Engine, partition: int, outputs: pipeline.Outputs, out: Deliveries) -> None:
    """Triggers (held-out ones too, flagged, for uplift) and conversions; suppressions are counted."""
    for trigger in outputs.triggers:
        if await engine.send_once("marketing-triggers", partition, trigger, trigger.user_id, out):
            if trigger.holdout:
                engine.metrics.suppressed(trigger.campaign, "holdout")
            else:
                engine.metrics.triggered(trigger.campaign)
    for campaign, reason in outputs.suppressed:
        engine.metrics.suppressed(campaign, reason)
    for conversion in outputs.conversions:
        if await engine.send_once("conversions", partition, conversion, conversion.user_id, out):
            engine.metrics.conversion(conversion.campaign or "none", conversion.attributed_kind)


def _record_lag(engine: Engine, events: Sequence[Any]) -> None:
    """Consumer lag per partition after a batch: high watermark minus the next offset to process."""
    last: dict[tuple[str, int], int] = {}
    for event in events:
        last[(event.message.topic, event.message.partition)] = event.message.offset
    consumer = engine.app.consumer
    for (topic, partition), offset in last.items():
        high = consumer.highwater(TP(topic, partition))
        if high is not None:
            engine.metrics.set_consumer_lag(topic, partition, max(0, high - offset - 1))


def table_sizes(table: Any) -> int:
    """Keys in a table's local partitions; RocksDB's own estimate, so it never walks the keys."""
    store = table.data
    dbs = getattr(store, "_dbs", None)
    if dbs is None:
        return len(store.data) if hasattr(store, "data") else 0
    total = 0
    for db in dbs.values():
        try:
            total += int(db.property_int_value("rocksdb.estimate-num-keys") or 0)
        except Exception:  # an old rocksdict without properties: report nothing rather than walk
            return 0
    return total


def _register_items_agent(app: faust.App, engine: Engine, drops: faust.TopicT) -> None:
    settings = engine.settings
    source = _topic(app, settings, "items")
    # Last price per item, on the items partitions: a drop is broadcast to every user partition, where
    # the marketing engine knows which of its users showed interest in the item.
    prices = _table(app, "item-prices", settings.partitions, "json", settings)

    async def ingest_items(stream: faust.StreamT) -> None:
        async for events in engine.batches(stream, "items"):
            async with fail_fast("items", events):
                out = engine.sink.batch()  # dead letters; the prices table and its drops go through Faust
                pending = []
                for event in events:
                    msg = event.message
                    engine.metrics.consumed(msg.topic)
                    item, bad = _decode(engine, event, Item)
                    if bad is not None:
                        _dead_letter(engine, event, *bad, out)
                        continue
                    # Valid items reach every worker through the catalogue reader, not through this agent.
                    assert isinstance(item, Item)
                    with in_event(event):
                        old = prices.get(item.item_id)
                        if old != item.price:
                            prices[item.item_id] = item.price
                    if old is not None and item.price < old:
                        value = {"item": item.item_id, "old": old, "new": item.price, "ts": item.timestamp,
                                 "event_id": item.event_id, "origin": msg.partition, "offset": msg.offset}
                        for partition in range(settings.partitions):
                            pending.append(await drops.send(key=item.item_id.encode(), value=value,
                                                            partition=partition))
                if pending:
                    await asyncio.gather(*pending)
                await out.done()

    app.agent(source, name="socialpulse.ingest.items", concurrency=1)(ingest_items)


def _register_internal_agent(app: faust.App, engine: Engine, name: str, topic: faust.TopicT) -> None:

    async def agent(stream: faust.StreamT) -> None:
        async for events in engine.batches(stream, name):
            async with fail_fast(name, events):
                out = engine.sink.batch()
                touched: dict[int, PartitionStore] = {}
                for event in events:
                    msg = event.message
                    store = engine.store(msg.partition)
                    store.event = event
                    touched[msg.partition] = store
                    value = event.value
                    if name == "price-drops":
                        outputs = pipeline.on_price_drop(store, value, engine.cfg)
                        await _send_marketing(engine, msg.partition, outputs, out)
                    elif name == "social-edges":
                        pipeline.on_social_edge(store, msg.key.decode(), value, int(value["origin"]), engine.cfg)
                    else:
                        pipeline.on_social_signal(store, msg.key.decode(), value, int(value["origin"]), engine.cfg)
                await out.done()
                await engine.write_state(list(touched.values()))

    app.agent(topic, name=f"socialpulse.internal.{name}", concurrency=1)(agent)
