"""The worker's HTTP endpoints: recommendations by user, health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import faust
from faust.web import Request, Response, View

from socialpulse.streams.topics import TOPICS, topic_name

from .memory import report as memory_report


def _task_chain(task: asyncio.Task[Any]) -> str:
    lines = [repr(task)[:200]]
    obj: Any = task.get_coro()
    for _ in range(40):
        if obj is None:
            break
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None) or getattr(obj, "gi_frame", None)
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        obj = getattr(obj, "cr_await", None) or getattr(obj, "ag_await", None) or getattr(obj, "gi_yieldfrom", None)
    return "\n".join(lines)


async def _partition_states(app: faust.App, engine: Any) -> str:
    """Per assigned partition: whether Faust fetches it (active/paused), its fetch position, high
    watermark and the offset the guard expects next: what tells a stalled partition's cause."""
    consumer = app.consumer
    active = getattr(consumer, "_active_partitions", None) or set()
    paused = getattr(consumer, "_paused_partitions", None) or set()
    expected = getattr(engine.guard, "_expected", {}) if engine.guard is not None else {}
    lines = []
    for tp in sorted(consumer.assignment()):
        try:
            position: Any = await asyncio.wait_for(consumer.position(tp), 1.0)
        except Exception as exc:  # diagnostics: show why, never fail the page
            position = type(exc).__name__
        state = "active" if tp in active else "paused" if tp in paused else "inactive"
        lines.append(f"{tp.topic}[{tp.partition}] {state} position={position} high={consumer.highwater(tp)} "
                     f"expected={expected.get((tp.topic, tp.partition))}{_commit_state(consumer, tp)}")
    return "\n".join(lines)


def _commit_state(consumer: Any, tp: Any) -> str:
    """Faust's commit bookkeeping for one partition: its committed offset, the lowest acked offsets
    waiting to be committed and the gaps it counts as done. A commit that stops moving while the
    partition is drained shows here as an acked list that does not start at the committed offset."""
    committed = getattr(consumer, "_committed_offset", {}).get(tp)
    acked = sorted(getattr(consumer, "_acked", {}).get(tp) or [])
    gaps = sorted((i.begin, i.end) for i in getattr(consumer, "_gap", {}).get(tp) or [])
    return f" committed={committed} acked={len(acked)}:{acked[:6]} gaps={gaps[:4]}"


def register_views(app: faust.App, engine: Any) -> None:
    table = engine.latest_table

    @app.page("/users/{user_id}/recommendations")
    @app.table_route(table=table, match_info="user_id")
    async def user_recommendations(web: View, request: Request, user_id: str) -> Response:
        value = table.get(user_id)
        if value is None:
            return web.json({"user_id": user_id, "recommendation": None, "detail": "no recommendation yet"},
                            status=404)
        return web.json({"user_id": user_id, "recommendation": value})

    @app.page("/items/{item_id}")
    async def item(web: View, request: Request, item_id: str) -> Response:
        """This worker's view of the catalogue (every worker holds all of it)."""
        info = engine.catalogue.get(item_id)
        if info is None:
            return web.json({"item_id": item_id, "detail": "unknown item"}, status=404)
        return web.json({"item_id": item_id, "category": info.category, "in_stock": info.in_stock,
                         "price": info.price, "title": info.title, "seller_id": info.seller_id})

    @app.page("/debug/tasks")
    async def tasks(web: View, request: Request) -> Response:
        """Where every asyncio task is waiting, following awaits through coroutines and async generators."""
        now = time.time()
        agents = "\n".join(f"agent {name}: {what} for {now - since:.1f} s"
                           for name, (what, since) in sorted(engine.phases.items()))
        partitions = await _partition_states(app, engine)
        return web.text(agents + "\n\n" + partitions + "\n\n"
                        + "\n\n".join(_task_chain(t) for t in asyncio.all_tasks()))

    @app.page("/debug/memory")
    async def memory(web: View, request: Request) -> Response:
        """Memory by part: RocksDB's own figures, cached state, dedupe windows, catalogue (memory.py)."""
        return web.json(memory_report(engine))

    @app.page("/healthz")
    async def healthz(web: View, request: Request) -> Response:
        return web.json({"status": "ok"})

    @app.page("/ready")
    async def ready(web: View, request: Request) -> Response:
        reader = engine.catalogue_reader
        ok = reader is not None and reader.caught_up.is_set() and not app.rebalancing \
            and bool(app.consumer.assignment())
        body = {"ready": ok, "catalogue_items": len(engine.catalogue),
                "assigned": sorted(f"{tp.topic}[{tp.partition}]" for tp in app.consumer.assignment()
                                   if tp.topic == topic_name(TOPICS["clicks"], engine.settings))}
        return web.json(body, status=200 if ok else 503)

    @app.page("/metrics")
    async def metrics(web: View, request: Request) -> Response:
        body, content_type = engine.metrics.exposition()
        return web.bytes(body, content_type=content_type.split(";")[0])
