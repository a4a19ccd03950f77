"""Where the engine's CPU goes per event, without Kafka: simulator events through ``agents/pipeline.py``.

    .venv/bin/python tests/profile_pipeline.py [--events 20000] [--profile 30] [--digest]

Events are routed like the worker routes them (``partitions`` user partitions, one store each; fan-out
messages go to the key's partition, price drops to every partition) and handled in order, one event at a
time. Stores sit behind a ``PartitionStore`` over a dict "table" that pickles each flushed value twice, as
a RocksDB table with a pickle changelog does, flushed every ``--batch`` events per partition.

Prints the time per event spent learning, recommending, in marketing and flushing state; ``--profile N``
adds the top N functions of a cProfile run; ``--digest`` prints a hash of every output (ids, items, scores,
triggers, conversions, fan-out) and of the final state, so a speed change can prove it changed nothing.
Not collected by pytest.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import hashlib
import pickle
import pstats
import sys
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from socialpulse.agents import partition_store, pipeline
from socialpulse.agents.app import model_config
from socialpulse.models import marketing
from socialpulse.schemas import Click, Item, Purchase, Review, Social
from socialpulse.streams.settings import Settings
from socialpulse.streams.simulator import SimConfig, generate

NOW_MS = 1_800_000_000_000  # wall clock stand-in: only stamps Recommendation.timestamp
CPU_SECONDS = 0.0  # process CPU time of the last run (less noisy than wall time on a shared machine)


class PickleTable(dict):
    """A table whose writes cost what a RocksDB table with a pickle changelog costs: two pickles."""

    writes: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # key prefix -> [writes, pickled bytes]

    def __setitem__(self, key: str, value: Any) -> None:
        pickle.dumps(value)  # the changelog record
        raw = pickle.dumps(value)  # the local store
        stat = self.writes[key[key.index("|") + 1:].rsplit(":", 1)[0]]
        stat[0] += 1
        stat[1] += len(raw)
        super().__setitem__(key, raw)

    def get(self, key: str, default: Any = None) -> Any:
        raw = super().get(key)
        return default if raw is None else pickle.loads(raw)


class _Event:
    """Stands in for a Faust event: ``in_event`` only needs something it can weak-reference."""


class _Timers:
    """Wall time per phase, summed; phases nest (recommend inside a handler), so each is its own bucket."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - t
                self.calls[phase] += 1

        return timed


def _instrument(timers: _Timers) -> None:
    pipeline.learn = timers.wrap("learn", pipeline.learn)
    pipeline.recommend = timers.wrap("recommend", pipeline.recommend)
    for name in ("on_cart", "on_cart_removed", "on_interest", "on_social_proof", "tick", "on_purchase", "on_review",
                 "on_price_change"):
        setattr(pipeline.marketing, name, timers.wrap("marketing", getattr(marketing, name)))


def _partition(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode()) % partitions


