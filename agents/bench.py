"""`socialpulse bench`: throughput, latency, CPU and memory, side by side, in one run on one broker.

Every figure comes from the same broker in the same run, so ratios are meaningful on a noisy
machine; absolute numbers are not. Rows:

- raw consume: a confluent-kafka consume loop over the same pre-produced events (the ceiling);
- faust forward: a plain Faust agent that forwards each event with one send (the yardstick);
- pipeline: the SocialPulse worker (decode, validate, learn, recommend, send), metrics on and off;
- pipeline, no lists: the worker learning and running marketing without building lists
  (``SOCIALPULSE_REC_ENABLED=false``); against the pipeline run it splits a worker's time into a cost per
  event and a cost per list;
- pipeline x2: two workers sharing the partitions;
- latency: open loop at fixed offered rates, produce time -> recommendation produce time (the contract's
  2,000 events/s, and any slower rates asked for, to show the latency of a worker that keeps up).
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer
from tenacity import retry, retry_if_exception, stop_after_delay, wait_fixed

from socialpulse.deploy.kafka import free_port
from socialpulse.schemas import Item, Record
from socialpulse.streams.serde import AvroSerde
from socialpulse.streams.settings import Settings
from socialpulse.streams.topics import BEHAVIOUR_TOPICS, TOPICS, create_topics, topic_name


@dataclass
class BenchConfig:
    events: int = 40_000
    users: int = 2_000
    items: int = 1_000
    partitions: int = 4
    rates: tuple[float, ...] = (2_000.0, 200.0)  # offered load of each latency run, events/s
    latency_seconds: float = 20.0
    seed: int = 7
    out_dir: Path = Path("reports")
    bootstrap: str | None = None  # None: start a local broker for the run
    runs: tuple[str, ...] = ("raw", "forward", "pipeline", "pipeline_no_lists", "pipeline_nometrics", "pipeline_x2",
                             "latency")
    worker_log_level: str = "WARNING"  # of the worker processes (their logs are kept in the run's folder)
    capacity_p99_ms: float = 50.0  # the "capacity" run: highest offered load whose p99 stays under this
    capacity_range: tuple[float, float] = (100.0, 2_000.0)  # events/s searched by the "capacity" run
    capacity_probes: int = 5  # latency runs after the two ends (each narrows the range by half, log scale)


#: Every run ``--runs`` can name: the defaults, and the capacity search (minutes of latency runs).
KNOWN_RUNS = (*BenchConfig.runs, "capacity")


def parse_runs(text: str) -> tuple[str, ...]:
    """``--runs``: comma-separated names of :data:`KNOWN_RUNS`; an unknown or missing name is an error."""
    runs = tuple(r.strip() for r in text.split(",") if r.strip())
    unknown = [r for r in runs if r not in KNOWN_RUNS]
    if unknown or not runs:
        raise typer.BadParameter(f"unknown run {', '.join(unknown) or '(none given)'}; "
                                 f"known: {', '.join(KNOWN_RUNS)}", param_hint="--runs")
    return runs


@dataclass
class RunResult:
    name: str
    events: int = 0
    seconds: float = 0.0
    events_per_s: float = 0.0
    cpu_percent: float = 0.0  # mean over the run, per worker process summed (100 = one core)
    peak_rss_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------
# Workload: simulated events, encoded once, produced again for every run under its own topic prefix.


@dataclass
class Workload:
    catalogue: list[tuple[str, bytes, bytes]]  # (topic short name, key, value)
    behaviour: list[tuple[str, bytes, bytes]]


def make_workload(cfg: BenchConfig, settings: Settings) -> Workload:
    from socialpulse.streams.simulator import SimConfig, generate
    from socialpulse.streams.topics import spec_for

    serde = AvroSerde.from_settings(settings)
    by_type = {spec.record_type: spec for spec in TOPICS.values()}
    catalogue: list[tuple[str, bytes, bytes]] = []
    behaviour: list[tuple[str, bytes, bytes]] = []
    record: Record
    for record in generate(SimConfig(users=cfg.users, items=cfg.items, events=cfg.events, seed=cfg.seed)):
        spec = by_type[type(record)]
        row = (spec.name, spec.key_of(record), serde.encode(record, topic=topic_name(spec_for(spec.name), settings)))
        (catalogue if isinstance(record, Item) and not behaviour else behaviour).append(row)
    return Workload(catalogue, behaviour)


def _produce_rows(settings: Settings, rows: Sequence[tuple[str, bytes, bytes]], producer: Any = None) -> None:
    from socialpulse.streams.clients import make_producer

    producer = producer or make_producer(settings, linger_ms=20)
    for short, key, value in rows:
        while True:
            try:
                producer.produce(topic_name(TOPICS[short], settings), key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) != 0:
        raise RuntimeError("benchmark input not delivered")


def fresh_settings(base: Settings, work: Path, **overrides: Any) -> Settings:
    tag = uuid.uuid4().hex[:6]
    values: dict[str, Any] = {"topic_prefix": f"bench{tag}.", "app_id": f"bench-{tag}", "data_dir": work / tag}
    values.update(overrides)
    return base.model_copy(update=values)


# Run names the list-cost split finds its two runs by.
ONE_WORKER = "pipeline (1 worker)"
NO_LISTS = "pipeline, no lists"


@dataclass(frozen=True)
class ListCost:
    """A worker's time split as ``seconds per event = per_event_s + per_list_s * lists per event``."""

    per_event_s: float  # everything but building lists: decode, learn, marketing, state, sends, Faust
    per_list_s: float

    @classmethod
    def of(cls, pipeline: RunResult, fewer: RunResult) -> ListCost | None:
        """From two runs of one workload that differ only in how many lists they build; None if they don't."""
        l1, l2 = pipeline.extra.get("lists_per_event"), fewer.extra.get("lists_per_event")
        if l1 is None or l2 is None or not pipeline.events_per_s or not fewer.events_per_s:
            return None
        t1, t2 = 1.0 / pipeline.events_per_s, 1.0 / fewer.events_per_s
        if l1 - l2 < 0.05:  # too close to tell the two costs apart
            return None
        per_list = (t1 - t2) / (l1 - l2)
        return cls(per_event_s=t1 - per_list * l1, per_list_s=per_list)

    def rate(self, lists_per_event: float) -> float:
        """Events/s a worker would process building this many lists per event."""
        t = self.per_event_s + self.per_list_s * lists_per_event
        return 1.0 / t if t > 0 else float("inf")


