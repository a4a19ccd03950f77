"""`socialpulse demo` as a user runs it: a subprocess (not a terminal) that starts its own Kafka and worker.

Process-level tests: they check what the command prints and that every process it started (the PIDs
it prints) is gone when it exits, after ``--duration`` or after SIGINT.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from socialpulse.agents.demo import histogram_quantile, parse_metrics

_STARTED = re.compile(r"^started (kafka|worker) pid (\d+)", re.MULTILINE)


def _env() -> dict[str, str]:
    # The demo reads SOCIALPULSE_* settings; keep the test's environment from leaking into it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALPULSE_") or k == "SOCIALPULSE_CACHE_DIR"}
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "160"
    return env


def _demo(*args: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-c", "from socialpulse.agents.cli import main; main()", "demo", *args]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=_env())


class _Output:
    """Collects a process's output on a thread, so the pipe never fills; ``wait_for`` a line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not re.search(pattern, self.text, re.MULTILINE):
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"no {pattern!r} after {timeout_s}s; output:\n{self.text}")

    def join(self) -> None:
        self._thread.join(10)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def _started_pids(text: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {"kafka": [], "worker": []}
    for kind, pid in _STARTED.findall(text):
        found[kind].append(int(pid))
    return found


def _assert_gone(pids: dict[str, list[int]], text: str) -> None:
    assert pids["kafka"] and pids["worker"], f"the demo did not print its PIDs:\n{text}"
    for kind, numbers in pids.items():
        for pid in numbers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
                raise AssertionError(f"{kind} pid {pid} is still running after the demo exited:\n{text}")


def _summary_value(text: str, row: str) -> int:
    match = re.search(rf"^\W*{row}\W+(\d+)\W*$", text.split("summary", 1)[-1], re.MULTILINE)
    assert match, f"no {row!r} row in the summary:\n{text}"
    return int(match.group(1))


@pytest.fixture
def kill_leftovers() -> Iterator[list[subprocess.Popen[str]]]:
    """If an assertion fails midway, stop the demo (which stops its own Kafka and worker)."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.mark.slow
def test_demo_runs_for_its_duration_and_leaves_nothing_behind(
    kill_leftovers: list[subprocess.Popen[str]],
) -> None:
    proc = _demo("--duration", "40", "--events", "3000", "--rate", "200")
    kill_leftovers.append(proc)
    out = _Output(proc)
    code = proc.wait(300)
    out.join()
    text = out.text
    assert code == 0, text
    assert "worker ready at http://127.0.0.1:" in text
    assert _summary_value(text, "recommendations") > 0, text
    assert _summary_value(text, "events produced") > 3000, text  # the catalogue and follow graph, then 3000
    assert _summary_value(text, "dead letters") == 0, text
    # Latency once the start-up backlog is drained is reported apart from the whole run's.
    steady = re.search(r"end-to-end p99, steady traffic\W+([\d.]+) (ms|s)\b", text)
    assert steady, text
    whole = re.search(r"end-to-end p99, whole run \(incl\. start-up backlog\)\W+([\d.]+) (ms|s)\b", text)
    assert whole, text
    as_s = {"ms": 0.001, "s": 1.0}
    assert float(steady[1]) * as_s[steady[2]] <= float(whole[1]) * as_s[whole[2]], text
    assert "Failed to acquire" not in text and "%4|" not in text, "librdkafka logs leaked into the output"
    _assert_gone(_started_pids(text), text)


@pytest.mark.slow
def test_sigint_mid_run_stops_everything_cleanly(kill_leftovers: list[subprocess.Popen[str]]) -> None:
    proc = _demo("--events", "100000", "--rate", "200")  # would run for 60 s; interrupted after ready
    kill_leftovers.append(proc)
    out = _Output(proc)
    out.wait_for(r"^worker ready at ", timeout_s=240)
    out.wait_for(r"recommendations [1-9]", timeout_s=60)  # traffic flows before the interrupt
    proc.send_signal(signal.SIGINT)
    code = proc.wait(120)
    out.join()
    text = out.text
    assert code in (0, 130), text
    assert "SIGINT: stopping" in text
    assert re.search(r"^stopped worker pid \d+", text, re.MULTILINE), text
    assert re.search(r"^stopped kafka pid \d+", text, re.MULTILINE), text
    _assert_gone(_started_pids(text), text)


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    text = (
        "# HELP x_seconds latency\n# TYPE x_seconds histogram\n"
        'x_seconds_bucket{le="0.01"} 50.0\nx_seconds_bucket{le="0.05"} 90.0\n'
        'x_seconds_bucket{le="0.1"} 100.0\nx_seconds_bucket{le="+Inf"} 100.0\n'
        "x_seconds_count 100.0\nx_seconds_sum 2.0\n"
    )
    samples = parse_metrics(text)
    buckets = {float(dict(labels)["le"]): v for (name, labels), v in samples.items() if name == "x_seconds_bucket"}
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.03)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.095)
    assert histogram_quantile(0.99, {0.1: 0.0, float("inf"): 0.0}) is None
    assert histogram_quantile(0.99, {0.1: 1.0, float("inf"): 10.0}) == float("inf")
