"""The Avro event contract (``*.avsc``, the source of truth) and typed Python records.

Start with ``records.py`` for the Python side and the ``.avsc`` files for field meanings.
This package imports nothing else of SocialPulse.
"""

from .records import (
    RECORD_TYPES,
    Click,
    ClickSource,
    Conversion,
    DeadLetter,
    Item,
    MarketingTrigger,
    Purchase,
    PurchaseLine,
    Recommendation,
    RecommendedItem,
    Record,
    Review,
    Social,
)

__all__ = [
    "RECORD_TYPES",
    "Click",
    "ClickSource",
    "Conversion",
    "DeadLetter",
    "Item",
    "MarketingTrigger",
    "Purchase",
    "PurchaseLine",
    "Recommendation",
    "RecommendedItem",
    "Record",
    "Review",
    "Social",
]
