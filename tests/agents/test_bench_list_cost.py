"""`socialpulse bench`: a worker's time split into a cost per event and a cost per list, from two runs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from socialpulse.agents.bench import NO_LISTS, ONE_WORKER, ListCost, RunResult


def _run(name: str, per_event_us: float, per_list_us: float, lists_per_event: float) -> RunResult:
    seconds_per_event = (per_event_us + per_list_us * lists_per_event) / 1e6
    return RunResult(name, 40_000, 0.0, 1.0 / seconds_per_event, extra={"lists_per_event": lists_per_event})


def test_recovers_both_costs_from_two_runs() -> None:
    cost = ListCost.of(_run(ONE_WORKER, 180, 650, 0.60), _run(NO_LISTS, 180, 650, 0.0))
    assert cost is not None
    assert cost.per_event_s == pytest.approx(180e-6)
    assert cost.per_list_s == pytest.approx(650e-6)
    assert cost.rate(0.0) == pytest.approx(1e6 / 180)
    assert cost.rate(0.60) == pytest.approx(1e6 / (180 + 650 * 0.6))


@pytest.mark.parametrize("counted", [True, False])
def test_no_split_when_the_runs_do_not_differ_in_lists(counted: bool) -> None:
    fewer = _run(NO_LISTS, 180, 650, 0.58)
    if not counted:
        fewer.extra.clear()  # a run that did not count its lists
    assert ListCost.of(_run(ONE_WORKER, 180, 650, 0.60), fewer) is None


def test_report_prints_and_keeps_the_split(tmp_path: Path) -> None:
    from rich.console import Console

    from socialpulse.agents.bench import BenchConfig, _report
    from socialpulse.streams import reports

    results = [RunResult("faust forward (one send per event)", 40_000, 0.0, 5_000.0),
               _run(ONE_WORKER, 180, 650, 0.60), _run(NO_LISTS, 180, 650, 0.0)]
    text = io.StringIO()
    console = Console(file=text, width=200)
    _report(BenchConfig(out_dir=tmp_path), results, console, reports)
    saved = json.loads((tmp_path / "bench.json").read_text())["list_cost"]
    assert saved["per_event_us"] == pytest.approx(180)
    assert saved["per_list_us"] == pytest.approx(650)
    assert saved["events_per_s_without_lists"] == pytest.approx(1e6 / 180)
    assert "180 us per event plus 650 us per list; without lists: 5556 events/s (1.11 of the forwarding agent)" \
        in text.getvalue()
