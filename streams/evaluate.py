"""``socialpulse evaluate``: read input events and the engine's recommendations, score them prequentially.

Consumes the input topics and the recommendations topic (a fresh consumer group, from the
earliest offset, until the topics are idle for ``--timeout`` seconds), or JSON-lines files,
orders everything by event time (:func:`socialpulse.models.evaluation.interleave`) and runs
:class:`~socialpulse.models.evaluation.PrequentialEvaluator` with the baselines. Writes
``reports/evaluate.json`` and ``reports/evaluate_hr_over_time.png`` and prints a table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import typer

from socialpulse.models.evaluation import PrequentialEvaluator, interleave
from socialpulse.schemas.records import Click, Record, Review

from . import reports
from .settings import Settings
from .topics import spec_for

__all__ = ["consume_topics", "evaluate_records", "run_evaluation", "write_report"]


def consume_topics(settings: Settings, topics: Sequence[str], idle_timeout_s: float) -> tuple[list[Record], int]:
    """Every record on ``topics`` (catalogue names or prefixed broker names); returns (records, undecodable)."""
    from .clients import consume_records, make_consumer
    from .serde import AvroSerde, DecodeError

    names = [
        t if t.startswith(settings.topic_prefix) and settings.topic_prefix else settings.topic_prefix + t
        for t in topics
    ]
    expected = {name: spec_for(name, settings).record_type for name in names}
    consumer = make_consumer(settings, f"socialpulse-evaluate-{uuid.uuid4().hex[:8]}")
    records: list[Record] = []
    bad = 0
    try:
        for _msg, record in consume_records(
            consumer, names, AvroSerde.from_settings(settings), expected=expected, idle_timeout_s=idle_timeout_s
        ):
            if isinstance(record, DecodeError):
                bad += 1
            else:
                records.append(record)
    finally:
        consumer.close()
    return records, bad


def evaluate_records(
    events: Iterable[Record],
    recommendations: Iterable[Record],
    k: int = 10,
    horizon: int = 1,
    exclude_seen: bool = False,
    reviews_as_interactions: bool = False,
) -> PrequentialEvaluator:
    """Run the prequential evaluation over both streams merged by event time.

    ``reviews_as_interactions``: a Review counts as an interaction with its item (as a view would),
    for datasets whose only behaviour is ratings (e.g. Epinions); otherwise reviews are ignored."""
    evaluator = PrequentialEvaluator(k=k, horizon=horizon, exclude_seen=exclude_seen)
    for record in interleave(events, recommendations):
        if reviews_as_interactions and isinstance(record, Review):
            record = Click(record.review_id, record.user_id, record.item_id, "", "view", record.timestamp)
        evaluator.observe(record)
    evaluator.finish()
    return evaluator


def run_evaluation(
    events: Sequence[Record],
    recommendations: Sequence[Record],
    out_dir: Path,
    k: int = 10,
    horizon: int = 1,
    exclude_seen: bool = False,
    reviews_as_interactions: bool = False,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``socialpulse evaluate`` does with records already in memory: evaluate, write the report,
    print the table. Returns the report's JSON data."""
    evaluator = evaluate_records(events, recommendations, k, horizon, exclude_seen, reviews_as_interactions)
    info = {"events": len(events), "recommendations": len(recommendations), **(extra or {})}
    return write_report(evaluator, out_dir, info)


def write_report(evaluator: PrequentialEvaluator, out_dir: Path, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """evaluate.json + HR-over-time plot in ``out_dir``; prints the table. Returns the JSON data."""
    k = evaluator.k
    rows = evaluator.report()
    data = {
        "k": k,
        "horizon": evaluator.horizon,
        "catalogue": len(evaluator.catalogue),
        "interactions": evaluator.total,
        "results": rows,
        "hr_over_time": evaluator.hr_over_time(),
        **(extra or {}),
    }
    reports.write_json(data, out_dir / "evaluate.json")
    reports.plot_series(
        data["hr_over_time"], out_dir / "evaluate_hr_over_time.png", title=f"HR@{k} over time", ylabel=f"HR@{k}"
    )
    reports.print_table(
        f"Prequential evaluation (K={k}, next {evaluator.horizon} interaction(s))",
        ["recommender", "lists", f"HR@{k}", f"NDCG@{k}", "MRR", "coverage", "novelty"],
        [
            [name, int(m["lists"]), m["hr"], m["ndcg"], m["mrr"], m["coverage"], m["novelty"]]
            for name, m in rows.items()
        ],
    )
    return data


def evaluate_command(
    events_topic: list[str] = typer.Option(["items", "clicks", "purchases"], help="Input topics (repeatable)."),
    recommendations_topic: str = typer.Option("recommendations", help="Topic of the engine's lists."),
    timeout: float = typer.Option(10.0, help="Stop consuming after this many idle seconds."),
    k: int = typer.Option(10, help="List cut-off K."),
    horizon: int = typer.Option(1, help="Score each list against the user's next N interactions."),
    exclude_seen: bool = typer.Option(False, help="Only items new to the user count as targets."),
    reviews_as_interactions: bool = typer.Option(
        False, help="Count reviews as interactions (for rating-only data such as epinions; add --events-topic reviews)."
    ),
    events_file: Path | None = typer.Option(None, help="Read events from JSON lines (simulate/replay --out)."),
    recommendations_file: Path | None = typer.Option(None, help="Read recommendations from JSON lines."),
    out_dir: Path = typer.Option(reports.REPORTS_DIR, help="Where evaluate.json and the plots go."),
) -> None:
    """Score the engine's recommendations and the baselines against what users did next."""
    from .simulator import read_jsonl

    extra: dict[str, Any] = {}
    if events_file is None or recommendations_file is None:
        settings = Settings.from_env()
        topics = ([] if events_file else list(events_topic)) + ([] if recommendations_file else [recommendations_topic])
        consumed, bad = consume_topics(settings, topics, timeout)
        extra["undecodable"] = bad
    else:
        consumed = []
    events = (
        list(read_jsonl(events_file)) if events_file else [r for r in consumed if type(r).__name__ != "Recommendation"]
    )
    recs = (
        list(read_jsonl(recommendations_file))
        if recommendations_file
        else [r for r in consumed if type(r).__name__ == "Recommendation"]
    )
    if not recs:
        typer.echo("warning: no recommendations found; only baselines are scored", err=True)
    run_evaluation(events, recs, out_dir, k, horizon, exclude_seen, reviews_as_interactions, extra)
    typer.echo(f"wrote {out_dir / 'evaluate.json'}")