def _behaviour_count(workload: Workload) -> int:
    return sum(1 for short, _, _ in workload.behaviour if short in BEHAVIOUR_TOPICS)


# ---------------------------------------------------------------------------------------------------------
# Measuring processes


class _Sampler(threading.Thread):
    """Samples CPU and RSS of processes (psutil) every half second."""

    def __init__(self, pids: Sequence[int]) -> None:
        super().__init__(daemon=True)
        import psutil

        self.procs = [psutil.Process(p) for p in pids]
        self.cpu: list[float] = []
        self.rss: list[tuple[float, float]] = []
        self.stop_event = threading.Event()
        for p in self.procs:
            p.cpu_percent(None)

    def run(self) -> None:
        while not self.stop_event.wait(0.5):
            try:
                self.cpu.append(sum(p.cpu_percent(None) for p in self.procs))
                self.rss.append((time.monotonic(), sum(p.memory_info().rss for p in self.procs) / 2**20))
            except Exception:  # a process ended: keep what was sampled
                return


def _transient(exc: BaseException) -> bool:
    """A broker error that goes away by itself (the group coordinator moving or loading)."""
    from confluent_kafka import KafkaError, KafkaException

    if not isinstance(exc, KafkaException) or not exc.args or not isinstance(exc.args[0], KafkaError):
        return False
    error = exc.args[0]
    return error.retriable() or error.code() in (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                                                 KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError._TIMED_OUT,
                                                 KafkaError._TRANSPORT)


# Sampled every half second during a run: a coordinator change must not end a benchmark.
@retry(retry=retry_if_exception(_transient), wait=wait_fixed(0.5), stop=stop_after_delay(30), reraise=True)
def _committed(settings: Settings, group: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic_name(TOPICS[t], settings), p) for t in BEHAVIOUR_TOPICS
               for p in range(settings.partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10))
    finally:
        consumer.close()


