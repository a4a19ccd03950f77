"""RocksDB memory per table partition comes from settings, not from Faust's defaults (2 GiB block cache each)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from socialpulse.agents.app import create_app
from socialpulse.streams.metrics import Metrics
from socialpulse.streams.settings import Settings

MB = 2**20


def test_every_rocksdb_table_gets_the_configured_cache_and_memtable_sizes(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, rocksdb_block_cache_mb=3, rocksdb_write_buffer_mb=5)
    app = create_app(settings, Metrics(CollectorRegistry()))
    tables = list(app.tables.values())
    assert len(tables) == 3  # state, latest recommendations, item prices
    for table in tables:
        options = table.data.rocksdb_options
        assert options.block_cache_size == 3 * MB
        assert options.write_buffer_size == 5 * MB
        assert options.max_write_buffer_number == 2
        built = options.as_options()  # what the store opens its partitions with
        assert built is not None


def test_memory_tables_take_no_rocksdb_options(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, store="memory://"), Metrics(CollectorRegistry()))
    for table in app.tables.values():
        assert not hasattr(table.data, "rocksdb_options")
