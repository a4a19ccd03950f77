"""`socialpulse demo`: the whole engine on one machine, watched live in the terminal.

It starts a local Kafka (its own temp data dir), creates the topics under a fresh prefix, runs one
worker process (``python -m socialpulse.agents.worker``, output to a log file), sends simulated
traffic (the catalogue and follow graph at once, then behaviour at ``--rate``) and shows what comes
out: recommendations, marketing triggers and dead letters read back from their topics, throughput
and latency read from the worker's ``/metrics``. On ``--duration``, Ctrl-C or SIGTERM it stops
everything it started, by PID, and prints a summary. It is the only caller of ``Settings.from_env``
here: everything below takes the settings it builds.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from socialpulse.schemas import DeadLetter, Item, MarketingTrigger, Recommendation, Record, Social
from socialpulse.streams.settings import Settings

__all__ = ["DemoOptions", "demo_command", "histogram_quantile", "run_demo"]

# Settings-like variables that configure tools, passed through to the worker unchanged.
_NON_TTY_DURATION_S = 60.0
_WORKER_READY_TIMEOUT_S = 180.0
_WORKER_STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class DemoOptions:
    rate: float = 200.0  # under one worker's capacity (bench --runs capacity: ~280 events/s), so latency stays low
    events: int = 20_000
    users: int = 500
    items: int = 300
    seed: int = 7
    duration_s: float | None = None  # None: until Ctrl-C
    live: bool = True  # a rich Live view; False: a plain progress line every few seconds


class DemoError(RuntimeError):
    """Something the demo started did not come up (Kafka, topics, worker)."""


# --- metrics ---------------------------------------------------------------------------------------
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse_metrics(text: str) -> Samples:
    """Prometheus text exposition -> ``{(sample name, sorted labels): value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return samples


def _total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def _buckets(samples: Samples, name: str) -> dict[float, float]:
    """Cumulative bucket counts of histogram ``name`` summed over its other labels: ``{le: count}``."""
    out: dict[float, float] = {}
    for (n, labels), v in samples.items():
        if n == name + "_bucket":
            le = float(dict(labels)["le"])
            out[le] = out.get(le, 0.0) + v
    return out


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile of cumulative ``{le: count}`` buckets, interpolated linearly inside a bucket as
    Prometheus' ``histogram_quantile`` does. ``None`` without observations; ``inf`` when it falls in the
    ``+Inf`` bucket.

    >>> histogram_quantile(0.5, {0.1: 0, 0.2: 10, float("inf"): 10})
    0.15000000000000002
    """
    if not buckets:
        return None
    les = sorted(buckets)
    total = buckets[les[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le in les:
        count = buckets[le]
        if count >= rank:
            if le == float("inf"):
                return float("inf")
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return float("inf")


def _delta(new: dict[float, float], old: dict[float, float]) -> dict[float, float]:
    return {le: v - old.get(le, 0.0) for le, v in new.items()}


class _MetricsWatch:
    """Scrapes the worker's /metrics; rates and latency quantiles over the last few seconds."""

    E2E = "socialpulse_end_to_end_latency_seconds"
    BATCH = "socialpulse_processing_latency_seconds"
    CONSUMED = "socialpulse_events_consumed_total"

    def __init__(self, url: str, window_s: float = 5.0) -> None:
        self.url = url
        self.window_s = window_s
        self.history: deque[tuple[float, Samples]] = deque(maxlen=64)
        self.error: str | None = None
        self.caught_up: Samples | None = None  # the scrape at which the start-up backlog was drained

    def mark_caught_up(self) -> None:
        """From now on, :meth:`quantile` ``since_caught_up`` leaves out what queued behind the start-up backlog."""
        if self.caught_up is None and self.history:
            self.caught_up = self.latest

    def scrape(self) -> None:
        import httpx

        try:
            text = httpx.get(self.url, timeout=2.0).text
            self.history.append((time.monotonic(), parse_metrics(text)))
            self.error = None
        except Exception as exc:  # the view shows it; a missed scrape is not fatal
            self.error = f"{type(exc).__name__}: {exc}"

    @property
    def latest(self) -> Samples:
        return self.history[-1][1] if self.history else {}

    def _window(self) -> tuple[float, Samples, Samples] | None:
        if len(self.history) < 2:
            return None
        t1, new = self.history[-1]
        t0, old = next(((t, s) for t, s in self.history if t1 - t <= self.window_s), self.history[-2])
        if t1 - t0 <= 0:
            t0, old = self.history[-2]
        return t1 - t0, new, old

    def rate(self, name: str) -> float | None:
        window = self._window()
        if window is None:
            return None
        dt, new, old = window
        return max(0.0, _total(new, name) - _total(old, name)) / dt if dt > 0 else None

    def quantile(self, name: str, q: float, *, recent: bool, since_caught_up: bool = False) -> float | None:
        """Quantile over the whole run, or (``recent``) over the window, falling back to the whole run.

        ``since_caught_up``: only what was observed after :meth:`mark_caught_up` (None before it).
        """
        if since_caught_up:
            if self.caught_up is None:
                return None
            return histogram_quantile(q, _delta(_buckets(self.latest, name), _buckets(self.caught_up, name)))
        if recent:
            window = self._window()
            if window is not None:
                _, new, old = window
                value = histogram_quantile(q, _delta(_buckets(new, name), _buckets(old, name)))
                if value is not None:
                    return value
        return histogram_quantile(q, _buckets(self.latest, name))

    def total(self, name: str) -> float:
        return _total(self.latest, name)

    def by_label(self, name: str, label: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for (n, labels), v in self.latest.items():
            if n == name and v:
                out[dict(labels).get(label, "")] += int(v)
        return out


# --- outputs read back from Kafka ------------------------------------------------------------------
@dataclass
class _Outputs:
    recommendations: int = 0
    triggers: int = 0
    dead_letters: int = 0
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    latest_recs: deque[Recommendation] = field(default_factory=lambda: deque(maxlen=5))
    latest_triggers: deque[MarketingTrigger] = field(default_factory=lambda: deque(maxlen=5))
    undecodable: int = 0


class _OutputReader:
    """Reads the recommendations, marketing-triggers and dlq topics with a confluent consumer."""

    def __init__(self, settings: Settings, client_log: logging.Logger) -> None:
        from socialpulse.streams.clients import make_consumer
        from socialpulse.streams.serde import AvroSerde
        from socialpulse.streams.topics import TOPICS, topic_name

        self.serde = AvroSerde.from_settings(settings)
        self.names = {topic_name(TOPICS[t], settings): t for t in ("recommendations", "marketing-triggers", "dlq")}
        self.consumer = make_consumer(settings, f"{settings.app_id}-demo-view", logger=client_log)
        self.consumer.subscribe(list(self.names))
        self.out = _Outputs()

    def poll(self, budget_s: float = 0.2) -> None:
        from socialpulse.streams.serde import DecodeError

        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            messages = self.consumer.consume(num_messages=1000, timeout=0.05)
            if not messages:
                return
            for msg in messages:
                value = msg.value()
                if msg.error() is not None or value is None:
                    continue
                try:
                    record = self.serde.decode(value)
                except DecodeError:
                    self.out.undecodable += 1
                    continue
                self._count(record)

    def _count(self, record: Record) -> None:
        out = self.out
        if isinstance(record, Recommendation):
            out.recommendations += 1
            out.latest_recs.appendleft(record)
        elif isinstance(record, MarketingTrigger):
            out.triggers += 1
            out.latest_triggers.appendleft(record)
        elif isinstance(record, DeadLetter):
            out.dead_letters += 1
            out.dead_letter_reasons[record.error_type] += 1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.consumer.close()


# --- traffic ---------------------------------------------------------------------------------------
def _split_world(records: Iterable[Record], start_ms: int) -> tuple[list[Record], Iterator[Record]]:
    """The simulator's opening catalogue and follow graph (all at ``start_ms``), and the behaviour after it."""
    it = iter(records)
    world: list[Record] = []
    for record in it:
        opening = isinstance(record, Item) or (isinstance(record, Social) and record.type == "follow")
        if opening and getattr(record, "timestamp", None) == start_ms:
            world.append(record)
            continue
        return world, itertools.chain([record], it)
    return world, iter(())


class _Traffic(threading.Thread):
    """Produces the simulated stream: the world unpaced, then ``events`` behaviour records at ``rate``."""

    def __init__(self, settings: Settings, opts: DemoOptions, client_log: logging.Logger) -> None:
        super().__init__(name="socialpulse-demo-traffic", daemon=True)
        from socialpulse.streams.clients import Sender, make_producer
        from socialpulse.streams.serde import AvroSerde

        self.settings, self.opts = settings, opts
        self.sender = Sender(make_producer(settings, logger=client_log), AvroSerde.from_settings(settings))
        self.stop_event = threading.Event()
        self.world = 0
        self.error: BaseException | None = None
        self.done = False

    def _until_stopped(self, records: Iterable[Record]) -> Iterator[Record]:
        for record in records:
            if self.stop_event.is_set():
                return
            yield record

    def run(self) -> None:
        from socialpulse.streams.simulator import SimConfig, Simulation, produce

        opts = self.opts
        # The budget only caps the lazy generator: the follow graph's size is known once it is drawn.
        budget = opts.items + opts.users * (opts.users - 1) + opts.events
        cfg = SimConfig(users=opts.users, items=opts.items, seed=opts.seed, events=budget)
        try:
            world, behaviour = _split_world(Simulation(cfg).records(), cfg.start_ms)
            self.world = len(world)
            produce(self._until_stopped(world), self.settings, None, sender=self.sender, progress=False)
            produce(self._until_stopped(itertools.islice(behaviour, opts.events)), self.settings, opts.rate,
                    sender=self.sender, progress=False)
        except BaseException as exc:
            self.error = exc
        finally:
            self.done = True

    @property
    def produced(self) -> int:
        return self.sender.delivered


# --- processes -------------------------------------------------------------------------------------
def _client_logger(path: Path) -> logging.Logger:
    """librdkafka's messages (retries, disconnects at shutdown) go to a file, not over the live view."""
    logger = logging.getLogger(f"socialpulse.demo.clients.{path.parent.name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(logging.FileHandler(path))
    return logger


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class _Demo:
    """What the demo started, so that any exit path stops exactly that."""

    def __init__(self, base: Settings, opts: DemoOptions, console: Console) -> None:
        from socialpulse.deploy.kafka import free_port

        self.opts, self.console = opts, console
        self.tmp = Path(tempfile.mkdtemp(prefix="socialpulse-demo-"))
        self.log_path = self.tmp / "worker.log"
        self.client_log = _client_logger(self.tmp / "clients.log")
        tag = uuid.uuid4().hex[:8]
        self.settings = base.model_copy(update={
            "topic_prefix": f"demo-{tag}.",
            "app_id": f"socialpulse-demo-{tag}",
            "data_dir": self.tmp / "worker",
            "web_host": "127.0.0.1",
            "web_port": free_port(),
            "scorers": base.scorers or "online_mf",  # the models dashboard shows a learned scorer at work
        })
        self.url = f"http://127.0.0.1:{self.settings.web_port}"
        self.kafka: Any = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.traffic: _Traffic | None = None
        self.reader: _OutputReader | None = None
        self.metrics = _MetricsWatch(self.url + "/metrics")
        self.started_at: float | None = None  # when traffic started
        self.stopped_at: float | None = None

    # --- start ---------------------------------------------------------------------------------
    def start(self) -> None:
        from socialpulse.deploy.kafka import KafkaStartError, LocalKafka
        from socialpulse.streams.topics import create_topics

        opts = self.opts
        self.console.print(f"[bold]SocialPulse demo[/]: local Kafka, one worker, simulated traffic "
                           f"({opts.users} users, {opts.items} items, {opts.events} events at {opts.rate:g}/s)")
        self.console.print("starting Kafka ...")
        self.kafka = LocalKafka(nodes=1)
        try:
            self.kafka.start()
        except KafkaStartError as exc:
            raise DemoError(str(exc)) from exc
        for pid in self.kafka.pids:
            self.console.print(f"started kafka pid {pid} at {self.kafka.bootstrap} "
                               f"(ready in {self.kafka.ready_seconds:.1f} s)")
        self.settings = self.settings.model_copy(update={"kafka_bootstrap": self.kafka.bootstrap})
        created = create_topics(self.settings)
        self.console.print(f"created {len(created)} topics with prefix {self.settings.topic_prefix}")

        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # A new session: Ctrl-C in the terminal reaches only the demo, which stops the worker by PID.
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "socialpulse.agents.worker"], env=self.settings.to_env(os.environ),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.console.print(f"started worker pid {self.worker.pid}; log {self.log_path}")
        waited = self._wait_ready()
        self.console.print(f"worker ready at {self.url} in {waited:.1f} s")
        self.console.print(f"  metrics:         {self.url}/metrics")
        self.console.print(f"  recommendations: {self.url}/users/<user_id>/recommendations")

        self.reader = _OutputReader(self.settings, self.client_log)
        self.traffic = _Traffic(self.settings, opts, self.client_log)
        self.started_at = time.monotonic()
        self.traffic.start()

    def _wait_ready(self) -> float:
        import httpx

        assert self.worker is not None
        t0 = time.monotonic()
        while time.monotonic() - t0 < _WORKER_READY_TIMEOUT_S:
            if self.worker.poll() is not None:
                raise DemoError(f"worker exited with code {self.worker.returncode}; end of {self.log_path}:\n"
                                + _log_tail(self.log_path))
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/ready", timeout=2.0).status_code == 200:
                    return time.monotonic() - t0
            time.sleep(0.3)
        raise DemoError(f"worker not ready after {_WORKER_READY_TIMEOUT_S:.0f} s; end of {self.log_path}:\n"
                        + _log_tail(self.log_path))

    # --- watch ---------------------------------------------------------------------------------
    def watch(self) -> None:
        """Refresh the view until ``duration_s`` has passed since traffic started (or forever)."""
        from rich.live import Live

        assert self.started_at is not None
        end = None if self.opts.duration_s is None else self.started_at + self.opts.duration_s
        if self.opts.live:
            self.console.print("Ctrl-C stops the demo and everything it started.")
            with Live(self.render(), console=self.console, refresh_per_second=4, transient=False) as live:
                while end is None or time.monotonic() < end:
                    self._tick()
                    live.update(self.render())
        else:
            next_line = time.monotonic() + 5.0
            while end is None or time.monotonic() < end:
                self._tick()
                if time.monotonic() >= next_line:
                    self.console.print(self.progress_line())
                    next_line += 5.0

    def _tick(self) -> None:
        assert self.worker is not None and self.reader is not None
        t0 = time.monotonic()
        if self.worker.poll() is not None:
            raise DemoError(f"worker exited with code {self.worker.returncode}; end of {self.log_path}:\n"
                            + _log_tail(self.log_path))
        if self.traffic is not None and self.traffic.error is not None:
            raise DemoError(f"producing traffic failed: {self.traffic.error}")
        self.metrics.scrape()
        self._note_caught_up()
        self.reader.poll(0.3)
        time.sleep(max(0.0, 0.5 - (time.monotonic() - t0)))

    def _note_caught_up(self) -> None:
        """The catalogue and follow graph go out unpaced at the start, so the first seconds' latencies are
        queueing behind them. Once all of it is produced and the worker has taken everything produced
        but a tenth of a second of traffic, latency is what a steady stream gets."""
        traffic = self.traffic
        if self.metrics.caught_up is not None or traffic is None or not traffic.world \
                or traffic.produced <= traffic.world or not self.metrics.latest:
            return
        if self.processed() >= traffic.produced - max(10.0, self.opts.rate / 10):
            self.metrics.mark_caught_up()

    def elapsed(self) -> float:
        if self.started_at is None:
            return 0.0
        return (self.stopped_at or time.monotonic()) - self.started_at

    def progress_line(self) -> str:
        out = self.reader.out if self.reader else _Outputs()
        produced = self.traffic.produced if self.traffic else 0
        rate = self.metrics.rate(_MetricsWatch.CONSUMED)
        p99 = self.metrics.quantile(_MetricsWatch.E2E, 0.99, recent=True)
        return (f"[{self.elapsed():4.0f} s] produced {produced}, processed {self.processed():.0f} "
                f"({_fmt_rate(rate)}), recommendations {out.recommendations}, triggers {out.triggers}, "
                f"dead letters {out.dead_letters}, end-to-end p99 {_fmt_s(p99)}")

    def processed(self) -> float:
        """Input events the worker has taken (its counter), to compare with what was produced."""
        return self.metrics.total(_MetricsWatch.CONSUMED)

    def render(self) -> Group:
        out = self.reader.out if self.reader else _Outputs()
        traffic = self.traffic
        produced = traffic.produced if traffic else 0
        total = (traffic.world if traffic else 0) + self.opts.events
        state = "done" if traffic and traffic.done else f"{self.opts.rate:g}/s"
        left = "" if self.opts.duration_s is None else f" of {self.opts.duration_s:.0f} s"
        head = Text.assemble(
            ("SocialPulse demo", "bold"), f"  {self.elapsed():.0f} s{left}   traffic {produced}/{total} ({state})",
            f"   Kafka {self.settings.kafka_bootstrap}   worker pid {self.worker.pid if self.worker else '-'}",
        )

        recs = Table(title="latest recommendations", expand=True, title_justify="left")
        recs.add_column("user", no_wrap=True)
        recs.add_column("top 3: item (source) - why", ratio=1)
        for rec in out.latest_recs:
            lines = [f"{i.item_id} ({i.source}) - {i.explanation}" for i in rec.items[:3]]
            recs.add_row(rec.user_id, "\n".join(lines) or "(empty list)")
        if not out.latest_recs:
            recs.add_row("-", "none yet")

        trig = Table(title="latest marketing triggers", expand=True, title_justify="left")
        for col in ("user", "campaign", "reason", "channel", "holdout"):
            trig.add_column(col)
        for t in out.latest_triggers:
            trig.add_row(t.user_id, t.campaign, t.reason, t.channel, "yes" if t.holdout else "no")
        if not out.latest_triggers:
            trig.add_row("-", "none yet", "", "", "")

        m = self.metrics
        stats = Table(title="engine", expand=True, title_justify="left", show_header=False)
        stats.add_column("what")
        stats.add_column("value", ratio=1)
        backlog = max(0, produced - int(self.processed()))
        stats.add_row("throughput (worker)", f"{_fmt_rate(m.rate(m.CONSUMED))}, backlog {backlog} events")
        rec_rate = m.rate("socialpulse_recommendations_total")
        stats.add_row("recommendations", f"{out.recommendations}  ({_fmt_rate(rec_rate).replace('events', 'lists')})")
        stats.add_row("marketing triggers", str(out.triggers))
        reasons = ", ".join(f"{r} {n}" for r, n in out.dead_letter_reasons.most_common(4))
        stats.add_row("dead letters", f"{out.dead_letters}" + (f"  ({reasons})" if reasons else ""))
        stats.add_row("end-to-end latency", f"p50 {_fmt_s(m.quantile(m.E2E, 0.5, recent=True))}, "
                                            f"p99 {_fmt_s(m.quantile(m.E2E, 0.99, recent=True))} (last 5 s)")
        stats.add_row("batch processing", f"p99 {_fmt_s(m.quantile(m.BATCH, 0.99, recent=True))}")
        sources = m.by_label("socialpulse_recommended_items_total", "source")
        if sources:
            n = sum(sources.values())
            stats.add_row("item sources", ", ".join(f"{s} {100 * c / n:.0f}%" for s, c in sources.most_common(6)))
        if m.error:
            stats.add_row("metrics", f"[red]{m.error}[/]")

        where = Text(
            f"metrics: {self.url}/metrics    per user: {self.url}/users/<user_id>/recommendations"
            f"\nworker log: {self.log_path}    Ctrl-C stops everything"
        )
        bottom = Table.grid(expand=True, padding=(0, 1))
        bottom.add_column(ratio=1)
        bottom.add_column(ratio=1)
        bottom.add_row(trig, stats)
        return Group(Panel(head), recs, bottom, where)

    # --- stop ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop everything started, in dependency order; safe after a partial start."""
        self.stopped_at = self.stopped_at or time.monotonic()
        if self.traffic is not None:
            self.traffic.stop_event.set()
            self.traffic.join(timeout=40)
        if self.reader is not None:
            with contextlib.suppress(Exception):
                self.reader.poll(1.0)  # what arrived since the last refresh, for the summary
            if self.metrics.history or self.worker is not None:
                self.metrics.scrape()
            self.reader.close()
        if self.worker is not None and self.worker.poll() is None:
            t0 = time.monotonic()
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(_WORKER_STOP_TIMEOUT_S)
                how = f"SIGTERM, {time.monotonic() - t0:.1f} s"
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(10)
                how = f"SIGKILL after {_WORKER_STOP_TIMEOUT_S:.0f} s"
            self.console.print(f"stopped worker pid {self.worker.pid} ({how})")
        if self.kafka is not None:
            pids = list(self.kafka.pids)
            self.kafka.stop()
            for pid in pids:
                self.console.print(f"stopped kafka pid {pid}")
        shutil.rmtree(self.settings.data_dir, ignore_errors=True)

    def summary(self) -> Table:
        out = self.reader.out if self.reader else _Outputs()
        m = self.metrics
        elapsed = self.elapsed()
        consumed = m.total(_MetricsWatch.CONSUMED)
        table = Table(title="summary", title_justify="left")
        table.add_column("")
        table.add_column("value", justify="right")
        table.add_row("events produced", str(self.traffic.produced if self.traffic else 0))
        table.add_row("events processed", f"{consumed:.0f}")
        table.add_row("recommendations", str(out.recommendations))
        table.add_row("marketing triggers", str(out.triggers))
        table.add_row("dead letters", str(out.dead_letters))
        for q in (0.5, 0.99):
            steady = m.quantile(m.E2E, q, recent=False, since_caught_up=True)
            table.add_row(f"end-to-end p{q * 100:g}, steady traffic",
                          "n/a (the worker never caught up)" if steady is None else _fmt_s(steady))
        table.add_row("end-to-end p99, whole run (incl. start-up backlog)",
                      _fmt_s(m.quantile(m.E2E, 0.99, recent=False)))
        table.add_row("batch processing p99", _fmt_s(m.quantile(m.BATCH, 0.99, recent=False)))
        table.add_row("average throughput", _fmt_rate(consumed / elapsed if elapsed > 0 else None))
        table.add_row("watched for", f"{elapsed:.0f} s")
        return table


def _fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds == float("inf"):
        return "> 10 s"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _fmt_rate(per_s: float | None) -> str:
    return "n/a" if per_s is None else f"{per_s:,.0f} events/s"


def run_demo(base: Settings, opts: DemoOptions, console: Console | None = None) -> int:
    """Run the demo; returns the exit code (0 also after Ctrl-C / SIGTERM, 1 when something failed)."""
    console = console or Console(highlight=False, soft_wrap=True)
    demo = _Demo(base, opts, console)
    received: list[int] = []

    def interrupt(signum: int, frame: object) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    def note(signum: int, frame: object) -> None:
        received.append(signum)  # already stopping: finish that rather than leave processes behind

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        demo.start()
        demo.watch()
    except KeyboardInterrupt:
        name = signal.Signals(received[0]).name if received else "SIGINT"
        console.print(f"{name}: stopping")
    except DemoError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        code = 1
    finally:
        for s in previous:
            signal.signal(s, note)
        try:
            demo.stop()
            if demo.started_at is not None:
                console.print(demo.summary())
            console.print(f"worker log: {demo.log_path}")
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    return code


def demo_command(
    rate: float = typer.Option(200.0, help="Behaviour events per second (one worker on 2 cores keeps p99 "
                                           "under 50 ms up to about 280)."),
    events: int = typer.Option(20_000, help="Behaviour events to send, after the catalogue and follow graph."),
    users: int = typer.Option(500, help="Simulated users."),
    items: int = typer.Option(300, help="Simulated items."),
    seed: int = typer.Option(7, help="Simulator seed."),
    duration: float | None = typer.Option(
        None, help="Seconds to run once the worker is ready (default: until Ctrl-C; 60 when not on a terminal)."
    ),
) -> None:
    """Run the whole engine locally (Kafka, a worker, simulated traffic) and watch it live."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if duration is None and not interactive:
        duration = _NON_TTY_DURATION_S
    if rate <= 0 or events < 0 or users < 2 or items < 1:
        raise typer.BadParameter("need --rate > 0, --events >= 0, --users >= 2, --items >= 1")
    opts = DemoOptions(rate=rate, events=events, users=users, items=items, seed=seed, duration_s=duration,
                       live=interactive)
    raise typer.Exit(run_demo(Settings.from_env(), opts))