def run(events: int, users: int, items: int, partitions: int, batch: int, seed: int,
        digest: hashlib._Hash | None, timers: _Timers | None) -> tuple[int, int, float, dict[str, float]]:
    """Feed the simulation through the pipeline; returns (behaviour events, recommendations, seconds, phases)."""
    cfg = model_config(Settings())
    records = list(generate(SimConfig(users=users, items=items, events=events, seed=seed)))
    tables = [PickleTable() for _ in range(partitions)]
    stores = [partition_store.PartitionStore(t, p) for p, t in enumerate(tables)]
    for s in stores:
        s.event = _Event()
    catalogue: dict = {}
    prices: dict[str, int] = {}
    offsets: dict[tuple[str, int], int] = defaultdict(int)
    pending: dict[int, int] = defaultdict(int)
    handlers: dict[type, tuple[str, Callable[..., pipeline.Outputs]]] = {
        Click: ("clicks", pipeline.on_click), Purchase: ("purchases", pipeline.on_purchase),
                Review: ("reviews", pipeline.on_review), Social: ("social", pipeline.on_social)}
    keys = {Click: "user_id", Purchase: "user_id", Review: "user_id", Social: "actor_id"}
    n_events = n_recs = 0
    flush_s = 0.0

    def next_offset(topic: str, p: int) -> int:
        o = offsets[(topic, p)]
        offsets[(topic, p)] = o + 1
        return o

    def emit(out: pipeline.Outputs) -> None:
        if digest is None:
            return
        for r in out.recommendations:
            digest.update(repr((r.recommendation_id, r.user_id, r.event_timestamp,
                                [(i.item_id, i.score, i.source, i.explanation) for i in r.items])).encode())
        for t in out.triggers:
            digest.update(repr((t.trigger_id, t.campaign, t.reason, t.holdout, t.timestamp,
                                sorted(t.payload.items()))).encode())
        for c in out.conversions:
            digest.update(repr(c).encode())
        digest.update(repr(out.suppressed).encode())
        for f in out.fanout:
            digest.update(repr((f.topic, f.key, sorted(f.value.items()))).encode())

    def fan(origin: int, out: pipeline.Outputs) -> None:
        queue = deque((origin, f) for f in out.fanout)
        while queue:
            src, f = queue.popleft()
            p = _partition(f.key, partitions)
            value = f.value | {"origin": src}
            next_offset(f.topic, p)
            if f.topic == "social-edges":
                pipeline.on_social_edge(stores[p], f.key, value, src, cfg)
            else:
                pipeline.on_social_signal(stores[p], f.key, value, src, cfg)
            touch(p)

    def touch(p: int) -> None:
        nonlocal flush_s
        pending[p] += 1
        if pending[p] >= batch:
            t = time.perf_counter()
            stores[p].flush()
            flush_s += time.perf_counter() - t
            pending[p] = 0

    started = time.perf_counter()
    cpu_started = time.process_time()
    for record in records:
        if isinstance(record, Item):
            catalogue[record.item_id] = pipeline.item_info(record)
            old = prices.get(record.item_id)
            prices[record.item_id] = record.price
            if old is not None and record.price < old:
                origin = _partition(record.item_id, partitions)
                off = next_offset("items", origin)
                for p in range(partitions):
                    value = {"item": record.item_id, "old": old, "new": record.price, "ts": record.timestamp,
                             "event_id": record.event_id, "origin": origin, "offset": off}
                    emit(pipeline.on_price_drop(stores[p], value, cfg))
                    touch(p)
            continue
        topic, handler = handlers[type(record)]
        p = _partition(getattr(record, keys[type(record)]), partitions)
        out = handler(stores[p], catalogue, record, next_offset(topic, p), NOW_MS, cfg)
        n_events += 1
        n_recs += len(out.recommendations)
        emit(out)
        touch(p)
        fan(p, out)
    t = time.perf_counter()
    for s in stores:
        s.flush()
    flush_s += time.perf_counter() - t
    seconds = time.perf_counter() - started
    global CPU_SECONDS
    CPU_SECONDS = time.process_time() - cpu_started
    if digest is not None:
        for p, table in enumerate(tables):
            for k in sorted(table):
                digest.update(f"{p}|{k}".encode())
                digest.update(repr(table.get(k)).encode())
    phases = dict(timers.seconds) if timers else {}
    phases["flush"] = flush_s
    return n_events, n_recs, seconds, phases


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--items", type=int, default=1_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--batch", type=int, default=500, help="events per partition between state flushes")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the top N functions (cProfile)")
    ap.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    ap.add_argument("--digest", action="store_true", help="hash every output and the final state")
    args = ap.parse_args(argv)
    common = (args.events, args.users, args.items, args.partitions, args.batch, args.seed)

    if args.digest:
        h = hashlib.sha256()
        n, recs, seconds, _ = run(*common, h, None)
        print(f"digest {h.hexdigest()}  ({n} events, {recs} recommendations, {seconds:.1f} s)")
        return
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run(*common, None, None)
        prof.disable()
        pstats.Stats(prof, stream=sys.stdout).sort_stats(args.sort).print_stats(args.profile)
        return
    timers = _Timers()
    _instrument(timers)
    n, recs, seconds, phases = run(*common, None, timers)
    print(f"{n} behaviour events, {recs} recommendations, {seconds:.2f} s: {n / seconds:,.0f} events/s "
          f"({1e6 * seconds / n:.0f} us/event; CPU {CPU_SECONDS:.2f} s, {1e6 * CPU_SECONDS / n:.0f} us/event)")
    other = seconds - sum(phases.values())
    for phase, s in [*sorted(phases.items(), key=lambda kv: -kv[1]), ("other (routing, records)", other)]:
        calls = timers.calls.get(phase)
        per_call = f", {1e6 * s / calls:.0f} us/call x {calls}" if calls else ""
        print(f"  {phase:<26} {1e6 * s / n:7.0f} us/event  {100 * s / seconds:5.1f}%{per_call}")
    writes = sorted(PickleTable.writes.items(), key=lambda kv: -kv[1][0])
    total = sum(w for w, _ in PickleTable.writes.values())
    print(f"state writes (changelog records): {total / n:.2f} per event; by key prefix, per event and bytes each:")
    for prefix, (w, b) in writes:
        print(f"  {prefix:<12} {w / n:6.3f}  {b / w:8.0f} B")


if __name__ == "__main__":
    main()