@retry(retry=retry_if_exception(_transient), wait=wait_fixed(0.5), stop=stop_after_delay(30), reraise=True)
def _records(settings: Settings, short: str) -> int:
    """Records in a topic (the sum of its partitions' end offsets; outputs are not transactional)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.app_id}-count"})
    try:
        name = topic_name(TOPICS[short], settings)
        ends = [consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
                for p in range(settings.partitions)]
        return sum(max(end, 0) for end in ends)
    finally:
        consumer.close()


def _start(module: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", module], env=settings.to_env(os.environ), stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def measure_processes(name: str, module: str, settings: list[Settings], workload: Workload, work: Path,
                      timeout_s: float = 900.0) -> RunResult:
    """Pre-produce the workload, start the processes, time from first commit to all committed."""
    first = settings[0]
    create_topics(first)
    _produce_rows(first, workload.catalogue)
    _produce_rows(first, workload.behaviour)
    total = _behaviour_count(workload)
    procs = [_start(module, s, work / f"{name}-{n}.log") for n, s in enumerate(settings)]
    sampler = _Sampler([p.pid for p in procs])
    sampler.start()
    try:
        deadline = time.monotonic() + timeout_s
        start_t = start_n = None
        done = 0
        while done < total:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"{name}: stopped at {done}/{total}; see {work}/{name}-*.log")
            time.sleep(0.2)
            done = _committed(first, first.app_id)
            if start_t is None and done > 0:
                start_t, start_n = time.monotonic(), done
        assert start_t is not None and start_n is not None
        seconds = time.monotonic() - start_t
    finally:
        sampler.stop_event.set()
        for p in procs:
            _stop(p)
    rate = (total - start_n) / seconds if seconds > 0 else float("inf")
    extra: dict[str, Any] = {}
    if module == "socialpulse.agents.worker":
        # Lists are a large share of a worker's cost, and how many events build one depends on the traffic.
        extra["lists_per_event"] = _records(first, "recommendations") / total
    return RunResult(name, total - start_n, seconds, rate,
                     sum(sampler.cpu) / len(sampler.cpu) if sampler.cpu else 0.0,
                     max((r for _, r in sampler.rss), default=0.0), extra)


def measure_raw_consume(settings: Settings, workload: Workload) -> RunResult:
    """confluent-kafka poll loop over the pre-produced behaviour topics (decode included, as a worker must)."""
    from confluent_kafka import Consumer

    create_topics(settings)
    _produce_rows(settings, workload.behaviour)
    serde = AvroSerde.from_settings(settings)
    total = _behaviour_count(workload)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.app_id,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic_name(TOPICS[t], settings) for t in BEHAVIOUR_TOPICS])
    n, start = 0, None
    try:
        while n < total:
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                if start is None:
                    start = time.perf_counter()
                value = msg.value()
                if value is None:  # a tombstone: nothing to decode (the bench never writes one)
                    continue
                serde.decode(value)
                n += 1
    finally:
        consumer.close()
    seconds = time.perf_counter() - (start or time.perf_counter())
    return RunResult("raw consume (confluent-kafka + decode)", n, seconds, n / seconds if seconds else 0.0)


# ---------------------------------------------------------------------------------------------------------
# Open-loop latency


def graph_prefix(rows: Sequence[tuple[str, bytes, bytes]], serde: AvroSerde) -> int:
    """How many leading behaviour rows are the follow graph the simulator emits before any behaviour."""
    for n, (short, _, value) in enumerate(rows):
        if short != "social" or getattr(serde.decode(value), "type", None) != "follow":
            return n
    return len(rows)


def measure_latency(settings: Settings, workload: Workload, rate: float, seconds: float, work: Path) -> RunResult:
    """Offer ``rate`` events/s on a schedule (not waiting for the engine), time each recommendation.

    The simulator's follow graph (its leading follow events) is produced first, as a backlog the worker
    drains before the clock starts: otherwise a slow rate would time only follows. Then ``rate * seconds``
    behaviour events are offered open loop.
    """
    from confluent_kafka import Consumer, TopicPartition

    from socialpulse.streams.clients import make_producer

    create_topics(settings)
    _produce_rows(settings, workload.catalogue)
    behaviour = [r for r in workload.behaviour if r[0] in BEHAVIOUR_TOPICS]
    graph = graph_prefix(behaviour, AvroSerde.from_settings(settings))
    # The timed producer sends the graph: it is connected, with its metadata and idempotence id, before
    # the clock starts (a new one held the first timed events back by up to half a second).
    producer = make_producer(settings, linger_ms=1)
    _produce_rows(settings, behaviour[:graph], producer)
    proc = _start("socialpulse.agents.worker", settings, work / f"latency-{rate:.0f}.log")
    sampler = None
    try:
        _wait_ready(settings, proc)
        _wait_drained(settings, proc)
        sampler = _Sampler([proc.pid])
        sampler.start()
        gc_before = gc_pauses(settings)
        serde = AvroSerde.from_settings(settings)
        rows = behaviour[graph:graph + int(rate * seconds)]
        sent_at: dict[str, float] = {}
        t0 = time.monotonic()
        wall0 = time.time()
        for n, (short, key, value) in enumerate(rows):
            due = t0 + n / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            event_id = serde.decode(value).event_id
            now_ms = int(time.time() * 1000)
            sent_at[event_id] = now_ms
            producer.produce(topic_name(TOPICS[short], settings), key=key, value=value, timestamp=now_ms)
            producer.poll(0)
        producer.flush(60)
        sent_s = time.monotonic() - t0  # shorter than ``seconds`` when the workload runs out first
        offered = len(rows) / sent_s
        # Read every recommendation produced for these events.
        name = topic_name(TOPICS["recommendations"], settings)
        consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"lat-{uuid.uuid4().hex}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.assign([TopicPartition(name, p, 0) for p in range(settings.partitions)])
        latencies: list[float] = []
        out_times: list[float] = []
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 5.0:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            idle_since = time.monotonic()
            payload = msg.value()
            if payload is None:  # a tombstone: nothing to decode (the engine never writes one)
                continue
            rec = serde.decode(payload)
            trigger = getattr(rec, "trigger_event_id", None)
            if trigger in sent_at:
                _, produced_ms = msg.timestamp()
                latencies.append(produced_ms - sent_at[trigger])
                out_times.append(produced_ms / 1000 - wall0)
        consumer.close()
        gc_after = gc_pauses(settings)
        gc_window = {gen: (n - gc_before.get(gen, (0, 0))[0], total - gc_before.get(gen, (0, 0.0))[1])
                     for gen, (n, total) in gc_after.items()}
    finally:
        if sampler:
            sampler.stop_event.set()
        _stop(proc)
    import numpy as np

    lat = np.asarray(latencies, dtype=float)
    pct = {f"p{q}": float(np.percentile(lat, q)) if lat.size else float("nan") for q in (50, 95, 99)}
    result = RunResult(f"latency @ {rate:.0f} ev/s offered", len(rows), sent_s, offered,
                       sum(sampler.cpu) / len(sampler.cpu) if sampler and sampler.cpu else 0.0,
                       max((r for _, r in sampler.rss), default=0.0) if sampler else 0.0,
                       {**pct, "recommendations": len(latencies), "max": float(lat.max()) if lat.size else 0.0,
                        **{f"gc{gen}_pauses": n for gen, (n, _) in gc_window.items()},
                        **{f"gc{gen}_ms": round(total * 1000, 1) for gen, (_, total) in gc_window.items()}})
    result.extra["_latencies"] = latencies
    result.extra["_out_times"] = out_times
    return result


def capacity_search(p99_at: Callable[[float], float], lo: float, hi: float, target_ms: float,
                    probes: int) -> tuple[float | None, list[tuple[float, float]]]:
    """Highest offered load (events/s) whose p99 stays under ``target_ms``, by bisection on a log scale.

    ``p99_at(rate)`` runs one open-loop latency run. Tries ``hi`` first (done if it passes), then ``lo``
    (None if even that fails), then ``probes`` midpoints. Returns the best passing rate and every
    ``(rate, p99)`` tried. p99 rises with load, but one run's p99 is noisy, so the answer is to about
    ``(hi / lo) ** (1 / 2 ** probes)`` of the rate, not better.
    """
    tried: list[tuple[float, float]] = []

    def ok(rate: float) -> bool:
        p99 = p99_at(rate)
        tried.append((rate, p99))
        return p99 < target_ms

    if ok(hi):
        return hi, tried
    if not ok(lo):
        return None, tried
    for _ in range(probes):
        mid = math.sqrt(lo * hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo, tried


def measure_capacity(cfg: BenchConfig, base: Settings, workload: Workload, work: Path) -> RunResult:
    """The "capacity" run: one worker's highest offered load with p99 under ``cfg.capacity_p99_ms``."""
    runs: dict[float, RunResult] = {}

    def p99_at(rate: float) -> float:
        run = measure_latency(fresh_settings(base, work, web_port=free_port()), workload, rate,
                              cfg.latency_seconds, work)
        runs[rate] = run
        p99 = run.extra["p99"]
        return p99 if math.isfinite(p99) else math.inf

    lo, hi = cfg.capacity_range
    best, tried = capacity_search(p99_at, lo, hi, cfg.capacity_p99_ms, cfg.capacity_probes)
    name = f"capacity: highest load with p99 < {cfg.capacity_p99_ms:.0f} ms"
    extra: dict[str, Any] = {"probes": [[round(r), p] for r, p in tried]}
    if best is None:
        return RunResult(name, 0, 0.0, 0.0, extra=extra)
    run = runs[best]
    extra.update({k: run.extra[k] for k in ("p50", "p95", "p99")})
    return RunResult(name, run.events, run.seconds, best, run.cpu_percent, run.peak_rss_mb, extra)


