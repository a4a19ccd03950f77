"""``socialpulse kafka ...`` and ``socialpulse registry ...``: local Kafka and schema registry.

``start`` detaches by default: the JVMs keep running after the command returns and their PIDs go
to a state file in the cache (``<cache>/kafka-state.json``), which ``stop`` and ``status`` read.
Also runnable as ``python -m socialpulse.deploy.cli kafka start``.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from socialpulse.deploy.kafka import (
    default_state_file,
    is_java_process,
    pid_alive,
    read_state,
    stop_pids,
)

__all__ = ["kafka_app", "registry_app"]

kafka_app = typer.Typer(name="kafka", help="Local KRaft Kafka from Maven Central jars.", no_args_is_help=True)
registry_app = typer.Typer(
    name="registry", help="Local Apicurio schema registry (Confluent-compatible API).", no_args_is_help=True
)

# What each kind's JVM command line contains: a recorded PID that lacks it was reused by another process.
_NEEDLE = {"kafka": "kafka.Kafka", "registry": "quarkus-run.jar"}


def _recorded_pids(state: Mapping[str, Any]) -> list[int]:
    return [int(p) for p in state.get("pids", [])]


def _running_pids(state: Mapping[str, Any], kind: str) -> list[int]:
    return [p for p in _recorded_pids(state) if pid_alive(p) and is_java_process(p, _NEEDLE[kind])]


def _refuse_if_running(kind: str) -> None:
    state = read_state(default_state_file(kind))
    if state and _running_pids(state, kind):
        where = state.get("bootstrap") or state.get("url")
        typer.echo(f"{kind} already running at {where} (pids {state['pids']}); "
                   f"run `socialpulse {kind} stop` first.", err=True)
        raise typer.Exit(1)


def _stop(kind: str) -> None:
    path = default_state_file(kind)
    state = read_state(path)
    if state is None:
        typer.echo(f"no {kind} recorded in {path}; nothing to stop")
        return
    pids = _running_pids(state, kind)
    stop_pids(pids)
    if state.get("remove_data_dir") and state.get("data_dir"):
        shutil.rmtree(str(state["data_dir"]), ignore_errors=True)
    path.unlink(missing_ok=True)
    typer.echo(f"stopped {kind} (pids {pids})" if pids else f"{kind} was not running; cleared {path}")


def _status(kind: str) -> None:
    path = default_state_file(kind)
    state = read_state(path)
    if state is None:
        typer.echo(f"{kind}: not running (no state in {path})")
        raise typer.Exit(1)
    pids = _recorded_pids(state)
    alive = _running_pids(state, kind)
    where = state.get("bootstrap") or state.get("url")
    typer.echo(f"{kind}: {len(alive)}/{len(pids)} processes alive at {where}")
    for pid in pids:
        typer.echo(f"  pid {pid}: {'running' if pid in alive else 'gone'}")
    typer.echo(f"  data: {state.get('data_dir')}")
    if not alive:
        raise typer.Exit(1)


def _wait_foreground(pids: list[int], stop: Any) -> None:
    """Block until Ctrl-C / SIGTERM or until a process dies, then stop everything."""

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _interrupt)
    typer.echo("running in the foreground; Ctrl-C stops it")
    try:
        while all(pid_alive(p) for p in pids):
            time.sleep(0.5)
        typer.echo("a process exited on its own; stopping the rest", err=True)
        code = 1
    except KeyboardInterrupt:
        code = 0
    stop()
    raise typer.Exit(code)


@kafka_app.command("start")
def kafka_start(
    nodes: int = typer.Option(1, "--nodes", help="1 (broker+controller) or 3 (KRaft quorum, RF 3)."),
    foreground: bool = typer.Option(False, "--foreground", help="Stay attached; Ctrl-C stops Kafka."),
    data_dir: Path = typer.Option(None, "--data-dir", help="Keep data and logs here (default: a temp dir)."),
) -> None:
    """Start a local Kafka on 127.0.0.1 (free ports) and print its bootstrap address."""
    from socialpulse.deploy.kafka import KafkaStartError, LocalKafka

    if nodes not in (1, 3):
        raise typer.BadParameter("--nodes must be 1 or 3")
    _refuse_if_running("kafka")
    kafka = LocalKafka(nodes=nodes, data_dir=data_dir, state_file=default_state_file("kafka"))
    try:
        kafka.start()
    except KafkaStartError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(kafka.bootstrap)
    typer.echo(f"ready in {kafka.ready_seconds:.1f} s; pids {kafka.pids}; logs {kafka.data_dir}", err=True)
    if foreground:
        _wait_foreground(kafka.pids, kafka.stop)


@kafka_app.command("stop")
def kafka_stop() -> None:
    """Stop the Kafka that `start` recorded (SIGTERM, SIGKILL after 30 s)."""
    _stop("kafka")


@kafka_app.command("status")
def kafka_status() -> None:
    """Show the recorded Kafka and whether its processes are alive (exit 1 when not running)."""
    _status("kafka")


@registry_app.command("start")
def registry_start(
    foreground: bool = typer.Option(False, "--foreground", help="Stay attached; Ctrl-C stops the registry."),
) -> None:
    """Start Apicurio Registry (in-memory) on 127.0.0.1 and print its Confluent-compatible URL."""
    from socialpulse.deploy.registry import LocalRegistry, RegistryStartError

    _refuse_if_running("registry")
    registry = LocalRegistry(state_file=default_state_file("registry"))
    try:
        registry.start()
    except RegistryStartError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    typer.echo(registry.url)
    typer.echo(f"ready in {registry.ready_seconds:.1f} s; pid {registry.pid}; log {registry.log}", err=True)
    if foreground:
        _wait_foreground([registry.pid] if registry.pid else [], registry.stop)


@registry_app.command("stop")
def registry_stop() -> None:
    """Stop the registry that `start` recorded."""
    _stop("registry")


@registry_app.command("status")
def registry_status() -> None:
    """Show the recorded registry and whether it is alive (exit 1 when not running)."""
    _status("registry")


def main() -> None:
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)
    app.add_typer(kafka_app)
    app.add_typer(registry_app)
    app()


if __name__ == "__main__":
    main()
