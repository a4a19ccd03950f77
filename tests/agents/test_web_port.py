"""``SOCIALPULSE_WEB_PORT=0`` means a free port, as documented (Faust itself refuses 0)."""

from __future__ import annotations

import socket
from pathlib import Path

from prometheus_client import CollectorRegistry

from socialpulse.agents.app import create_app
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.settings import Settings


def test_port_zero_picks_a_free_port_and_a_set_port_is_kept(tmp_path: Path) -> None:
    picked = create_app(Settings(data_dir=tmp_path / "a", web_port=0), Metrics(CollectorRegistry())).conf.web_port
    assert 0 < picked <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", picked))  # nothing listens there
    kept = create_app(Settings(data_dir=tmp_path / "b", web_port=6123), Metrics(CollectorRegistry())).conf.web_port
    assert kept == 6123
