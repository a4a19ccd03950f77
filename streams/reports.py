"""Report files for evaluation and benchmarks: JSON, PNG plots (matplotlib, Agg) and a rich table.

Everything goes under ``reports/`` (git-ignored) by default; each function takes its path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["REPORTS_DIR", "plot_latency", "plot_series", "plot_throughput", "print_table", "write_json"]

REPORTS_DIR = Path("reports")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def write_json(data: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def plot_latency(latencies_ms: Sequence[float], path: str | Path, title: str = "End-to-end latency") -> Path:
    """Histogram of latencies with p50 / p95 / p99 marked."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    values = np.asarray(latencies_ms, dtype=float)
    if values.size:
        ax.hist(values, bins=min(60, max(10, values.size // 20)), color="#4c72b0")
        for q, style in ((50, "-"), (95, "--"), (99, ":")):
            v = float(np.percentile(values, q))
            ax.axvline(v, color="#c44e52", linestyle=style, label=f"p{q} {v:.1f} ms")
        ax.legend()
    ax.set(title=title, xlabel="latency (ms)", ylabel="events")
    return _save(fig, Path(path))


def plot_throughput(
    timestamps_s: Sequence[float], path: str | Path, bucket_s: float = 1.0, title: str = "Throughput"
) -> Path:
    """Events per second over time from the (wall-clock) times events were processed."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    values = np.asarray(timestamps_s, dtype=float)
    if values.size:
        start = values.min()
        counts = np.bincount(((values - start) // bucket_s).astype(int))
        ax.plot(np.arange(len(counts)) * bucket_s, counts / bucket_s, color="#55a868")
    ax.set(title=title, xlabel="seconds since start", ylabel="events / s")
    return _save(fig, Path(path))


def plot_series(
    series: Mapping[str, Sequence[tuple[float, float]]],
    path: str | Path,
    title: str = "HR@10 over time",
    xlabel: str = "event time",
    ylabel: str = "HR@10",
    time_ms: bool = True,
) -> Path:
    """One line per name (e.g. engine, each source, each baseline); x in epoch ms when ``time_ms``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, points in series.items():
        if not points:
            continue
        xs = [p[0] for p in points]
        if time_ms:
            from datetime import UTC, datetime

            import matplotlib.dates as mdates

            xs = [datetime.fromtimestamp(x / 1000, UTC) for x in xs]  # type: ignore[misc]
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(mdates.AutoDateLocator()))
        style = "-" if not name.startswith("engine/") else "--"
        ax.plot(xs, [p[1] for p in points], style, label=name, linewidth=2 if name == "engine" else 1)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if series:
        ax.legend(fontsize="small", ncol=2)
    return _save(fig, Path(path))


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], console: Any = None, digits: int = 4
) -> None:
    """A rich table; floats rounded to ``digits``."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for k, column in enumerate(columns):
        table.add_column(column, justify="left" if k == 0 else "right")
    for row in rows:
        table.add_row(*(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row))
    (console or Console()).print(table)
