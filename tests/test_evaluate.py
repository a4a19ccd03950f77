"""The evaluate pipeline offline: simulated events + hand-made engine lists -> JSON, PNG, table."""

from __future__ import annotations

import json

from socialpulse.schemas.records import Click, Recommendation, RecommendedItem
from socialpulse.streams.evaluate import evaluate_records, write_report
from socialpulse.streams.simulator import SimConfig, Simulation


def test_evaluate_writes_json_and_plot(tmp_path) -> None:
    sim = Simulation(SimConfig(users=80, items=60, categories=6, events=4000, seed=5))
    events = list(sim.records())
    truth = sim.truth()
    by_cat: dict[str, list[str]] = {}
    for item, cat in truth.item_category.items():
        by_cat.setdefault(cat, []).append(item)
    recs = [
        Recommendation(
            f"r-{e.event_id}",
            e.user_id,
            e.event_id,
            tuple(RecommendedItem(i, 1.0, "content", "taste") for i in by_cat[truth.top_category(e.user_id)][:10]),
            e.timestamp,
            e.timestamp + 3,
        )
        for e in events
        if isinstance(e, Click) and e.type == "view"
    ]
    evaluator = evaluate_records(events, recs, k=10, horizon=1)
    data = write_report(evaluator, tmp_path)
    saved = json.loads((tmp_path / "evaluate.json").read_text("utf-8"))
    assert saved["results"] == data["results"]
    assert set(saved["results"]) == {"engine", "engine/content", "popularity", "recent_popularity", "item_knn"}
    assert saved["results"]["engine"]["lists"] > 100
    assert (tmp_path / "evaluate_hr_over_time.png").stat().st_size > 1000


def test_reports_plots(tmp_path) -> None:
    from socialpulse.streams import reports

    assert reports.plot_latency([1.0, 2.0, 3.0, 50.0] * 30, tmp_path / "lat.png").exists()
    assert reports.plot_throughput([0.1 * k for k in range(100)], tmp_path / "tp.png").exists()
    reports.print_table("t", ["a", "b"], [["x", 0.5]])
