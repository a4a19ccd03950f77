"""Public datasets (and your own logs) replayed as the event contract.

Every loader yields an :class:`Item` for each item first (category from the dataset where it
has one, else an empty ``category_path``, so the engine neither caps nor groups uncategorised
items as if they shared one category; price 0 where the data has none), then the behaviour in
timestamp order. Datasets without timestamps get synthetic ones (one second apart, or round-robin over
users by sequence position, from :data:`SYNTHETIC_START_MS`). Data are read in place from
``../shared/datasets``; nothing is copied into the repository. Start with :data:`LOADERS`.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import tomllib
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from socialpulse.schemas.records import (
    Click,
    ClickSource,
    Item,
    Purchase,
    PurchaseLine,
    Record,
    Review,
    Social,
)

__all__ = ["LOADERS", "FieldMapping", "default_datasets_dir", "fetch_movielens", "load", "load_mapped"]

SYNTHETIC_START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
UNCATEGORISED = ""  # no category: a shared placeholder would cap every list at max_per_category items
_DAY_MS = 86_400_000
_REPLAY = ClickSource(channel="replay")


def default_datasets_dir() -> Path:
    """``../shared/datasets`` relative to the repository root."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


def _item(item_id: str, ts: int, category: str = UNCATEGORISED, title: str = "", tags: Iterable[str] = (),
          price: int = 0) -> Item:
    return Item(
        item_id=item_id,
        title=title or item_id,
        category_path=(category,) if category else (),
        price=price,
        in_stock=True,
        timestamp=ts,
        tags=tuple(tags),
    )


def _catalogue(categories: Mapping[str, str], ts: int, **extra: Mapping[str, Any]) -> Iterator[Item]:
    titles = extra.get("titles", {})
    tags = extra.get("tags", {})
    for item_id, category in categories.items():
        yield _item(item_id, ts, category, titles.get(item_id, ""), tags.get(item_id, ()))


def _view(eid: str, user: str, item: str, ts: int, session: str, kind: str = "view") -> Click:
    return Click(event_id=eid, user_id=user, item_id=item, session_id=session, type=kind, timestamp=ts, source=_REPLAY)  # type: ignore[arg-type]


def _purchase(oid: str, user: str, item: str, ts: int, price: int = 0, currency: str = "USD") -> Purchase:
    return Purchase(order_id=oid, user_id=user, lines=(PurchaseLine(item, 1, price),), currency=currency, timestamp=ts)


def _day_session(prefix: str, user: str, ts: int) -> str:
    return f"{prefix}-{user}-{ts // _DAY_MS}"


def _sorted(events: list[tuple[int, int, Record]]) -> Iterator[Record]:
    """Records by (timestamp, original position): stable, so ties keep the file's order."""
    events.sort(key=lambda e: (e[0], e[1]))
    return (e[2] for e in events)


def _round_robin(sequences: Mapping[str, list[Any]], start_ms: int) -> Iterator[tuple[int, str, Any]]:
    """Interleave per-user sequences by position: every user's k-th event in day k, users spread over the day."""
    active = [(rank, user, seq) for rank, (user, seq) in enumerate(sequences.items()) if seq]
    step = max(1, _DAY_MS // max(1, len(active)))
    pos = 0
    while active:
        for rank, user, seq in active:
            yield start_ms + pos * _DAY_MS + rank * step, user, seq[pos]
        pos += 1
        active = [entry for entry in active if pos < len(entry[2])]


# --- datasets ------------------------------------------------------------------------------------
def load_taobao(path: Path, limit: int | None = None) -> Iterator[Record]:
    """UserBehavior.csv: pv -> view, cart -> add_to_cart, fav -> wishlist, buy -> Purchase (CNY, price unknown: 0)."""
    kinds = {"pv": "view", "cart": "add_to_cart", "fav": "wishlist"}
    categories: dict[str, str] = {}
    events: list[tuple[int, int, Record]] = []
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f)):
            if limit is not None and n >= limit:
                break
            user, item, ts = row["user_id"], row["item_id"], int(row["timestamp"]) * 1000
            categories.setdefault(item, row["category_id"])
            eid = f"taobao-{n}"
            behaviour = row["behavior_type"]
            if behaviour == "buy":
                rec: Record = _purchase(eid, user, item, ts, currency="CNY")
            else:
                rec = _view(eid, user, item, ts, _day_session("taobao", user, ts), kinds[behaviour])
            events.append((ts, n, rec))
    first = min((e[0] for e in events), default=SYNTHETIC_START_MS)
    yield from _catalogue(categories, first)
    yield from _sorted(events)


