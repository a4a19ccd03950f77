"""What Prometheus metrics cost the worker: the same simulated events, metrics on and off, one broker.

    .venv/bin/python tests/bench_metrics_cost.py [--events 20000] [--repeats 2] [--bootstrap HOST:PORT]

Each run gets fresh topics and a fresh consumer group, produces every event first, then starts a
worker (``SOCIALPULSE_METRICS_ENABLED`` true or false) and times it from ready (``GET /ready``) until
the group has committed the last offset of every input topic. Both modes are timed the same way
(committed offsets, polled every 0.1 s, committed every 1 s by the worker), and the worker's CPU
seconds over that span are read with psutil. With metrics on, ``/metrics`` is read once a second
like a scrape would. Runs alternate on/off so drift in the machine hits both. Not collected by pytest.

On a shared 2-core machine two runs of the same mode differ by about 10%, more than metrics can cost, so
``--profile`` adds one metrics-on run under cProfile and prints the share of the worker's busy time
(everything but waiting in epoll) spent in the metrics: every ``Metrics`` method, the live-quality
tracking that only feeds them, and serving ``/metrics``. cProfile inflates small calls the most, and
metrics calls are small, so that share is an upper bound.
"""

from __future__ import annotations

import argparse
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, str(Path(__file__).parent))

from harness import WorkerProcess, engine_settings, produce

from socialpulse.streams.settings import Settings
from socialpulse.streams.simulator import SimConfig, generate
from socialpulse.streams.topics import TOPICS, create_topics, topic_name

INPUTS = ("clicks", "purchases", "reviews", "social", "items")


@dataclass
class Result:
    metrics: bool
    events: int
    startup_s: float  # process start to ready
    processing_s: float  # ready to last input offset committed
    cpu_s: float  # worker user + system CPU over the processing span
    scraped_consumed: float | None  # sum of socialpulse_events_consumed_total at the end (metrics on)

    @property
    def rate(self) -> float:
        return self.events / self.processing_s


def _partitions(settings: Settings) -> list[TopicPartition]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "bench-meta"})
    try:
        tps = []
        for name in (topic_name(TOPICS[t], settings) for t in INPUTS):
            meta = consumer.list_topics(name, timeout=10).topics[name]
            tps += [TopicPartition(name, p) for p in meta.partitions]
        return tps
    finally:
        consumer.close()


def _ends(settings: Settings, tps: list[TopicPartition]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "bench-meta"})
    try:
        return {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in tps}
    finally:
        consumer.close()


def _scrape_consumed(url: str) -> float:
    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith("socialpulse_events_consumed_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run_once(bootstrap: str, records: list, metrics: bool, tmp: Path, timeout_s: float,
             python_args: Sequence[str] = ()) -> Result:
    settings = engine_settings(bootstrap, tmp / "data", partitions=2, metrics_enabled=metrics)
    create_topics(settings)
    n = produce(settings, records)
    tps = _partitions(settings)
    ends = _ends(settings, tps)
    assert sum(ends.values()) == n, (sum(ends.values()), n)
    group = Consumer({"bootstrap.servers": bootstrap, "group.id": settings.app_id, "enable.auto.commit": False})
    worker = WorkerProcess(settings, tmp / "worker.log", python_args).start()
    started = time.monotonic()
    try:
        worker.wait_ready(timeout_s=120)
        ready = time.monotonic()
        assert worker.proc is not None
        proc = psutil.Process(worker.proc.pid)
        cpu0 = sum(proc.cpu_times()[:2])
        deadline, next_scrape = ready + timeout_s, ready
        while True:
            committed = group.committed(tps, timeout=10)
            # An empty partition has nothing to commit (offset -1001).
            if all(tp.offset >= ends[(tp.topic, tp.partition)] or ends[(tp.topic, tp.partition)] == 0
                   for tp in committed):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"not drained after {timeout_s}s:\n{worker.tail()}")
            if metrics and time.monotonic() >= next_scrape:
                _scrape_consumed(worker.url)
                next_scrape += 1.0
            time.sleep(0.1)
        done = time.monotonic()
        cpu = sum(proc.cpu_times()[:2]) - cpu0
        scraped = _scrape_consumed(worker.url) if metrics else None
    finally:
        group.close()
        worker.stop()
    return Result(metrics, n, ready - started, done - ready, cpu, scraped)


