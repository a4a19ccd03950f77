"""Run a throwaway Prometheus on loopback for tests and demos.

    with LocalPrometheus(["127.0.0.1:6066"]) as prom:
        prom.wait_for_series("socialpulse_events_consumed_total")
        result = prom.query("sum(rate(socialpulse_events_consumed_total[1m]))")

It renders the config with :func:`socialpulse.deploy.prometheus_config.render_config` (same
template as the shipped file, alert rules included), keeps its TSDB in a temporary folder, binds a
free port on 127.0.0.1 and is stopped by its PID (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import httpx

from socialpulse.deploy.kafka import free_port
from socialpulse.deploy.prometheus_config import PROMETHEUS_DIR, render_config

__all__ = ["LocalPrometheus", "PrometheusError", "free_port"]

PROMETHEUS_BIN = "/usr/bin/prometheus"


class PrometheusError(RuntimeError):
    """Prometheus did not start, or answered a query with an error."""


class LocalPrometheus:
    """Context manager around a real ``prometheus`` process scraping ``targets`` (``host:port``)."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        scrape_interval: str = "1s",
        binary: str | None = None,
        start_timeout_s: float = 30.0,
        with_rules: bool = True,
    ) -> None:
        self.targets = list(targets)
        self.scrape_interval = scrape_interval
        self.binary = binary or shutil.which("prometheus") or PROMETHEUS_BIN
        self.start_timeout_s = start_timeout_s
        self.with_rules = with_rules
        self.port = 0
        self.url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._client: httpx.Client | None = None
        self._log: IO[bytes] | None = None

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> LocalPrometheus:
        if not Path(self.binary).exists():
            raise PrometheusError(f"prometheus binary not found at {self.binary} (apt-get install prometheus)")
        self._tmp = tempfile.TemporaryDirectory(prefix="socialpulse-prom-")
        tmp = Path(self._tmp.name)
        rules = [str(PROMETHEUS_DIR / "alerts.yml")] if self.with_rules else []
        config = tmp / "prometheus.yml"
        config.write_text(
            render_config(
                self.targets,
                scrape_interval=self.scrape_interval,
                evaluation_interval=self.scrape_interval,
                rule_files=rules,
            )
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(tmp / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--web.enable-lifecycle",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._client = httpx.Client(base_url=self.url, timeout=10.0)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None and self._client is not None
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self._client.get("/-/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise PrometheusError(f"prometheus not ready after {self.start_timeout_s}s:\n{self.log()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout_s)
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalPrometheus:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log(self) -> str:
        if self._tmp is None:
            return ""
        path = Path(self._tmp.name) / "prometheus.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # --- API ----------------------------------------------------------------------------------
    def _get(self, path: str, **params: Any) -> Any:
        if self._client is None:
            raise PrometheusError("LocalPrometheus is not running")
        response = self._client.get(path, params=params)
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; returns ``data.result`` (a list for vectors, ``[ts, value]`` for scalars).

        Raises :class:`PrometheusError` when Prometheus rejects the expression.
        """
        data = self._get("/api/v1/query", query=expr)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [{"value": result}]

    def targets_health(self) -> list[str]:
        return [t["health"] for t in self._get("/api/v1/targets")["activeTargets"]]

    def series_names(self) -> set[str]:
        return set(self._get("/api/v1/label/__name__/values"))

    def wait_for_series(self, name: str, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Block until at least one sample of ``name`` has been scraped."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = self.query(name)
            if result:
                return result
            time.sleep(0.2)
        raise PrometheusError(f"no {name} after {timeout_s}s; targets: {self.targets_health()}\n{self.log()}")