def load_diginetica(path: Path, limit: int | None = None) -> Iterator[Record]:
    """Session views; timestamp = event date (UTC midnight) + timeframe; anonymous users become ``anon-<session>``."""
    items: dict[str, str] = {}
    events: list[tuple[int, int, Record]] = []
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f, delimiter=";")):
            if limit is not None and n >= limit:
                break
            day = datetime.strptime(row["eventdate"], "%Y-%m-%d").replace(tzinfo=UTC)
            ts = int(day.timestamp() * 1000) + int(row["timeframe"])
            session = row["session_id"]
            user = row["user_id"] if row["user_id"] not in ("", "NA") else f"anon-{session}"
            items.setdefault(row["item_id"], UNCATEGORISED)
            events.append((ts, n, _view(f"diginetica-{n}", user, row["item_id"], ts, f"diginetica-{session}")))
    first = min((e[0] for e in events), default=SYNTHETIC_START_MS)
    yield from _catalogue(items, first)
    yield from _sorted(events)


def load_s3rec(path: Path, limit: int | None = None) -> Iterator[Record]:
    """``<name>.txt`` sequences (views, synthetic timestamps round-robin by position); categories from
    ``<name>_item2attributes.json``: the attribute ids become the category path (``a<id>``) and tags."""
    sequences: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if limit is not None and n >= limit:
                break
            parts = line.split()
            if parts:
                sequences[parts[0]] = parts[1:]
    attributes: dict[str, list[int]] = {}
    attr_path = path.with_name(path.stem.removesuffix("_sample") + "_item2attributes.json")
    if attr_path.exists():
        attributes = json.loads(attr_path.read_text("utf-8"))
    items: dict[str, None] = {}
    for seq in sequences.values():
        items.update(dict.fromkeys(seq))
    for item_id in items:
        attrs = list(dict.fromkeys(f"a{a}" for a in attributes.get(item_id, ())))
        yield Item(
            item_id=item_id,
            title=f"{path.stem} item {item_id}",
            category_path=tuple(attrs),
            price=0,
            in_stock=True,
            timestamp=SYNTHETIC_START_MS,
            tags=tuple(attrs),
        )
    name = path.stem
    for n, (ts, user, item) in enumerate(_round_robin(sequences, SYNTHETIC_START_MS)):
        yield _view(f"{name}-{n}", user, item, ts, _day_session(name, user, ts))


def load_amazon_fashion(path: Path, limit: int | None = None) -> Iterator[Record]:
    """Each review -> a view Click and a Review (stars = overall) at unixReviewTime; rows without a rating
    keep the view only. Category: AMAZON_FASHION (the dataset's category)."""
    items: dict[str, str] = {}
    events: list[tuple[int, int, Record]] = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if limit is not None and n >= limit:
                break
            row = json.loads(line)
            user, item, ts = row["reviewerID"], row["asin"], int(row["unixReviewTime"]) * 1000
            items.setdefault(item, "AMAZON_FASHION")
            events.append((ts, 2 * n, _view(f"fashion-{n}-view", user, item, ts, _day_session("fashion", user, ts))))
            if row.get("overall") is not None:
                text = " ".join(p for p in (row.get("summary"), row.get("reviewText")) if p)
                review = Review(f"fashion-{n}", user, item, int(row["overall"]), text, "en", ts)
                events.append((ts, 2 * n + 1, review))
    first = min((e[0] for e in events), default=SYNTHETIC_START_MS)
    yield from _catalogue(items, first)
    yield from _sorted(events)


def _read_tsv(path: Path, limit: int | None = None) -> Iterator[dict[str, str]]:
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        for n, row in enumerate(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)):
            if limit is not None and n >= limit:
                break
            yield row


def lastfm_views(weight: int) -> int:
    """Views emitted for a play count: 1 + floor(log10(plays)), at most 5 (plays span 1 to 350k)."""
    return min(5, 1 + int(math.log10(max(1, weight))))


