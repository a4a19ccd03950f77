"""Contract checks that Avro cannot express: a record that fails one goes to the dead-letter topic.

``problem(record, now_ms, limits)`` returns ``None`` for a usable record, else ``(reason, detail)``
where reason is one of :data:`socialpulse.streams.metrics.DEAD_LETTER_REASONS`.
"""

from __future__ import annotations

from dataclasses import dataclass

from socialpulse.schemas import Click, Item, Purchase, Record, Review, Social

Problem = tuple[str, str]


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 5000
    max_future_skew_ms: int = 300_000
    max_id_chars: int = 256


def _ids(record: Record) -> list[tuple[str, str | None]]:
    if isinstance(record, Click):
        return [("event_id", record.event_id), ("user_id", record.user_id), ("item_id", record.item_id)]
    if isinstance(record, Purchase):
        return [
            ("order_id", record.order_id),
            ("user_id", record.user_id),
            *(("lines.item_id", line.item_id) for line in record.lines),
        ]
    if isinstance(record, Review):
        return [("review_id", record.review_id), ("user_id", record.user_id), ("item_id", record.item_id)]
    if isinstance(record, Social):
        return [("event_id", record.event_id), ("actor_id", record.actor_id)]
    if isinstance(record, Item):
        return [("item_id", record.item_id)]
    return []


def problem(record: Record, now_ms: int, limits: Limits = Limits()) -> Problem | None:
    """Why ``record`` breaks the contract, or None. Cheap: runs once per input event."""
    for name, value in _ids(record):
        if not value or not value.strip():
            return "empty_id", f"{name} is empty"
        if len(value) > limits.max_id_chars:
            return "schema_violation", f"{name} longer than {limits.max_id_chars} characters"
    timestamp = getattr(record, "timestamp", 0)
    if timestamp > now_ms + limits.max_future_skew_ms:
        return "future_timestamp", f"timestamp {timestamp} is {(timestamp - now_ms) // 1000}s in the future"
    if timestamp < 0:
        return "schema_violation", "negative timestamp"
    if isinstance(record, Review):
        if not 1 <= record.stars <= 5:
            return "stars_out_of_range", f"stars={record.stars}, expected 1-5"
        if len(record.text) > limits.max_text_chars:
            return "text_too_long", f"text has {len(record.text)} characters, limit {limits.max_text_chars}"
    elif isinstance(record, Purchase):
        if not record.lines:
            return "schema_violation", "purchase has no lines"
        for line in record.lines:
            if line.quantity <= 0 or line.unit_price < 0:
                return "negative_amount", f"item {line.item_id}: quantity={line.quantity} unit_price={line.unit_price}"
    elif isinstance(record, Item):
        if record.price < 0:
            return "negative_amount", f"price={record.price}"
        if len(record.title) > limits.max_text_chars:
            return "text_too_long", "title too long"
    elif isinstance(record, Social):
        if record.type in ("follow", "unfollow"):
            if not record.target_user_id:
                return "empty_id", f"{record.type} without target_user_id"
            if record.target_user_id == record.actor_id:
                return "schema_violation", "user cannot follow themselves"
        elif not record.target_item_id:
            return "empty_id", "share without target_item_id"
    return None
