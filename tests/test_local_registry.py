"""The session's Apicurio registry speaks the Confluent API and enforces BACKWARD compatibility."""

from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError


def _record(*fields: dict) -> Schema:
    return Schema(json.dumps({"type": "record", "name": "Event", "fields": list(fields)}), "AVRO")


def test_register_and_enforce_backward(registry):
    client = SchemaRegistryClient({"url": registry.url})
    subject = f"events-{uuid.uuid4().hex[:8]}-value"
    v1 = client.register_schema(subject, _record({"name": "id", "type": "string"}))
    assert client.get_schema(v1).schema_str

    # Adding a field with a default is backward compatible.
    client.register_schema(subject, _record({"name": "id", "type": "string"},
                                            {"name": "n", "type": "int", "default": 0}))
    # Adding a field without a default is not: new readers cannot read old data.
    with pytest.raises(SchemaRegistryError):
        client.register_schema(subject, _record({"name": "id", "type": "string"},
                                                {"name": "n", "type": "int", "default": 0},
                                                {"name": "required", "type": "string"}))