def load_lastfm(path: Path, limit: int | None = None) -> Iterator[Record]:
    """``path`` is the folder. user_friends -> follow (at the start), user_artists -> views weighted by
    :func:`lastfm_views` (synthetic timestamps round-robin by position), tags -> Item tags, the artist's
    most used tag -> category."""
    names = {row["id"]: row["name"] for row in _read_tsv(path / "artists.dat")}
    tag_names = {row["tagID"]: row["tagValue"] for row in _read_tsv(path / "tags.dat")}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for row in _read_tsv(path / "user_taggedartists.dat"):
        counts[row["artistID"]][tag_names.get(row["tagID"], row["tagID"])] += 1
    plays: dict[str, list[str]] = defaultdict(list)
    for row in _read_tsv(path / "user_artists.dat", limit):
        plays[row["userID"]].extend([row["artistID"]] * lastfm_views(int(row["weight"])))
    artists = dict.fromkeys(names)
    for seq in plays.values():
        artists.update(dict.fromkeys(seq))
    for artist in artists:
        tags = [t for t, _ in counts[artist].most_common(5)] if artist in counts else []
        yield _item(artist, SYNTHETIC_START_MS, tags[0] if tags else UNCATEGORISED, names.get(artist, ""), tags)
    for n, row in enumerate(_read_tsv(path / "user_friends.dat", limit)):
        yield Social(f"lastfm-f{n}", "follow", row["userID"], SYNTHETIC_START_MS, target_user_id=row["friendID"])
    for n, (ts, user, artist) in enumerate(_round_robin(plays, SYNTHETIC_START_MS + 1000)):
        yield _view(f"lastfm-{n}", user, artist, ts, _day_session("lastfm", user, ts))


def load_epinions(path: Path, limit: int | None = None) -> Iterator[Record]:
    """``path`` is the folder. trust -> follow (at the start), ratings -> Review with stars (no text:
    language 'other'), one second apart in file order (no timestamps in this release). ``limit``
    caps the rows read from each file; two passes keep memory to the item table."""
    cat_names: dict[str, str] = {}
    for line in (path / "categories.txt").read_text("utf-8").splitlines():
        if line.strip():
            key, _, name = line.strip().partition(" ")
            cat_names[key] = name
    categories: dict[str, str] = {}
    for row in _read_csv(path / "ratings.csv", limit):
        categories.setdefault(row["item_id"], cat_names.get(row["category_id"], UNCATEGORISED))
    yield from _catalogue(categories, SYNTHETIC_START_MS)
    for n, row in enumerate(_read_csv(path / "trust.csv", limit)):
        truster, trustee = row["truster_id"], row["trustee_id"]
        yield Social(f"epinions-t{n}", "follow", truster, SYNTHETIC_START_MS, target_user_id=trustee)
    for n, row in enumerate(_read_csv(path / "ratings.csv", limit)):
        stars = int(row["rating"])
        if 1 <= stars <= 5:
            ts = SYNTHETIC_START_MS + 1000 * (n + 1)
            yield Review(f"epinions-{n}", row["user_id"], row["item_id"], stars, "", "other", ts)


def _read_csv(path: Path, limit: int | None = None, **kw: Any) -> Iterator[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f, **kw)):
            if limit is not None and n >= limit:
                break
            yield row


def load_movielens(path: Path, limit: int | None = None) -> Iterator[Record]:
    """RecBole ``ml-100k.inter`` (user_id, item_id, rating, timestamp; tab-separated, typed header):
    each rating -> a view Click and a Review with stars, in timestamp order. See :func:`fetch_movielens`."""
    items: dict[str, str] = {}
    events: list[tuple[int, int, Record]] = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        header = [h.split(":")[0] for h in next(reader)]
        for n, values in enumerate(reader):
            if limit is not None and n >= limit:
                break
            row = dict(zip(header, values, strict=True))
            user, item, ts = row["user_id"], row["item_id"], int(float(row["timestamp"])) * 1000
            items.setdefault(item, UNCATEGORISED)
            events.append((ts, 2 * n, _view(f"ml100k-{n}-view", user, item, ts, _day_session("ml100k", user, ts))))
            stars = round(float(row["rating"]))
            events.append((ts, 2 * n + 1, Review(f"ml100k-{n}", user, item, stars, "", "other", ts)))
    first = min((e[0] for e in events), default=SYNTHETIC_START_MS)
    yield from _catalogue(items, first)
    yield from _sorted(events)


_ML_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"


def fetch_movielens(cache_dir: Path | None = None) -> Path:
    """Download the recbole==1.2.1 wheel (it carries MovieLens-100K) and extract ``ml-100k.inter`` into
    ``cache_dir`` (default ``<repo>/.cache/datasets``, git-ignored). Idempotent; needs the package index."""
    cache = cache_dir or Path(__file__).resolve().parent.parent / ".cache" / "datasets"
    target = cache / "ml-100k" / "ml-100k.inter"
    if target.exists():
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if not list(wheels.glob("recbole-1.2.1-*.whl")):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "recbole==1.2.1", "-d", str(wheels)]
        subprocess.run(cmd, check=True)
    wheel = next(wheels.glob("recbole-1.2.1-*.whl"))
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf, zf.open(_ML_MEMBER) as src:
        tmp = target.with_suffix(".part")
        tmp.write_bytes(src.read())
        tmp.replace(target)
    return target