def gc_pauses(settings: Settings) -> dict[str, tuple[int, float]]:
    """The worker's garbage-collector pauses so far, by generation: (count, total seconds)."""
    import httpx

    from .demo import parse_metrics

    try:
        body = httpx.get(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=5).text
    except httpx.HTTPError:  # metrics off or the worker gone: the run's figures stand without these
        return {}
    found: dict[str, list[float]] = {}
    fields = {"socialpulse_gc_pause_seconds_count": 0, "socialpulse_gc_pause_seconds_sum": 1}
    for (name, labels), value in parse_metrics(body).items():
        if name in fields:
            found.setdefault(dict(labels)["generation"], [0.0, 0.0])[fields[name]] = value
    return {gen: (int(n), total) for gen, (n, total) in sorted(found.items())}


def _wait_drained(settings: Settings, proc: subprocess.Popen[bytes], timeout_s: float = 600.0) -> None:
    """Until the worker has committed everything pre-produced, fan-out between its partitions included
    (a follow graph sends as many messages again to the followees' partitions)."""
    deadline = time.monotonic() + timeout_s
    while not _lag_zero(settings, internal=True):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("worker did not drain the pre-produced events")
        time.sleep(0.5)


def _wait_ready(settings: Settings, proc: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("worker exited during start-up")
        try:
            if httpx.get(f"http://127.0.0.1:{settings.web_port}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError("worker not ready")


# ---------------------------------------------------------------------------------------------------------


def run_bench(cfg: BenchConfig) -> list[RunResult]:
    from rich.console import Console

    from socialpulse.deploy.kafka import LocalKafka
    from socialpulse.streams import reports

    console = Console()
    kafka: LocalKafka | None = None
    bootstrap = cfg.bootstrap
    if not bootstrap:
        kafka = LocalKafka(nodes=1).start()
        bootstrap = kafka.bootstrap
    work = Path(tempfile.mkdtemp(prefix="socialpulse-bench-"))
    base = Settings(kafka_bootstrap=bootstrap, partitions=cfg.partitions, web_port=free_port(),
                    log_level=cfg.worker_log_level)
    results: list[RunResult] = []
    try:
        console.print(f"[bold]workload[/]: {cfg.events} simulated events, {cfg.users} users, {cfg.items} items, "
                      f"{cfg.partitions} partitions; broker {bootstrap}; logs in {work}")
        workload = make_workload(cfg, base)
        if "raw" in cfg.runs:
            results.append(measure_raw_consume(fresh_settings(base, work), workload))
        if "forward" in cfg.runs:
            results.append(measure_processes("faust forward (one send per event)", "socialpulse.agents.forwarder",
                                             [fresh_settings(base, work)], workload, work))
        if "pipeline" in cfg.runs:
            results.append(measure_processes(ONE_WORKER, "socialpulse.agents.worker",
                                             [fresh_settings(base, work)], workload, work))
        if "pipeline_no_lists" in cfg.runs:
            results.append(measure_processes(NO_LISTS, "socialpulse.agents.worker",
                                             [fresh_settings(base, work, rec_enabled=False)], workload, work))
        if "pipeline_nometrics" in cfg.runs:
            results.append(measure_processes("pipeline, metrics off", "socialpulse.agents.worker",
                                             [fresh_settings(base, work, metrics_enabled=False)], workload, work))
        if "pipeline_x2" in cfg.runs:
            one = fresh_settings(base, work)
            two = one.model_copy(update={"web_port": free_port(), "data_dir": one.data_dir.with_name("second")})
            results.append(measure_processes("pipeline (2 workers)", "socialpulse.agents.worker", [one, two],
                                             workload, work))
        if "latency" in cfg.runs:
            for rate in cfg.rates:
                results.append(measure_latency(fresh_settings(base, work, web_port=free_port()), workload, rate,
                                               cfg.latency_seconds, work))
        if "capacity" in cfg.runs:
            results.append(measure_capacity(cfg, base, workload, work))
    finally:
        if kafka is not None:
            kafka.stop()
    _report(cfg, results, console, reports)
    return results


def _report(cfg: BenchConfig, results: list[RunResult], console: Any, reports: Any) -> None:
    forward = next((r for r in results if r.name.startswith("faust forward")), None)
    rows = []
    for r in results:
        ratio = r.events_per_s / forward.events_per_s if forward and forward.events_per_s else float("nan")
        lat = r.extra
        rows.append([r.name, r.events, round(r.events_per_s), f"{ratio:.2f}", round(r.cpu_percent),
                     round(r.peak_rss_mb), *(f"{lat[k]:.1f}" if k in lat else "" for k in ("p50", "p95", "p99"))])
    reports.print_table("socialpulse bench (same broker, same run)",
                        ["run", "events", "events/s", "vs forward", "cpu %", "peak MB", "p50 ms", "p95 ms",
                         "p99 ms"], rows, console=console)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
            "results": [{**asdict(r), "extra": {k: v for k, v in r.extra.items() if not k.startswith("_")}}
                        for r in results]}
    cost = list_cost(results)
    if cost is not None:
        data["list_cost"] = {"per_event_us": cost.per_event_s * 1e6, "per_list_us": cost.per_list_s * 1e6,
                             "events_per_s_without_lists": cost.rate(0.0)}
    reports.write_json(data, out / "bench.json")
    latencies = [r for r in results if r.name.startswith("latency")]
    for n, (latency, rate) in enumerate(zip(latencies, cfg.rates, strict=False)):
        suffix = "" if n == 0 else f"-{rate:.0f}"  # the first (contract) rate keeps the plain names
        reports.plot_latency(latency.extra["_latencies"], out / f"bench-latency{suffix}.png",
                             title=f"Produce -> recommendation latency at {rate:.0f} events/s offered")
        reports.plot_throughput(latency.extra["_out_times"], out / f"bench-throughput{suffix}.png",
                                title=f"Recommendations per second during the latency run at {rate:.0f} events/s")
    throughput = [r for r in results if not r.name.startswith(("latency", "capacity"))]
    if throughput:
        _bar_chart(throughput, out / "bench-throughput-runs.png")
    for r in latencies:
        pauses = [f"gen{gen} {r.extra[f'gc{gen}_pauses']} ({r.extra[f'gc{gen}_ms']:.0f} ms)" for gen in "012"
                  if f"gc{gen}_pauses" in r.extra]
        if pauses:
            console.print(f"garbage-collector pauses in the worker during {r.name}: {', '.join(pauses)}")
    for r in results:
        if "lists_per_event" in r.extra:
            console.print(f"{r.name}: {r.extra['lists_per_event']:.2f} recommendation lists per input event")
        if r.name.startswith("capacity"):
            tried = ", ".join(f"{rate} ev/s: {p99:.0f} ms" for rate, p99 in r.extra["probes"])
            verdict = f"{r.events_per_s:.0f} events/s" if r.events_per_s else "below the lowest rate tried"
            console.print(f"{r.name}: {verdict} (p99 of each latency run tried: {tried})")
    if cost is not None:
        _print_list_cost(cost, forward, console)
    console.print(f"results: {out / 'bench.json'}; plots in {out}/")


def list_cost(results: list[RunResult]) -> ListCost | None:
    """The split of one worker's time, when the results hold the pipeline run and the no-lists run."""
    pipeline = next((r for r in results if r.name == ONE_WORKER), None)
    no_lists = next((r for r in results if r.name == NO_LISTS), None)
    return ListCost.of(pipeline, no_lists) if pipeline and no_lists else None


def _print_list_cost(cost: ListCost, forward: RunResult | None, console: Any) -> None:
    line = (f"one worker's time: {cost.per_event_s * 1e6:.0f} us per event plus {cost.per_list_s * 1e6:.0f} us per "
            f"list; without lists: {cost.rate(0.0):.0f} events/s")
    if forward and forward.events_per_s:
        line += f" ({cost.rate(0.0) / forward.events_per_s:.2f} of the forwarding agent)"
    console.print(line)


def _bar_chart(results: list[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh([r.name for r in results], [r.events_per_s for r in results], color="#4c72b0")
    ax.set(xlabel="events / s (same broker, same run)", title="Throughput side by side")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_soak(events: int, users: int, items: int, partitions: int, out_dir: Path, bootstrap: str | None,
             rate: float | None = None) -> dict:
    """Memory over a long run: produce ``events`` simulated events while one worker consumes them, sample RSS.

    ``events`` counts traffic after the set-up records (the catalogue of ``items`` and the initial follow
    graph, about 8 follows per user): with 100,000 users the graph alone is 800,000 records, and a
    budget that included it would leave the last sixth of the run to behaviour. Reports the peak and
    the spread over the second half of the traffic, counted in events: from when the worker had
    committed the set-up and half of the traffic (the worker's state is bounded by configuration, so
    it should be flat once caches and caps are full). Counting by time instead would move the window
    with the worker's speed and with the minutes it waits while the catalogue is produced.

    ``rate``: offer the events at that many per second (open loop), as live traffic arrives; None produces
    them as fast as possible, so the worker catches up (and reads the input topics at different paces).
    """
    from rich.console import Console

    from socialpulse.deploy.kafka import LocalKafka
    from socialpulse.streams import reports
    from socialpulse.streams.simulator import SimConfig, Simulation

    console = Console()
    console.print(f"soak: building a world of {users:,} users and {items:,} items")
    sim = Simulation(SimConfig(users=users, items=items, events=events, seed=11))
    setup = sim.setup_records
    total = setup + events
    setup_committed = setup - items  # the initial follows are behaviour records (social), the catalogue is not
    kafka = None if bootstrap else LocalKafka(nodes=1).start()
    work = Path(tempfile.mkdtemp(prefix="socialpulse-soak-"))
    base = Settings(kafka_bootstrap=bootstrap or kafka.bootstrap, partitions=partitions,  # type: ignore[union-attr]
                    web_port=free_port(), log_level="WARNING")
    settings = fresh_settings(base, work)
    create_topics(settings)
    proc = _start("socialpulse.agents.worker", settings, work / "soak.log")
    sampler = None
    breakdown: list[dict[str, Any]] = []  # the worker's /debug/memory every 30 s
    progress_at: list[tuple[float, int]] = []  # (time.monotonic(), events committed), every 2 s
    try:
        _wait_ready(settings, proc)
        sampler = _Sampler([proc.pid])
        sampler.start()
        from socialpulse.streams.simulator import produce as sim_produce

        produced = [0]
        failed: list[BaseException] = []

        def counted() -> Any:
            for record in sim.records(total):
                yield record
                produced[0] += 1

        def produce() -> None:
            try:
                sim_produce(counted(), settings, rate=rate, total=total, progress=False)
            except BaseException as exc:  # reported by the main thread
                failed.append(exc)

        producer = threading.Thread(target=produce, name="soak-producer", daemon=True)
        producer.start()
        deadline = time.monotonic() + 3 * 3600
        from rich.progress import Progress

        with Progress(console=console) as progress:
            offered = f"{rate:,.0f} events/s" if rate else "as fast as possible"
            produce_task = progress.add_task(f"soak: producing ({offered})", total=total)
            task = progress.add_task("soak: worker committed", total=total - items)
            next_memory = 0.0
            while time.monotonic() < deadline:
                done = _committed(settings, settings.app_id)
                progress_at.append((time.monotonic(), done))
                progress.update(produce_task, completed=produced[0])
                progress.update(task, completed=done)
                if failed:
                    raise RuntimeError("the soak's producer failed") from failed[0]
                if proc.poll() is not None:
                    raise RuntimeError(f"the soak's worker exited with {proc.returncode}; log: {work / 'soak.log'}")
                if time.monotonic() >= next_memory:  # which part grows, if memory does
                    breakdown.append({"events": done, **_memory(settings)})
                    next_memory = time.monotonic() + 30
                    if not console.is_terminal:  # a log file gets no progress bar: a line every 30 s instead
                        console.print(f"soak: produced {produced[0]:,} of {total:,}, worker committed {done:,} "
                                      f"of {total - items:,}, RSS {breakdown[-1].get('rss_mb', 0):,.0f} MB")
                if not producer.is_alive() and _lag_zero(settings):
                    break
                time.sleep(2)
            breakdown.append({"events": done, **_memory(settings)})
    finally:
        if sampler:
            sampler.stop_event.set()
        _stop(proc)
        if kafka is not None:
            kafka.stop()
    rss = sampler.rss if sampler else []
    final = progress_at[-1][1] if progress_at else 0
    half_done = setup_committed + (final - setup_committed) / 2
    halfway_s = next((t for t, done in progress_at if done >= half_done), rss[len(rss) // 2][0] if rss else 0.0)
    half = [r for t, r in rss if t >= halfway_s]
    result: dict[str, Any] = {"events": events, "setup_records": setup, "users": users, "items": items,
                              "offered_rate": rate,
                              "peak_rss_mb": max((r for _, r in rss), default=0),
                              "second_half_min_mb": min(half, default=0), "second_half_max_mb": max(half, default=0)}
    result["second_half_spread"] = (result["second_half_max_mb"] / result["second_half_min_mb"] - 1
                                    if result["second_half_min_mb"] else float("nan"))
    result["memory_by_part"] = breakdown
    out_dir.mkdir(parents=True, exist_ok=True)
    reports.write_json(result, out_dir / "soak.json")
    _plot_rss(rss, out_dir / "soak-rss.png", halfway_s)
    reports.print_table("soak", ["events", "peak MB", "2nd half min MB", "2nd half max MB", "spread"],
                        [[events, round(result["peak_rss_mb"]), round(result["second_half_min_mb"]),
                          round(result["second_half_max_mb"]), f"{result['second_half_spread']:.1%}"]], console=console)
    samples = [b for b in breakdown if b.get("rss_mb")]
    if samples:
        halfway = next((b for b in samples if b["events"] >= half_done), samples[len(samples) // 2])
        rows = [[label, *_parts(b).values()] for label, b in (("halfway", halfway), ("end", samples[-1]))]
        reports.print_table("worker memory by part (GET /debug/memory)", ["when", *_parts(samples[-1])], rows,
                            console=console)
    return result


def _parts(sample: dict[str, Any]) -> dict[str, Any]:
    """One /debug/memory sample as a table row."""
    rocks = sample.get("rocksdb", {})
    cache = sample.get("state_cache", {})
    return {
        "events": sample.get("events", 0),
        "RSS MB": round(sample.get("rss_mb", 0)),
        "RocksDB MB": round(sum(sum(t.values()) for t in rocks.values())),
        "cached keys": cache.get("keys", 0),
        "cached MB (pickled)": round(cache.get("pickled_mb_estimate", 0)),
        "dedupe ids": sample.get("dedupe_ids", 0),
    }


def _memory(settings: Settings) -> dict[str, Any]:
    """The worker's ``/debug/memory`` (empty when it does not answer in time)."""
    import httpx

    try:
        return dict(httpx.get(f"http://127.0.0.1:{settings.web_port}/debug/memory", timeout=10).json())
    except (httpx.HTTPError, ValueError):
        return {}


def _lag_zero(settings: Settings, internal: bool = False) -> bool:
    """Whether the worker's group has committed every behaviour topic (and, with ``internal``, every
    fan-out topic between partitions) up to its end."""
    from confluent_kafka import Consumer, TopicPartition

    from socialpulse.agents.worker_topics import FANOUT_TOPICS

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.app_id})
    try:
        names = [topic_name(TOPICS[t], settings) for t in BEHAVIOUR_TOPICS]
        if internal:
            names += [settings.topic_prefix + name for name in FANOUT_TOPICS]
        tps = [TopicPartition(name, p) for name in names for p in range(settings.partitions)]
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10)}
        return all(max(committed[(tp.topic, tp.partition)], 0) >= consumer.get_watermark_offsets(tp, timeout=10)[1]
                   for tp in tps)
    finally:
        consumer.close()


def _plot_rss(rss: list[tuple[float, float]], path: Path, halfway_s: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    if rss:
        t0 = rss[0][0]
        ax.plot([t - t0 for t, _ in rss], [r for _, r in rss], color="#c44e52")
        if halfway_s is not None:
            ax.axvline(halfway_s - t0, color="gray", linestyle="--", label="half the events processed")
            ax.legend(loc="lower right")
    ax.set(xlabel="seconds", ylabel="worker RSS (MB)", title="Worker memory during the soak run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bench_command(
    events: int = typer.Option(40_000, help="Simulated events per throughput run."),
    users: int = typer.Option(2_000),
    items: int = typer.Option(1_000),
    partitions: int = typer.Option(4),
    rate: str = typer.Option("2000,200", help="Offered load of each open-loop latency run (events/s), "
                                              "comma-separated: the target's 2,000 and one a worker keeps up with."),
    latency_seconds: float = typer.Option(20.0, help="Duration of the latency run."),
    runs: str = typer.Option(",".join(BenchConfig.runs),
                             help="Comma-separated subset of runs. Add 'capacity' for a search (5-8 latency "
                                  "runs) of the highest offered load one worker serves with p99 under 50 ms."),
    out_dir: Path = typer.Option(Path("reports"), help="Where bench.json and the plots go."),
    bootstrap: str = typer.Option(None, help="Use this broker instead of starting a local one."),
    worker_log_level: str = typer.Option("WARNING", help="Log level of the worker processes (logs stay in "
                                                          "the run's temporary folder)."),
    soak: bool = typer.Option(False, help="Instead: a long run measuring worker memory (use --events 1000000 "
                                          "--users 100000 --items 50000 for the full soak)."),
    soak_rate: float = typer.Option(None, min=1, help="Offered load of the soak run (events/s, open loop, as live "
                                                      "traffic arrives); unset: as fast as possible, a catch-up."),
) -> None:
    """Benchmark the pipeline side by side with a raw consumer and a forwarding Faust agent."""
    if soak:
        run_soak(events, users, items, partitions, out_dir, bootstrap, rate=soak_rate)
        return
    chosen = parse_runs(runs)  # before a broker starts: a typo should not cost a minute
    run_bench(BenchConfig(events=events, users=users, items=items, partitions=partitions,
                          rates=tuple(float(r) for r in rate.split(",") if r.strip()),
                          latency_seconds=latency_seconds, out_dir=out_dir, bootstrap=bootstrap,
                          runs=chosen,
                          worker_log_level=worker_log_level.upper()))
