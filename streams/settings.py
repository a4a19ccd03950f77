"""One frozen settings object, read from the environment once by the entry point.

Every field names its environment variable (``SOCIALPULSE_`` + the field name in upper case).
Nothing else in the code base reads ``os.environ``: settings are passed down explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENV_PREFIX = "SOCIALPULSE_"


class SettingsError(ValueError):
    """Raised when an environment variable holds a value the engine cannot use."""


class Settings(BaseModel):
    """Engine configuration. Construct directly in tests; use :meth:`from_env` in entry points."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- Kafka ---------------------------------------------------------------------------------
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,...].")
    topic_prefix: str = Field("", description="Prefix added to every topic name (e.g. 'staging.').")
    partitions: int = Field(4, ge=1, description="Partitions for topics created by `socialpulse topics create`.")
    replication_factor: int = Field(1, ge=1, description="Replication factor for created topics.")
    schema_registry_url: str | None = Field(
        None,
        description="Confluent-compatible schema registry URL; unset means Avro single-object encoding.",
    )

    # --- Worker --------------------------------------------------------------------------------
    app_id: str = Field("socialpulse", description="Faust app id: consumer group and changelog prefix.")
    store: str = Field("rocksdb://", description="Table store: 'rocksdb://' or 'memory://'.")
    data_dir: Path = Field(Path("./.cache/worker"), description="Where RocksDB tables and worker state live.")
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once", description="Faust processing guarantee."
    )
    web_host: str = Field("127.0.0.1", description="Host the worker's web server binds to.")
    web_port: int = Field(6066, ge=0, le=65535, description="Port of the worker's web server (0 = free port).")
    batch_size: int = Field(
        500, ge=1, description="Max events an agent handles per batch (fewer when no more are waiting)."
    )
    batch_linger_ms: float = Field(
        5.0, ge=0, description="Longest an agent waits for more events to fill a batch while its partition "
        "has a backlog (never at the tail: no added latency at low load; 0 = never wait).",
    )

    producer_linger_ms: float = Field(
        2.0, ge=0, description="How long the worker's producers gather records into one request (ms). A batch "
        "waits for its outputs, then for its changelog records, so at low load this adds up to twice its value "
        "to a batch; 0 sends each at once, at a quarter less throughput.",
    )
    gc_thresholds: str = Field(
        "2000,10,100", pattern=r"^\d+,\d+,\d+$",
        description="Python's cyclic collector thresholds (gen0,gen1,gen2). Python's own 700,10,10 ran a "
        "full collection every few seconds, each pausing the worker 45-190 ms.",
    )
    gc_freeze: bool = Field(
        True, description="Exempt objects alive once start-up is done (modules, the catalogue) from the "
        "collector's scans; they are still freed when no longer referenced.",
    )
    dedupe_window: int = Field(
        50_000, ge=0, description="Recent output ids per partition read back after a restart to drop re-sends."
    )

    # --- State bounds (memory is bounded by these, never by traffic) ---------------------------
    state_cache_keys: int = Field(
        20_000, ge=100, description="State keys cached in memory per partition (the rest stay in RocksDB)."
    )
    rocksdb_block_cache_mb: int = Field(
        16, ge=1, description="RocksDB block cache per table partition, MB (Faust's default, 2 GiB each, "
        "lets a long run's memory grow with the data read back).",
    )
    rocksdb_write_buffer_mb: int = Field(
        8, ge=1, description="RocksDB memtable size per table partition, MB (two at most: one filling, one flushing).",
    )
    history_len: int = Field(50, ge=1, description="Events kept per user history.")
    neighbours_per_item: int = Field(50, ge=1, description="Co-occurring items kept per item.")
    user_ttl_s: float = Field(30 * 86400, gt=0, description="Seconds of inactivity before user state expires.")
    decay_half_life_s: float = Field(7 * 86400, gt=0, description="Half-life of co-occurrence and trend decay.")
    sweep_interval_s: float = Field(
        3600.0, gt=0, description="Event-time seconds between state sweeps of a partition (user TTL, key caps).",
    )
    max_text_chars: int = Field(5000, ge=1, description="Longest review text accepted before dead-lettering.")
    max_future_skew_s: float = Field(300, ge=0, description="How far in the future a timestamp may be.")

    # --- Recommending --------------------------------------------------------------------------
    rec_k: int = Field(10, ge=1, description="Items per recommendation.")
    rec_max_per_category: int = Field(3, ge=1, description="Diversity cap: items per category in one list.")
    rec_debounce_ms: int = Field(200, ge=0, description="Min milliseconds between recommendations per user.")
    rec_enabled: bool = Field(
        True, description="Build and send recommendation lists; false: the worker learns and runs marketing but "
                          "builds no lists (`socialpulse bench` measures what lists cost with it).")
    rec_source_weights: str = Field(
        "",
        pattern=r"^[a-z_]+=[0-9.eE+-]+(,[a-z_]+=[0-9.eE+-]+)*$|^$",
        description="Candidate-source weights to override, e.g. 'item_cf=0.5,taste=0.6' (sources: taste, social, "
        "item_cf, user_cf, content, trending, popular); the rest keep their defaults, and 0 turns a source off "
        "(trending and popular cannot both be off). The defaults were tuned "
        "on simulated traffic: check a shop's own log with tests/offline_eval.py --set weight.<source>=<w>.",
    )
    scorers: str = Field(
        "",
        pattern=r"^[a-z0-9_]*(,[a-z0-9_]+)*$",
        description="Comma-separated learned scorers blended into ranking (e.g. 'online_mf'); empty: none.",
    )

    # --- Observability -------------------------------------------------------------------------
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics from the worker.")
    log_json: bool = Field(False, description="Write logs as JSON lines.")
    log_level: str = Field("INFO", description="Log level.")
    debug_pii: bool = Field(False, description="Log raw user ids (otherwise they are hashed).")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``SOCIALPULSE_*`` variables once; unknown ``SOCIALPULSE_`` names are an error."""
        env = os.environ if environ is None else environ
        values: dict[str, str] = {}
        known = {ENV_PREFIX + name.upper(): name for name in cls.model_fields}
        for key, value in env.items():
            if not key.startswith(ENV_PREFIX) or key in _NOT_SETTINGS:
                continue
            if key not in known:
                raise SettingsError(f"unknown setting {key}; known: {', '.join(sorted(known))}")
            values[known[key]] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise SettingsError(str(exc)) from exc

    def to_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """An environment for a child process running with these settings.

        ``base`` (usually ``os.environ``) minus its engine settings, keeping tool variables such as
        ``SOCIALPULSE_CACHE_DIR``, plus every set field as ``SOCIALPULSE_<NAME>`` (what :meth:`from_env` reads).
        """
        env = {k: v for k, v in base.items() if not k.startswith(ENV_PREFIX) or k in _NOT_SETTINGS}
        for name, value in self.model_dump().items():
            if value is not None:
                env[ENV_PREFIX + name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting: the README table."""
        rows = []
        for name, field in cls.model_fields.items():
            rows.append((ENV_PREFIX + name.upper(), repr(field.default), field.description or ""))
        return rows


# Variables with our prefix that configure tools rather than the engine.
_NOT_SETTINGS = frozenset({"SOCIALPULSE_CACHE_DIR", "SOCIALPULSE_KAFKA_VERSION", "SOCIALPULSE_JAVA_HOME"})
