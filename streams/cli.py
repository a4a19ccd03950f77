"""Command line for the Kafka edge: ``topics create|list``, ``produce`` and ``tail``.

Settings are read from the environment here, in the command functions, and nowhere below.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from .serde import AvroSerde, DecodeError, RecordJsonError, encode_json, record_from_json
from .settings import Settings, SettingsError
from .topics import TOPICS, TopicError, TopicSpec, create_topics, describe_topics, spec_for, topic_name

__all__ = ["produce_command", "tail_command", "topics_app"]

topics_app = typer.Typer(help="Create and inspect the catalogue's topics.", no_args_is_help=True)

_MAX_REPORTED = 20


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _spec(name: str) -> TopicSpec:
    try:
        return spec_for(name)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None


@topics_app.command("create")
def topics_create_command() -> None:
    """Create every catalogue topic that does not exist yet (idempotent)."""
    settings = _settings()
    try:
        result = create_topics(settings)
    except TopicError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for name, status in result.items():
        typer.echo(f"{name}\t{status}")


@topics_app.command("list")
def topics_list_command() -> None:
    """Show every catalogue topic: record type, key, partitions (actual/configured), cleanup, retention.

    A table on a terminal; tab-separated lines with a header when piped."""
    settings = _settings()
    header = ("topic", "record", "key", "partitions", "cleanup", "retention")
    rows = []
    for state in describe_topics(settings):
        spec = state.spec
        actual = "missing" if state.partitions is None else str(state.partitions)
        retention = "-" if spec.retention_ms is None else f"{spec.retention_ms / 86_400_000:g}d"
        rows.append(
            (state.name, spec.record_type.__name__, spec.key, f"{actual}/{state.expected_partitions}", spec.cleanup,
             retention)
        )
    if not sys.stdout.isatty():
        for row in (header, *rows):
            typer.echo("\t".join(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def _validate(path: Path, spec: TopicSpec) -> tuple[int, list[str]]:
    """(number of records, problems as 'line N: ...') for a JSON-lines file."""
    count = 0
    problems: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record_from_json(spec.record_type, json.loads(line))
                count += 1
            except json.JSONDecodeError as exc:
                problems.append(f"line {number}: invalid JSON: {exc.msg} at column {exc.colno}")
            except RecordJsonError as exc:
                problems.append(f"line {number}: {exc}")
    return count, problems


def produce_command(
    topic: Annotated[str, typer.Argument(help=f"Catalogue topic: {', '.join(TOPICS)}.")],
    file: Annotated[
        Path, typer.Option("--file", "-f", exists=True, dir_okay=False, help="JSON lines, one record each.")
    ],
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Send a JSON-lines file to a topic as Avro. Every line is checked first; one bad line sends nothing."""
    from tqdm import tqdm

    from .clients import DeliveryError, Sender, make_producer

    spec = _spec(topic)
    try:
        count, problems = _validate(file, spec)
    except UnicodeDecodeError as exc:
        typer.echo(f"error: {file} is not UTF-8 text: {exc}", err=True)
        raise typer.Exit(1) from None
    if problems:
        for problem in problems[:_MAX_REPORTED]:
            typer.echo(problem, err=True)
        if len(problems) > _MAX_REPORTED:
            typer.echo(f"... and {len(problems) - _MAX_REPORTED} more bad lines", err=True)
        typer.echo(f"error: {len(problems)} bad line(s) in {file}; nothing was sent", err=True)
        raise typer.Exit(1)

    settings = _settings()
    name = topic_name(spec, settings)
    sender = Sender(make_producer(settings), AvroSerde.from_settings(settings))
    with file.open(encoding="utf-8") as lines, tqdm(
        total=count, unit="rec", disable=not progress or None, file=sys.stderr, desc=name
    ) as bar:
        for line in lines:
            if line.strip():
                record = record_from_json(spec.record_type, json.loads(line))
                sender.send(name, spec.key_of(record), record)
                bar.update(1)
    try:
        delivered = sender.flush()
    except DeliveryError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"sent {delivered} records to {name}")


def _error_line(msg: Any, error: DecodeError) -> str:
    import base64

    return json.dumps(
        {
            "error": error.reason,
            "detail": error.detail,
            "topic": msg.topic(),
            "partition": msg.partition(),
            "offset": msg.offset(),
            "raw": base64.b64encode(error.raw).decode("ascii"),
        }
    )


def tail_command(
    topic: Annotated[str, typer.Argument(help=f"Catalogue topic: {', '.join(TOPICS)}.")],
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest record.")] = False,
    max_records: Annotated[int | None, typer.Option("--max", min=1, help="Stop after N records.")] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=0, help="Stop after S seconds without a new record.")
    ] = None,
) -> None:
    """Print a topic's records as JSON lines on stdout; undecodable ones go to stderr with an "error" field."""
    from .clients import consume_records, make_consumer

    spec = _spec(topic)
    settings = _settings()
    name = topic_name(spec, settings)
    consumer = make_consumer(
        settings,
        f"socialpulse-tail-{uuid.uuid4().hex[:12]}",
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    serde = AvroSerde.from_settings(settings)
    try:
        for msg, record in consume_records(
            consumer, [name], serde, expected=spec.record_type, idle_timeout_s=timeout, max_records=max_records
        ):
            if isinstance(record, DecodeError):
                print(_error_line(msg, record), file=sys.stderr, flush=True)
            else:
                print(encode_json(record), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
