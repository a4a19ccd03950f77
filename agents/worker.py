"""`socialpulse worker`: runs one worker process until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

import typer

from socialpulse.streams.settings import Settings, SettingsError

log = logging.getLogger(__name__)

CLEAN_MARKER = "clean-shutdown"


def drop_tables_after_crash(data_dir: Path, tabledir: Path) -> bool:
    """Delete local table files unless the last run stopped cleanly; True when it deleted them.

    Local RocksDB writes happen before their changelog records are delivered, so after a crash the
    local files can hold updates the changelog never got. Recovering from the changelog alone keeps
    every replica, and the replay that follows, consistent with what is durable.
    """
    marker = data_dir / CLEAN_MARKER
    dropped = False
    if tabledir.exists() and not marker.exists():
        log.warning("last run did not stop cleanly: recovering tables from their changelogs")
        shutil.rmtree(tabledir)
        dropped = True
    marker.unlink(missing_ok=True)
    return dropped


def run_worker(settings: Settings) -> None:
    """Build the app from settings and block in the Faust worker until it is stopped."""
    import faust

    from .app import create_app

    # The pickle codec is used only for our own table changelogs, which only this app writes.
    warnings.filterwarnings("ignore", message="The pickle codec calls pickle.loads")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from .worker_topics import ensure_worker_topics

    ensure_worker_topics(settings)  # before Faust subscribes, or it may not read them for minutes
    app = create_app(settings)
    drop_tables_after_crash(settings.data_dir, Path(app.conf.tabledir))
    from socialpulse.streams.logging_setup import configure_logging

    handler = configure_logging(settings)  # plain or JSON lines (SOCIALPULSE_LOG_JSON), one handler for all
    if not settings.web_port:  # say where /metrics and the queries are
        log.info("web server on port %d (SOCIALPULSE_WEB_PORT=0: a free port)", app.conf.web_port)
    app.conf.loghandlers = [handler]
    _tune_gc(app, settings)  # after logging is set up, so the freeze's log line is not lost
    # Without a logging_config, mode adds its own console handler beside ours: every line twice.
    only_ours = {"version": 1, "disable_existing_loggers": False,
                 "root": {"level": settings.log_level.upper(), "handlers": []}}
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True, redirect_stdouts=False,
                          logging_config=only_ours)
    # Faust keeps a terminal spinner even when quiet, and for a level of WARNING or above it "feeds" it by
    # setting the root logger to DEBUG: every aiokafka and Faust debug line then reached our handler
    # (gigabytes per benchmark run, a large share of the worker's CPU). No spinner, no DEBUG root.
    worker.spinner = None
    logging.getLogger("socialpulse").setLevel(settings.log_level.upper())
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code in (0, None):
            (settings.data_dir / CLEAN_MARKER).write_text("stopped cleanly\n")
        raise
    finally:
        # Every acked batch's records are delivered already; this ends librdkafka's threads cleanly.
        app.socialpulse.sink.close()  # type: ignore[attr-defined]


def _tune_gc(app: Any, settings: Settings) -> None:
    """Rarer full collections, timed pauses, and start-up's objects frozen (see gc_policy.py)."""
    from . import gc_policy

    engine = app.socialpulse
    gc_policy.apply(settings.gc_thresholds, engine.metrics)
    if not settings.gc_freeze:
        return
    gc_policy.freeze("start-up")
    reader = engine.catalogue_reader

    @app.task
    async def _freeze_catalogue() -> None:
        if reader is not None:
            await reader.caught_up.wait()
            gc_policy.freeze("loading the catalogue")


def worker_command(
    web_port: int = typer.Option(None, help="Override SOCIALPULSE_WEB_PORT."),
    data_dir: str = typer.Option(None, help="Override SOCIALPULSE_DATA_DIR."),
) -> None:
    """Run a stream-processing worker (scale out: more partitions, more worker processes)."""
    from .app import model_config

    try:
        settings = Settings.from_env()
        model_config(settings)  # model settings are checked here, not deep inside the app's start
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    overrides: dict[str, object] = {}
    if web_port is not None:
        overrides["web_port"] = web_port
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if overrides:
        settings = settings.model_copy(update=overrides)
    run_worker(settings)


if __name__ == "__main__":
    run_worker(Settings.from_env())