# What the worker spends on metrics: the Metrics methods (each records one or a few samples), the
# live-quality tracking that only the metrics read, and rendering /metrics for a scrape.
METRICS_FILE = "streams/metrics.py"
METRICS_EXTRA = {("agents/app.py", "observe_quality"), ("agents/app.py", "publish_model_gauges")}


def metrics_share(profile: Path) -> tuple[float, float, list[tuple[str, float]]]:
    """(seconds in metrics, busy seconds, top metrics functions) from a worker's cProfile output."""
    stats = pstats.Stats(str(profile))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values())
    idle = sum(tt for (filename, _line, name), (_cc, _nc, tt, _ct, _c) in raw.items() if "poll" in name
               and filename == "~")
    spent: list[tuple[str, float]] = []
    for (filename, _line, name), (_cc, _nc, _tt, ct, callers) in raw.items():
        in_metrics = filename.endswith(METRICS_FILE) and not name.startswith(("_", "<"))
        extra = any(filename.endswith(f) and name == n for f, n in METRICS_EXTRA)
        # Count each metrics function only where code outside the metrics module called it (no double count).
        if (in_metrics or extra) and any(not c[0].endswith(METRICS_FILE) for c in callers):
            spent.append((f"{Path(filename).name}:{name}", ct))
    spent.sort(key=lambda x: -x[1])
    return sum(ct for _, ct in spent), total - idle, spent[:8]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2, help="runs per mode, alternating on/off")
    parser.add_argument("--bootstrap", default=os.environ.get("SOCIALPULSE_TEST_BOOTSTRAP"))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run to drain")
    parser.add_argument("--profile", action="store_true", help="one more metrics-on run under cProfile")
    args = parser.parse_args()

    records = list(generate(SimConfig(users=500, items=300, events=args.events, seed=11)))
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        from socialpulse.deploy.kafka import LocalKafka

        broker = LocalKafka(nodes=1).start()
        bootstrap = broker.bootstrap
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="socialpulse-bench-") as tmp:
            for i in range(args.repeats):
                for metrics in (True, False) if i % 2 == 0 else (False, True):
                    r = run_once(bootstrap, records, metrics, Path(tmp) / f"run{len(results)}", args.timeout)
                    results.append(r)
                    print(
                        f"metrics={'on ' if metrics else 'off'} events={r.events} startup={r.startup_s:.1f}s "
                        f"processing={r.processing_s:.2f}s ({r.rate:.0f} ev/s) worker_cpu={r.cpu_s:.2f}s"
                        + (f" scraped_consumed={r.scraped_consumed:.0f}" if r.scraped_consumed is not None else ""),
                        flush=True,
                    )
            if args.profile:
                out = Path(tmp) / "worker.prof"
                run_once(bootstrap, records, True, Path(tmp) / "profiled", args.timeout,
                         ["-m", "cProfile", "-o", str(out)])
                spent, busy, top = metrics_share(out)
                print(f"profiled (metrics on): {spent:.2f}s of {busy:.2f}s busy worker time in metrics "
                      f"= {100 * spent / busy:.2f}% (an upper bound)")
                for name, seconds in top:
                    print(f"  {name}: {seconds:.3f}s")
    finally:
        if broker is not None:
            broker.stop()

    def med(metrics: bool, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in results if r.metrics is metrics)

    on_t, off_t = med(True, "processing_s"), med(False, "processing_s")
    on_c, off_c = med(True, "cpu_s"), med(False, "cpu_s")
    print(f"median processing: on {on_t:.2f}s, off {off_t:.2f}s, on/off = {on_t / off_t:.3f}")
    print(f"median worker CPU: on {on_c:.2f}s, off {off_c:.2f}s, on/off = {on_c / off_c:.3f}")


if __name__ == "__main__":
    main()
