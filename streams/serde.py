"""Avro bytes <-> typed records, in two framings, and JSON <-> typed records for the CLI.

Framings (chosen on encode by whether a schema registry is configured; decode accepts both):

* single-object encoding (no registry): ``C3 01`` + 8-byte CRC-64-AVRO fingerprint (little-endian)
  + Avro binary. The fingerprint is looked up among the current *and* older schema versions in
  ``schemas/``, and the payload is resolved to the current schema, so old payloads still decode.
* Confluent wire format (registry configured): ``00`` + 4-byte big-endian schema id + Avro binary;
  subjects are ``<topic>-value``. Writer schemas are fetched by id once and cached.

Decoding never raises anything but :class:`DecodeError` for bad bytes, so a consumer can route
every bad record to the dead-letter topic. Registry outages are not bad bytes: they propagate.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import fastavro

from socialpulse.schemas import registry
from socialpulse.schemas.records import RECORD_TYPES, Record, to_millis

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from .settings import Settings

__all__ = [
    "CONFLUENT_MAGIC",
    "DECODE_REASONS",
    "SINGLE_OBJECT_MAGIC",
    "AvroSerde",
    "DecodeError",
    "DecodeReason",
    "EncodeError",
    "RecordJsonError",
    "encode_json",
    "record_from_json",
    "record_to_json",
    "registry_client",
]

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
_SINGLE_HEADER = len(SINGLE_OBJECT_MAGIC) + 8
_CONFLUENT_HEADER = len(CONFLUENT_MAGIC) + 4

DecodeReason = Literal["empty", "bad_magic", "unknown_schema", "bad_avro", "wrong_type"]
DECODE_REASONS: tuple[DecodeReason, ...] = ("empty", "bad_magic", "unknown_schema", "bad_avro", "wrong_type")

_BY_FULL_NAME: dict[str, type[Record]] = {cls.SCHEMA: cls for cls in RECORD_TYPES.values()}


class DecodeError(Exception):
    """Bytes that are not a record we can use. ``reason`` is one of :data:`DECODE_REASONS`
    (safe as a metric label); ``raw`` is the payload exactly as received (for the dead-letter topic)."""

    def __init__(self, reason: DecodeReason, raw: bytes, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: DecodeReason = reason
        self.raw = raw
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.raw, self.detail))


class EncodeError(ValueError):
    """A record that does not fit its schema (a bug in the producer, not bad input)."""


class RecordJsonError(ValueError):
    """A JSON object that does not describe a valid record; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"field {field!r}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


