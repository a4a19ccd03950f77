"""The typed inputs of the models: one interaction, and what the catalogue says about an item."""

from __future__ import annotations

from dataclasses import dataclass

#: Sources are input topics; offsets of one source increase within a partition.
SOURCES = ("clicks", "purchases", "reviews", "social", "social-edges", "social-signals")

#: Lines of one record (an order's lines) share its offset; ``position`` keeps them apart.
LINES_PER_OFFSET = 1024


def position(offset: int, line: int = 0) -> int:
    """Replay position of line ``line`` of the record at ``offset``: what ``applied[source]`` stores."""
    if not 0 <= line < LINES_PER_OFFSET:
        raise ValueError(f"line must be in [0, {LINES_PER_OFFSET}), got {line}")
    return offset * LINES_PER_OFFSET + line


@dataclass(frozen=True, slots=True)
class Interaction:
    """A user acting on an item at event time ``ts_ms``; ``(source, offset, line)`` identifies it for replay.

    ``kind``: view, wishlist, add_to_cart, remove_from_cart, purchase, review (with ``stars``) or share.
    ``line`` numbers the items of one order (0, 1, ...); ``shared_by`` is the user whose share led here.
    """

    user_id: str
    item_id: str
    kind: str
    ts_ms: int
    source: str
    offset: int
    stars: int | None = None
    category: str = ""
    line: int = 0
    shared_by: str | None = None

    @property
    def pos(self) -> int:
        return position(self.offset, self.line)

    @property
    def order_key(self) -> tuple[int, str, int]:
        """Event order used everywhere: event time, then source, then position."""
        return (self.ts_ms, self.source, self.pos)


@dataclass(frozen=True, slots=True)
class ItemInfo:
    """Catalogue state of one item (every partition sees the whole catalogue)."""

    item_id: str
    category: str = ""
    category_path: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    price: int = 0
    in_stock: bool = True
    seller_id: str | None = None
    title: str = ""
