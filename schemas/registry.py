"""Loads the ``.avsc`` contract once: parsed schemas, canonical forms and fingerprints.

Old versions of a schema live in ``history/<file>.v<N>.avsc``; they are parsed too so that a
payload written with an older version can still be decoded (Avro schema resolution).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from .records import RECORD_TYPES, Record


@dataclass(frozen=True)
class SchemaVersion:
    """One parsed schema: its short name, version number, fastavro form and fingerprint."""

    name: str
    version: int
    raw: dict[str, Any]
    parsed: Any
    canonical: str
    fingerprint: bytes  # CRC-64-AVRO, little-endian as Avro single-object encoding writes it


def _file_name(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() + ".avsc"


def _load(raw: dict[str, Any], name: str, version: int) -> SchemaVersion:
    parsed = fastavro.parse_schema(raw, _write_hint=False)
    canonical = to_parsing_canonical_form(raw)
    return SchemaVersion(
        name=name,
        version=version,
        raw=raw,
        parsed=parsed,
        canonical=canonical,
        fingerprint=bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")),
    )


@cache
def current(name: str) -> SchemaVersion:
    """The current schema for a short record name ("Click")."""
    if name not in RECORD_TYPES:
        raise KeyError(f"unknown schema {name!r}; known: {', '.join(RECORD_TYPES)}")
    text = resources.files(__package__).joinpath(_file_name(name)).read_text("utf-8")
    history = len(older(name))
    return _load(json.loads(text), name, history + 1)


@cache
def older(name: str) -> tuple[SchemaVersion, ...]:
    """Earlier versions of a schema, oldest first."""
    stem = _file_name(name)[: -len(".avsc")]
    folder = resources.files(__package__).joinpath("history")
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(rf"{stem}\.v(\d+)\.avsc", entry.name)
        if match:
            found.append((int(match.group(1)), json.loads(entry.read_text("utf-8"))))
    return tuple(_load(raw, name, version) for version, raw in sorted(found))


@cache
def by_fingerprint() -> dict[bytes, SchemaVersion]:
    """Every known schema version, current and older, keyed by fingerprint."""
    table: dict[bytes, SchemaVersion] = {}
    for name in RECORD_TYPES:
        for version in (*older(name), current(name)):
            table[version.fingerprint] = version
    return table


def record_type(name: str) -> type[Record]:
    return RECORD_TYPES[name]


def name_of(record: Record) -> str:
    return type(record).__name__