# --- your own logs -------------------------------------------------------------------------------
_FIELDS = ("user_id", "item_id", "timestamp", "type", "category", "price", "stars", "text", "language", "session_id")
_KINDS = ("view", "add_to_cart", "remove_from_cart", "wishlist", "purchase", "review")


@dataclass(frozen=True)
class FieldMapping:
    """How a CSV / JSON-lines log maps onto events.

    ``columns`` maps event fields (user_id, item_id, timestamp required; type, category, price,
    stars, text, language, session_id optional) to column names. ``types`` maps values of the type
    column to view / add_to_cart / remove_from_cart / wishlist / purchase / review; without a type
    column a row with stars is a review, else a view. ``timestamp_unit``: s, ms or iso.
    """

    columns: dict[str, str]
    types: dict[str, str] = field(default_factory=dict)
    timestamp_unit: str = "ms"
    format: str = ""  # csv or jsonl; empty: from the file extension
    delimiter: str = ","

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(_FIELDS)
        missing = {"user_id", "item_id", "timestamp"} - set(self.columns)
        if unknown or missing:
            raise ValueError(f"mapping: unknown fields {sorted(unknown)}, missing {sorted(missing)}")
        bad = {v for v in self.types.values() if v not in _KINDS}
        if bad or self.timestamp_unit not in ("s", "ms", "iso"):
            raise ValueError(f"mapping: event kinds must be in {_KINDS} (got {sorted(bad)}); unit s, ms or iso")

    @classmethod
    def from_file(cls, path: Path) -> FieldMapping:
        """TOML or JSON: top-level ``format``, ``delimiter``, ``timestamp_unit``, tables ``columns``, ``types``."""
        text = path.read_text("utf-8")
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return cls(**data)



def _timestamp(value: Any, unit: str) -> int:
    if unit == "iso":
        moment = datetime.fromisoformat(str(value))
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)
    number = float(value)
    return int(number * 1000) if unit == "s" else int(number)


def load_mapped(path: Path, mapping: FieldMapping, limit: int | None = None) -> Iterator[Record]:
    """Your own log through ``mapping``: Items first (category column or none, last price seen), then events."""
    fmt = mapping.format or ("jsonl" if path.suffix in (".jsonl", ".json", ".ndjson") else "csv")
    col = mapping.columns

    def rows() -> Iterator[dict[str, Any]]:
        with open(path, newline="", encoding="utf-8") as f:
            source: Iterable[Any] = (
                (json.loads(line) for line in f if line.strip())
                if fmt == "jsonl"
                else csv.DictReader(f, delimiter=mapping.delimiter)
            )
            for n, row in enumerate(source):
                if limit is not None and n >= limit:
                    break
                yield row

    def get(row: Mapping[str, Any], name: str) -> Any:
        value = row.get(col[name]) if name in col else None
        return None if value == "" else value

    categories: dict[str, str] = {}
    prices: dict[str, int] = {}
    events: list[tuple[int, int, Record]] = []
    stem = path.stem
    for n, row in enumerate(rows()):
        user, item = str(get(row, "user_id")), str(get(row, "item_id"))
        ts = _timestamp(get(row, "timestamp"), mapping.timestamp_unit)
        category = get(row, "category")
        if category is not None or item not in categories:
            categories[item] = str(category) if category is not None else categories.get(item, UNCATEGORISED)
        price = get(row, "price")
        if price is not None:
            prices[item] = round(float(price))
        raw_type, stars = get(row, "type"), get(row, "stars")
        kind = mapping.types.get(str(raw_type), str(raw_type)) if raw_type is not None else None
        kind = kind or ("review" if stars is not None else "view")
        session = str(get(row, "session_id") or _day_session(stem, user, ts))
        eid = f"{stem}-{n}"
        if kind == "purchase":
            rec: Record = _purchase(eid, user, item, ts, prices.get(item, 0))
        elif kind == "review":
            text = str(get(row, "text") or "")
            rec = Review(eid, user, item, round(float(stars or 0)), text, str(get(row, "language") or "other"), ts)
        elif kind in _KINDS:
            rec = _view(eid, user, item, ts, session, kind)
        else:
            raise ValueError(f"{path}:{n + 1}: event type {raw_type!r} is not mapped (use [types])")
        events.append((ts, n, rec))
    first = min((e[0] for e in events), default=SYNTHETIC_START_MS)
    for item, category in categories.items():
        yield _item(item, first, category, price=prices.get(item, 0))
    yield from _sorted(events)


