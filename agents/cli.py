"""The `socialpulse` command line: one Typer app; each layer contributes its own sub-commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="socialpulse",
    help="SocialPulse: real-time recommendations and marketing triggers from Kafka events.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.command("config")
def show_config() -> None:
    """Print every setting, its environment variable, default and meaning."""
    from rich.console import Console
    from rich.table import Table

    from socialpulse.streams.settings import Settings

    table = Table("environment variable", "default", "meaning")
    for row in Settings.documentation():
        table.add_row(*row)
    Console().print(table)


def _register() -> None:
    # Sub-apps are added here, one line each, so every layer owns its own commands.
    from .worker import worker_command

    app.command("worker")(worker_command)
    from socialpulse.deploy.cli import kafka_app, registry_app

    app.add_typer(kafka_app)
    app.add_typer(registry_app)
    from socialpulse.streams.cli import produce_command, tail_command, topics_app

    app.add_typer(topics_app, name="topics")
    app.command("produce")(produce_command)
    app.command("tail")(tail_command)
    from socialpulse.streams.evaluate import evaluate_command
    from socialpulse.streams.replay import replay_command
    from socialpulse.streams.simulator import simulate_command

    app.command("simulate")(simulate_command)
    app.command("replay")(replay_command)
    app.command("evaluate")(evaluate_command)
    from .bench import bench_command

    app.command("bench")(bench_command)
    from .demo import demo_command

    app.command("demo")(demo_command)


def main() -> None:
    _register()
    app()
