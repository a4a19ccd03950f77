"""Each public dataset replayed end to end: `socialpulse replay` (a bounded slice) into the real broker,
a real worker (two partitions) computing recommendations, then `socialpulse evaluate` as a
subprocess against the same topic prefix, which must print HR@10 and NDCG@10 for the engine and
every baseline from the same run.

Data are read in place from ``../shared/datasets``; MovieLens-100K comes from the recbole wheel
(``fetch_movielens``, cached under ``.cache/``; a tiny file written here only when the package index
cannot be reached).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness import WorkerProcess, create_all_topics, engine_settings, internal_topics, wait_drained

from socialpulse.streams.replay import fetch_movielens

ROOT = Path(__file__).resolve().parent.parent
CLI = [str(Path(sys.executable).with_name("socialpulse"))]
NAMES = ("engine", "popularity", "recent_popularity", "item_knn")

# dataset id (as listed in the issue) -> (replay name, --limit, extra evaluate options).
# Limits keep each replay to roughly 1.5-3k behaviour events (10-25 s of worker time on 2 cores).
DATASETS = {
    "taobao-userbehavior-sample": ("taobao", 2000, []),
    "diginetica-cikm16-sample": ("diginetica", 2000, []),
    "amazon-seq-s3rec": ("beauty", 250, []),
    "amazon-fashion-5core-2018": ("amazon-fashion", 1000, []),
    "lastfm-hetrec2011-2k": ("lastfm", 600, []),
    # Ratings are Epinions' only behaviour: count them as interactions.
    "epinions-tang2012": ("epinions", 1500, ["--events-topic", "reviews", "--reviews-as-interactions"]),
    "MovieLens-100K": ("movielens", 1000, []),
}


def _movielens_path(tmp_path: Path) -> Path:
    try:
        return fetch_movielens()
    except Exception as exc:  # offline without a cached wheel: a small file in the same format
        print(f"fetch_movielens failed ({exc}); using a generated ml-100k.inter")
        path = tmp_path / "ml-100k.inter"
        lines = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
        for n in range(1200):
            user, item = n % 60, (n * 7 + n // 60) % 80
            lines.append(f"{user}\t{item}\t{1 + n % 5}\t{880000000 + n * 60}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def _run(args: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)


def _row(output: str, name: str) -> list[float]:
    """The numbers in the table row of ``name`` (rich table: cells separated by box characters)."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0] == name:
            return [float(c) for c in cells[1:]]
    raise AssertionError(f"no row for {name!r} in:\n{output}")


@pytest.mark.kafka
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_replay_then_evaluate(dataset: str, kafka, tmp_path: Path) -> None:
    replay_name, limit, evaluate_options = DATASETS[dataset]
    started = time.monotonic()
    settings = engine_settings(kafka.bootstrap, tmp_path / "worker", partitions=2)
    env = {**settings.to_env(os.environ), "COLUMNS": "200"}
    create_all_topics(settings)
    replay = ["replay", replay_name, "--limit", str(limit)]
    if replay_name == "movielens":
        replay += ["--path", str(_movielens_path(tmp_path))]
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        worker.wait_ready()
        done = _run(replay, env, 120)
        assert done.returncode == 0, done.stdout + done.stderr
        try:
            wait_drained(settings, extra_topics=internal_topics(settings), timeout_s=150)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{worker.tail()}") from None
    finally:
        worker.stop()
    out_dir = tmp_path / "reports"
    result = _run(
        ["evaluate", "--timeout", "3", "--exclude-seen", "--out-dir", str(out_dir), *evaluate_options], env, 120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "HR@10" in output and "NDCG@10" in output, output
    header = next(line for line in output.splitlines() if "HR@10" in line)
    columns = [c.strip() for c in re.split(r"[│┃|]", header) if c.strip()]
    hr_col, ndcg_col = columns.index("HR@10") - 1, columns.index("NDCG@10") - 1
    report = json.loads((out_dir / "evaluate.json").read_text())
    assert report["recommendations"] > 0 and report["events"] > 0, report
    summary = {}
    for name in NAMES:
        numbers = _row(output, name)
        hr, ndcg = numbers[hr_col], numbers[ndcg_col]
        assert numbers[0] > 0, f"{name}: no scored lists\n{output}"  # 'lists' column
        assert 0.0 <= ndcg <= hr <= 1.0, (name, numbers)
        assert report["results"][name]["lists"] == numbers[0]
        summary[name] = (hr, ndcg)
    print(
        f"\n{dataset}: {report['events']} events, {report['recommendations']} lists, "
        f"{time.monotonic() - started:.1f}s: "
        + ", ".join(f"{n} HR@10 {h:.4f} NDCG@10 {d:.4f}" for n, (h, d) in summary.items())
    )
    if os.environ.get("SOCIALPULSE_EVAL_SUMMARY"):  # collect the numbers across datasets (README, reports)
        with open(os.environ["SOCIALPULSE_EVAL_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(json.dumps({"dataset": dataset, **report["results"]}) + "\n")