# --- registry and CLI ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Dataset:
    """A replayable dataset: its loader and default path under the datasets folder."""

    loader: Callable[[Path, int | None], Iterator[Record]]
    default_path: str  # relative to the datasets folder
    doc: str


LOADERS: dict[str, Dataset] = {
    "taobao": Dataset(load_taobao, "taobao-userbehavior-sample/UserBehavior_sample.csv", "pv/cart/fav/buy events"),
    "diginetica": Dataset(load_diginetica, "diginetica-cikm16-sample/sample_train-item-views.csv", "session views"),
    "beauty": Dataset(load_s3rec, "amazon-seq-s3rec/Beauty.txt", "Amazon Beauty sequences"),
    "toys": Dataset(load_s3rec, "amazon-seq-s3rec/Toys_and_Games.txt", "Amazon Toys sequences"),
    "lastfm-seq": Dataset(load_s3rec, "amazon-seq-s3rec/LastFM.txt", "LastFM sequences (S3-Rec)"),
    "amazon-fashion": Dataset(load_amazon_fashion, "amazon-fashion-5core-2018/AMAZON_FASHION_5.json", "reviews"),
    "lastfm": Dataset(load_lastfm, "lastfm-hetrec2011-2k", "plays, friendships, tags"),
    "epinions": Dataset(load_epinions, "epinions-tang2012", "ratings and trust (large: use --limit)"),
    "movielens": Dataset(load_movielens, "", "MovieLens-100K from the recbole wheel (--fetch or --path)"),
}


def load(
    name: str, path: Path | None = None, datasets_dir: Path | None = None, limit: int | None = None
) -> Iterator[Record]:
    """Records of dataset ``name`` (a key of :data:`LOADERS`) from ``path`` or its default location."""
    if name not in LOADERS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}")
    spec = LOADERS[name]
    if path is None:
        if not spec.default_path:
            raise ValueError(f"{name}: give --path (or --fetch for movielens)")
        path = (datasets_dir or default_datasets_dir()) / spec.default_path
    return spec.loader(path, limit)


def _parse_columns(options: list[str]) -> dict[str, str]:
    pairs = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise typer.BadParameter(f"--column wants field=column, got {option!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def replay_command(
    dataset: str = typer.Argument(..., help=f"One of: {', '.join(LOADERS)}, or 'custom' with --mapping/--column."),
    path: Path | None = typer.Option(None, help="File or folder to read instead of the default location."),
    datasets_dir: Path = typer.Option(default_datasets_dir(), help="Root of the shared datasets."),
    speedup: float | None = typer.Option(None, help="Replay event time this many times faster."),
    as_fast_as_possible: bool = typer.Option(False, "--as-fast-as-possible", help="No pacing (the default)."),
    limit: int | None = typer.Option(None, help="Read at most this many rows per input file."),
    out: Path | None = typer.Option(None, help="Write JSON lines here instead of producing to Kafka."),
    mapping: Path | None = typer.Option(None, help="custom: TOML/JSON mapping file (see FieldMapping)."),
    column: list[str] = typer.Option([], help="custom: field=column, repeatable (user_id, item_id, timestamp, ...)."),
    timestamp_unit: str = typer.Option("ms", help="custom with --column: s, ms or iso."),
    fetch: bool = typer.Option(False, help="movielens: download the recbole wheel into .cache/ first."),
) -> None:
    """Replay a dataset (or your own CSV / JSON-lines log) as events on the input topics."""
    from .simulator import produce, write_jsonl

    if speedup is not None and as_fast_as_possible:
        raise typer.BadParameter("--speedup and --as-fast-as-possible exclude each other")
    if dataset == "custom":
        if path is None:
            raise typer.BadParameter("custom needs --path")
        fm = FieldMapping.from_file(mapping) if mapping else FieldMapping(_parse_columns(column), {}, timestamp_unit)
        records = load_mapped(path, fm, limit)
    else:
        if dataset == "movielens" and path is None and fetch:
            path = fetch_movielens()
        records = load(dataset, path, datasets_dir, limit)
    if out is not None:
        from tqdm import tqdm

        count = write_jsonl(tqdm(records, desc=dataset, unit="ev"), out)
    else:
        from .settings import Settings

        count = produce(records, Settings.from_env(), speedup=speedup, description=dataset)
    typer.echo(f"{count} records {'written to ' + str(out) if out else 'produced'}")
