"""`socialpulse worker`: runs one worker process until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

import typer

from socialpulse.streams.settings import Settings


def run_worker(settings: Settings) -> None:
    """Build the app from settings and block in the Faust worker until it is stopped."""
    import faust

    from .app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True, redirect_stdouts=False)
    logging.getLogger("socialpulse").setLevel(settings.log_level.upper())
    worker.execute_from_commandline()


def worker_command(
    web_port: int = typer.Option(None, help="Override SOCIALPULSE_WEB_PORT."),
    data_dir: str = typer.Option(None, help="Override SOCIALPULSE_DATA_DIR."),
) -> None:
    """Run a stream-processing worker (scale out: more partitions, more worker processes)."""
    settings = Settings.from_env()
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