def registry_client(url: str) -> SchemaRegistryClient:
    """A schema registry client for ``url``; ``mock://<name>`` gives confluent-kafka's in-process mock."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient.new_client({"url": url})


@dataclass(frozen=True)
class _Writer:
    """A writer schema we can read: parsed form and the record class it maps to."""

    parsed: Any
    record_type: type[Record]
    reader: Any  # current schema of that record, or None when the writer *is* the current one


class AvroSerde:
    """Encodes records to Avro bytes and decodes them back; safe to share, schemas parsed once.

    ``AvroSerde()`` uses single-object encoding; ``AvroSerde(registry_client(url))`` the Confluent
    wire format (``encode`` then needs the topic, for the subject ``<topic>-value``).
    """

    def __init__(self, client: SchemaRegistryClient | None = None, *, auto_register: bool = True) -> None:
        self.client = client
        self.auto_register = auto_register
        self._ids: dict[tuple[str, str], int] = {}  # (subject, schema name) -> id
        self._by_id: dict[int, _Writer] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> AvroSerde:
        url = settings.schema_registry_url
        return cls(registry_client(url) if url else None)

    # --- encode ------------------------------------------------------------------------------------
    def encode(self, record: Record, topic: str | None = None) -> bytes:
        """Avro bytes for ``record``; ``topic`` (the full, prefixed name) is required with a registry."""
        name = registry.name_of(record)
        schema = registry.current(name)
        buf = io.BytesIO()
        if self.client is None:
            buf.write(SINGLE_OBJECT_MAGIC)
            buf.write(schema.fingerprint)
        else:
            if topic is None:
                raise ValueError("encode() needs the topic when a schema registry is configured")
            buf.write(CONFLUENT_MAGIC)
            buf.write(struct.pack(">I", self._schema_id(f"{topic}-value", name)))
        try:
            fastavro.schemaless_writer(buf, schema.parsed, record.to_avro(), strict=True)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise EncodeError(f"{name} does not fit its schema: {exc}") from exc
        return buf.getvalue()

    def _schema_id(self, subject: str, name: str) -> int:
        key = (subject, name)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        from confluent_kafka.schema_registry import Schema

        assert self.client is not None
        schema = Schema(json.dumps(registry.current(name).raw), "AVRO")
        if self.auto_register:
            schema_id: int | None = self.client.register_schema(subject, schema)
        else:
            schema_id = self.client.lookup_schema(subject, schema).schema_id
        if schema_id is None:
            raise RuntimeError(f"schema registry returned no id for {subject}")
        self._ids[key] = schema_id
        return schema_id

    # --- decode ------------------------------------------------------------------------------------
    def decode(self, data: bytes, expected: type[Record] | None = None) -> Record:
        """The record in ``data``, resolved to the current schema; ``DecodeError`` for anything else.

        With ``expected``, a payload of any other record type is ``DecodeError("wrong_type")``.
        """
        raw = bytes(data) if not isinstance(data, bytes) else data
        if not raw:
            raise DecodeError("empty", raw, "empty payload")
        if raw[:2] == SINGLE_OBJECT_MAGIC:
            writer, body_start = self._single_object_writer(raw)
        elif raw[:1] == CONFLUENT_MAGIC:
            writer, body_start = self._confluent_writer(raw)
        else:
            raise DecodeError("bad_magic", raw, f"unknown framing, first byte 0x{raw[0]:02x}")
        if expected is not None and writer.record_type is not expected:
            raise DecodeError(
                "wrong_type", raw, f"expected {expected.__name__}, payload is {writer.record_type.__name__}"
            )
        buf = io.BytesIO(raw)
        buf.seek(body_start)
        try:
            values = fastavro.schemaless_reader(buf, writer.parsed, writer.reader)
            if buf.tell() != len(raw):
                raise ValueError(f"{len(raw) - buf.tell()} trailing bytes after the record")
            if not isinstance(values, dict):  # every schema in the contract is an Avro record
                raise TypeError(f"decoded a {type(values).__name__}, expected a record")
            return writer.record_type.from_avro(values)
        except Exception as exc:  # fastavro raises many types on garbage (EOFError, ValueError, ...)
            raise DecodeError("bad_avro", raw, f"{type(exc).__name__}: {exc}") from None

    def _single_object_writer(self, raw: bytes) -> tuple[_Writer, int]:
        if len(raw) < _SINGLE_HEADER:
            raise DecodeError("bad_magic", raw, f"single-object header truncated ({len(raw)} bytes)")
        fp = raw[2:_SINGLE_HEADER]
        version = registry.by_fingerprint().get(fp)
        if version is None:
            raise DecodeError("unknown_schema", raw, f"no known schema has fingerprint {fp.hex()}")
        return _writer_for(version.name, version.version), _SINGLE_HEADER

    def _confluent_writer(self, raw: bytes) -> tuple[_Writer, int]:
        if len(raw) < _CONFLUENT_HEADER:
            raise DecodeError("bad_magic", raw, f"Confluent header truncated ({len(raw)} bytes)")
        (schema_id,) = struct.unpack(">I", raw[1:_CONFLUENT_HEADER])
        writer = self._by_id.get(schema_id)
        if writer is None:
            writer = self._fetch_writer(raw, schema_id)
            self._by_id[schema_id] = writer
        return writer, _CONFLUENT_HEADER

    def _fetch_writer(self, raw: bytes, schema_id: int) -> _Writer:
        from confluent_kafka.schema_registry import SchemaRegistryError

        if self.client is None:
            raise DecodeError("unknown_schema", raw, f"schema id {schema_id} but no schema registry is configured")
        try:
            schema = self.client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise DecodeError("unknown_schema", raw, f"schema id {schema_id} is not in the registry") from None
            raise
        try:
            raw_schema = json.loads(schema.schema_str or "")
            full_name = _full_name(raw_schema)
            parsed = fastavro.parse_schema(raw_schema, _write_hint=False)
        except Exception as exc:
            detail = f"schema id {schema_id} is not a usable Avro schema: {exc}"
            raise DecodeError("unknown_schema", raw, detail) from None
        record_type = _BY_FULL_NAME.get(full_name)
        if record_type is None:
            raise DecodeError("unknown_schema", raw, f"schema id {schema_id} is {full_name}, not one of our records")
        current = registry.current(record_type.__name__)
        same = fastavro.schema.to_parsing_canonical_form(raw_schema) == current.canonical
        return _Writer(parsed=parsed, record_type=record_type, reader=None if same else current.parsed)


def _full_name(raw_schema: Any) -> str:
    if not isinstance(raw_schema, dict) or raw_schema.get("type") != "record":
        raise ValueError("top-level schema is not a record")
    name = str(raw_schema["name"])
    namespace = raw_schema.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


_WRITERS: dict[tuple[str, int], _Writer] = {}


def _writer_for(name: str, version: int) -> _Writer:
    key = (name, version)
    writer = _WRITERS.get(key)
    if writer is None:
        current = registry.current(name)
        if version == current.version:
            writer = _Writer(current.parsed, registry.record_type(name), None)
        else:
            old = next(v for v in registry.older(name) if v.version == version)
            writer = _Writer(old.parsed, registry.record_type(name), current.parsed)
        _WRITERS[key] = writer
    return writer


# --- JSON (the CLI's format) ---------------------------------------------------------------------
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


R = TypeVar("R", bound=Record)


def record_from_json(record_type: type[R], data: Any) -> R:
    """Build a record from a decoded JSON object, checked against the current Avro schema.

    Timestamps (``timestamp-millis``) are int milliseconds or ISO-8601 strings (naive means UTC);
    ``bytes`` fields are base64 strings; optional fields may be left out. Raises
    :class:`RecordJsonError` naming the first bad field.
    """
    schema = registry.current(record_type.__name__).raw
    values = _from_json(schema, data, "")
    try:
        return record_type.from_avro(values)
    except (TypeError, ValueError) as exc:  # a bug in the record classes, but say which record
        raise RecordJsonError("", f"{record_type.__name__}: {exc}") from None


def record_to_json(record: Record) -> dict[str, Any]:
    """The JSON-safe dict of ``record`` (bytes as base64, timestamps as int ms); inverse of record_from_json."""
    schema = registry.current(registry.name_of(record)).raw
    result = _to_json(schema, record.to_avro())
    assert isinstance(result, dict)
    return result


def encode_json(record: Record) -> str:
    """One JSON line (no newline) for ``record``."""
    return json.dumps(record_to_json(record), ensure_ascii=False, separators=(",", ":"))


def _named_types(schema: Any, table: dict[str, Any]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, table)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "enum", "fixed"):
            table[schema["name"]] = schema
            ns = schema.get("namespace")
            if ns:
                table[f"{ns}.{schema['name']}"] = schema
        if kind == "record":
            for f in schema["fields"]:
                _named_types(f["type"], table)
        elif kind == "array":
            _named_types(schema["items"], table)
        elif kind == "map":
            _named_types(schema["values"], table)


_NAMED: dict[str, Any] = {}
for _cls in RECORD_TYPES.values():
    _named_types(registry.current(_cls.__name__).raw, _NAMED)


def _type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return " or ".join(_type_name(s) for s in schema)
    if isinstance(schema, dict):
        return str(schema.get("logicalType") or schema.get("name") or schema["type"])
    return str(schema)


def _describe(value: Any) -> str:
    text = json.dumps(value, default=str)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _from_json(schema: Any, value: Any, path: str) -> Any:
    if isinstance(schema, str) and schema in _NAMED:
        schema = _NAMED[schema]
    if isinstance(schema, list):  # union: null first in our contract
        if value is None and "null" in schema:
            return None
        branches = [s for s in schema if s != "null"]
        if len(branches) == 1:  # ["null", T]: T's own, more precise error
            return _from_json(branches[0], value, path)
        for branch in branches:
            try:
                return _from_json(branch, value, path)
            except RecordJsonError:
                continue
        raise RecordJsonError(path, f"expected {_type_name(schema)}, got {_describe(value)}")
    if isinstance(schema, dict):
        kind = schema["type"]
        if schema.get("logicalType") == "timestamp-millis":
            return _timestamp(value, path)
        if kind == "record":
            return _record_from_json(schema, value, path)
        if kind == "enum":
            if not isinstance(value, str) or value not in schema["symbols"]:
                raise RecordJsonError(path, f"expected one of {', '.join(schema['symbols'])}, got {_describe(value)}")
            return value
        if kind == "array":
            if not isinstance(value, list):
                raise RecordJsonError(path, f"expected a list, got {_describe(value)}")
            return [_from_json(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, dict):
                raise RecordJsonError(path, f"expected an object, got {_describe(value)}")
            return {k: _from_json(schema["values"], v, f"{path}.{k}") for k, v in value.items()}
        return _from_json(kind, value, path)
    return _primitive(schema, value, path)


def _primitive(kind: str, value: Any, path: str) -> Any:
    if kind == "null":
        if value is not None:
            raise RecordJsonError(path, f"expected null, got {_describe(value)}")
        return None
    if kind == "boolean":
        if not isinstance(value, bool):
            raise RecordJsonError(path, f"expected true or false, got {_describe(value)}")
        return value
    if kind in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecordJsonError(path, f"expected an integer, got {_describe(value)}")
        low, high = _INT_RANGE[kind]
        if not low <= value <= high:
            raise RecordJsonError(path, f"{value} is out of range for Avro {kind}")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordJsonError(path, f"expected a number, got {_describe(value)}")
        return float(value)
    if kind == "string":
        if not isinstance(value, str):
            raise RecordJsonError(path, f"expected a string, got {_describe(value)}")
        return value
    if kind == "bytes":
        if not isinstance(value, str):
            raise RecordJsonError(path, f"expected a base64 string, got {_describe(value)}")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise RecordJsonError(path, "expected a base64 string, got invalid base64") from None
    raise RecordJsonError(path, f"unsupported schema type {kind}")


def _record_from_json(schema: Mapping[str, Any], value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordJsonError(path, f"expected an object ({schema['name']}), got {_describe(value)}")
    names = {f["name"] for f in schema["fields"]}
    unknown = sorted(set(value) - names)
    if unknown:
        prefix = f"{path}." if path else ""
        known = ", ".join(sorted(names))
        raise RecordJsonError(f"{prefix}{unknown[0]}", f"unknown field; {schema['name']} has {known}")
    out: dict[str, Any] = {}
    for f in schema["fields"]:
        name = f["name"]
        sub = f"{path}.{name}" if path else name
        if name in value:
            out[name] = _from_json(f["type"], value[name], sub)
        elif "default" in f:
            out[name] = _from_json(f["type"], f["default"], sub) if f["default"] is not None else None
        else:
            raise RecordJsonError(sub, "missing (required)")
    return out


def _timestamp(value: Any, path: str) -> int:
    if isinstance(value, bool):
        raise RecordJsonError(path, f"expected int milliseconds or an ISO-8601 string, got {_describe(value)}")
    if isinstance(value, int):
        return int(_primitive("long", value, path))
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise RecordJsonError(path, f"not an ISO-8601 timestamp: {value!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return to_millis(moment)
    raise RecordJsonError(path, f"expected int milliseconds or an ISO-8601 string, got {_describe(value)}")


def _to_json(schema: Any, value: Any) -> Any:
    if isinstance(schema, str) and schema in _NAMED:
        schema = _NAMED[schema]
    if value is None:
        return None
    if isinstance(schema, list):
        for branch in schema:
            if branch != "null":
                return _to_json(branch, value)
        return None
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            return {f["name"]: _to_json(f["type"], value.get(f["name"])) for f in schema["fields"]}
        if kind == "array":
            return [_to_json(schema["items"], v) for v in value]
        if kind == "map":
            return {k: _to_json(schema["values"], v) for k, v in value.items()}
        if kind == "enum" or schema.get("logicalType"):
            return value
        return _to_json(kind, value)
    if schema == "bytes":
        return base64.b64encode(value).decode("ascii")
    return value
