"""`socialpulse bench --runs`: names checked up front, and the capacity run's bisection over offered load."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import typer

from socialpulse.agents.bench import capacity_search, parse_runs


def _knee(at: float) -> tuple[list[float], Callable[[float], float]]:
    """A worker whose p99 is 20 ms below ``at`` events/s and queueing (seconds) above it."""
    asked: list[float] = []

    def p99_at(rate: float) -> float:
        asked.append(rate)
        return 20.0 if rate < at else 5_000.0

    return asked, p99_at


@pytest.mark.parametrize("knee", [130.0, 700.0, 1_900.0])
def test_finds_the_knee_to_the_promised_precision(knee: float) -> None:
    asked, p99_at = _knee(knee)
    best, tried = capacity_search(p99_at, 100.0, 2_000.0, 50.0, probes=5)
    assert best is not None and best < knee  # only a rate that was seen passing is reported
    assert knee / best <= (2_000.0 / 100.0) ** (1 / 2**5) + 1e-9
    assert [r for r, _ in tried] == asked and len(asked) == 2 + 5
    assert all((p < 50.0) == (r < knee) for r, p in tried)


def test_stops_early_at_either_end() -> None:
    asked, p99_at = _knee(math.inf)
    assert capacity_search(p99_at, 100.0, 2_000.0, 50.0, probes=5)[0] == 2_000.0
    assert asked == [2_000.0]
    asked, p99_at = _knee(50.0)
    best, tried = capacity_search(p99_at, 100.0, 2_000.0, 50.0, probes=5)
    assert best is None and [r for r, _ in tried] == [2_000.0, 100.0]


def test_runs_are_checked_before_anything_starts() -> None:
    assert parse_runs("raw, capacity") == ("raw", "capacity")
    with pytest.raises(typer.BadParameter, match=r"capcity.*known: raw"):
        parse_runs("raw,capcity")
    with pytest.raises(typer.BadParameter, match="none given"):
        parse_runs(" , ")
