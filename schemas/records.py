"""Typed records for every event in the contract, so agents never pass raw dicts.

Each record converts to and from the dict shape fastavro reads and writes (``to_avro`` /
``from_avro``). Timestamps are integers: milliseconds since the epoch, UTC. Field names and
meanings are those of the ``.avsc`` files beside this module, which are the source of truth.
"""

from __future__ import annotations

import dataclasses
from dataclasses import Field, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

ClickType = Literal["view", "add_to_cart", "remove_from_cart", "wishlist"]
SocialType = Literal["follow", "unfollow", "share"]
Channel = Literal["push", "email", "in_app", "sms"]
AttributionKind = Literal["recommendation", "trigger"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def to_millis(value: Any) -> int:
    """Accept what fastavro returns for timestamp-millis (an aware datetime) or an int."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return (value - _EPOCH) // _MS
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"timestamp must be int milliseconds or datetime, got {type(value).__name__}")
    return value


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


class Record:
    """Shared conversions. Subclasses are frozen dataclasses named like their Avro schema."""

    SCHEMA: ClassVar[str]  # full Avro name, e.g. "socialpulse.v1.Click"
    _TIMESTAMPS: ClassVar[tuple[str, ...]] = ("timestamp",)
    _NESTED: ClassVar[dict[str, type[Record]]] = {}
    _NESTED_LISTS: ClassVar[dict[str, type[Record]]] = {}

    if TYPE_CHECKING:
        # Every subclass is a dataclass: this makes Record a DataclassInstance for fields()/asdict().
        __dataclass_fields__: ClassVar[dict[str, Field[Any]]]

    def to_avro(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` returns, without its deep copy of every string and number.

        Every output record is converted once or twice on the hot path, where ``asdict`` cost more
        than building the recommendation it encoded.
        """
        out: dict[str, Any] = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, Record):
                value = value.to_avro()
            elif isinstance(value, (tuple, list)):
                value = type(value)(v.to_avro() if isinstance(v, Record) else v for v in value)
            elif isinstance(value, dict):
                value = {k: v.to_avro() if isinstance(v, Record) else v for k, v in value.items()}
            out[name] = value
        return out

    @classmethod
    def from_avro(cls, data: dict[str, Any]) -> Self:
        """Build from a decoded Avro dict (or the same shape from JSON); unknown keys are an error."""
        values = dict(data)
        for name in cls._TIMESTAMPS:
            if name in values:
                values[name] = to_millis(values[name])
        for name, kind in cls._NESTED.items():
            if isinstance(values.get(name), dict):
                values[name] = kind.from_avro(values[name])
        for name, kind in cls._NESTED_LISTS.items():
            if name in values:
                values[name] = tuple(kind.from_avro(v) for v in values[name])
        for f in dataclasses.fields(cls):
            if f.name in values and isinstance(values[f.name], list):
                values[f.name] = tuple(values[f.name])
        return cls(**values)

    if TYPE_CHECKING:
        # Every top-level record (those in RECORD_TYPES, what a topic carries and ``AvroSerde.decode``
        # returns) has an ``event_id`` (a schema field where one exists, else a property) and a
        # ``timestamp``. Declared for the type checker only: at run time an inherited attribute would
        # become the dataclass field's default. The nested ClickSource, PurchaseLine and RecommendedItem
        # have neither.
        @property
        def event_id(self) -> str: ...

        @property
        def timestamp(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ClickSource(Record):
    SCHEMA = "socialpulse.v1.ClickSource"
    _TIMESTAMPS = ()
    channel: str = "direct"
    shared_by: str | None = None
    recommendation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Click(Record):
    SCHEMA = "socialpulse.v1.Click"
    _NESTED = {"source": ClickSource}
    event_id: str
    user_id: str
    item_id: str
    session_id: str
    type: ClickType
    timestamp: int
    source: ClickSource = field(default_factory=ClickSource)
    device: str | None = None


@dataclass(frozen=True, slots=True)
class PurchaseLine(Record):
    SCHEMA = "socialpulse.v1.PurchaseLine"
    _TIMESTAMPS = ()
    item_id: str
    quantity: int
    unit_price: int


@dataclass(frozen=True, slots=True)
class Purchase(Record):
    SCHEMA = "socialpulse.v1.Purchase"
    _NESTED_LISTS = {"lines": PurchaseLine}
    order_id: str
    user_id: str
    lines: tuple[PurchaseLine, ...]
    currency: str
    timestamp: int

    @property
    def event_id(self) -> str:
        return self.order_id

    def to_avro(self) -> dict[str, Any]:
        data = Record.to_avro(self)
        data["lines"] = list(data["lines"])
        return data


@dataclass(frozen=True, slots=True)
class Review(Record):
    SCHEMA = "socialpulse.v1.Review"
    review_id: str
    user_id: str
    item_id: str
    stars: int
    text: str
    language: str
    timestamp: int

    @property
    def event_id(self) -> str:
        return self.review_id


@dataclass(frozen=True, slots=True)
class Social(Record):
    SCHEMA = "socialpulse.v1.Social"
    event_id: str
    type: SocialType
    actor_id: str
    timestamp: int
    target_user_id: str | None = None
    target_item_id: str | None = None


@dataclass(frozen=True, slots=True)
class Item(Record):
    SCHEMA = "socialpulse.v1.Item"
    item_id: str
    title: str
    category_path: tuple[str, ...]
    price: int
    in_stock: bool
    timestamp: int
    currency: str = "USD"
    tags: tuple[str, ...] = ()
    seller_id: str | None = None

    @property
    def event_id(self) -> str:
        return f"{self.item_id}@{self.timestamp}"

    @property
    def category(self) -> str:
        """Leaf category, or '' when uncategorised."""
        return self.category_path[-1] if self.category_path else ""

    def to_avro(self) -> dict[str, Any]:
        data = Record.to_avro(self)
        data["category_path"] = list(self.category_path)
        data["tags"] = list(self.tags)
        return data


@dataclass(frozen=True, slots=True)
class RecommendedItem(Record):
    SCHEMA = "socialpulse.v1.RecommendedItem"
    _TIMESTAMPS = ()
    item_id: str
    score: float
    source: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Recommendation(Record):
    SCHEMA = "socialpulse.v1.Recommendation"
    _TIMESTAMPS = ("timestamp", "event_timestamp")
    _NESTED_LISTS = {"items": RecommendedItem}
    recommendation_id: str
    user_id: str
    trigger_event_id: str
    items: tuple[RecommendedItem, ...]
    event_timestamp: int
    timestamp: int
    model_versions: dict[str, str] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return self.recommendation_id

    def to_avro(self) -> dict[str, Any]:
        data = Record.to_avro(self)
        data["items"] = list(data["items"])
        return data


@dataclass(frozen=True, slots=True)
class MarketingTrigger(Record):
    SCHEMA = "socialpulse.v1.MarketingTrigger"
    trigger_id: str
    user_id: str
    campaign: str
    reason: str
    channel: Channel
    holdout: bool
    timestamp: int
    payload: dict[str, str] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return self.trigger_id


@dataclass(frozen=True, slots=True)
class Conversion(Record):
    SCHEMA = "socialpulse.v1.Conversion"
    conversion_id: str
    order_id: str
    user_id: str
    item_id: str
    attributed_kind: AttributionKind
    attributed_id: str
    revenue: int
    latency_ms: int
    timestamp: int
    campaign: str | None = None
    source: str | None = None

    @property
    def event_id(self) -> str:
        return self.conversion_id


@dataclass(frozen=True, slots=True)
class DeadLetter(Record):
    SCHEMA = "socialpulse.v1.DeadLetter"
    source_topic: str
    partition: int
    offset: int
    error_type: str
    error_message: str
    timestamp: int
    key: bytes | None = None
    value: bytes | None = None

    @property
    def event_id(self) -> str:
        return f"{self.source_topic}[{self.partition}]@{self.offset}"


# Short schema name -> record class; the .avsc file of each is <snake_case name>.avsc.
RECORD_TYPES: dict[str, type[Record]] = {
    "Click": Click,
    "Purchase": Purchase,
    "Review": Review,
    "Social": Social,
    "Item": Item,
    "Recommendation": Recommendation,
    "MarketingTrigger": MarketingTrigger,
    "Conversion": Conversion,
    "DeadLetter": DeadLetter,
}
