"""Replay loaders read ../shared/datasets in place; every record must fit the Avro contract."""

from __future__ import annotations

import io
import itertools
import json
from collections import Counter
from pathlib import Path

import fastavro
import pytest

from socialpulse.agents import pipeline
from socialpulse.models.config import ModelConfig
from socialpulse.schemas import registry
from socialpulse.schemas.records import Click, Item, Purchase, Record, Review, Social
from socialpulse.streams.replay import FieldMapping, default_datasets_dir, load, load_mapped, load_movielens

DATASETS = default_datasets_dir()


def check_stream(records: list[Record], stride: int = 1) -> Counter[str]:
    """Items first, timestamps non-decreasing, every event's item in the catalogue, Avro-encodable."""
    assert records, "empty stream"
    n_items = next((k for k, r in enumerate(records) if not isinstance(r, Item)), len(records))
    catalogue = {r.item_id for r in records[:n_items] if isinstance(r, Item)}
    assert len(catalogue) == n_items
    assert not any(isinstance(r, Item) for r in records[n_items:])
    assert all(a.timestamp <= b.timestamp for a, b in itertools.pairwise(records))
    for r in records[n_items:]:
        if isinstance(r, Click | Review):
            assert r.item_id in catalogue
        elif isinstance(r, Purchase):
            assert all(line.item_id in catalogue for line in r.lines)
    for r in itertools.chain(records[:50], records[::stride], records[-50:]):
        fastavro.schemaless_writer(io.BytesIO(), registry.current(type(r).__name__).parsed, r.to_avro())
    return Counter(type(r).__name__ for r in records)


def test_taobao() -> None:
    records = list(load("taobao", datasets_dir=DATASETS))
    counts = check_stream(records)
    # README: 4,321 rows, 3,276 items; pv 3,926 / cart 190 / fav 128 / buy 77.
    assert counts == {"Item": 3276, "Click": 4244, "Purchase": 77}
    kinds = Counter(r.type for r in records if isinstance(r, Click))
    assert kinds == {"view": 3926, "add_to_cart": 190, "wishlist": 128}


def test_diginetica() -> None:
    records = list(load("diginetica", datasets_dir=DATASETS))
    assert check_stream(records) == {"Item": 7139, "Click": 12391}
    assert len({r.session_id for r in records if isinstance(r, Click)}) == 2986
    # The sample has no categories: its items are uncategorised, not all in one placeholder category.
    assert all(r.category == "" for r in records if isinstance(r, Item))


def test_uncategorised_replay_fills_whole_lists() -> None:
    """With a shared placeholder category the diversity cap cut every list to max_per_category items."""
    cfg = ModelConfig(debounce_ms=0)
    store: dict = {}
    catalogue = {}
    sizes = []
    for offset, r in enumerate(load("diginetica", datasets_dir=DATASETS)):
        if isinstance(r, Item):
            catalogue[r.item_id] = pipeline.item_info(r)
        elif isinstance(r, Click) and offset < 10_000:
            sizes += [len(rec.items) for rec in pipeline.on_click(store, catalogue, r, offset, r.timestamp,
                                                                  cfg).recommendations]
    assert len(sizes) > 1000 and max(sizes) == cfg.k > cfg.max_per_category
    assert sum(n == cfg.k for n in sizes) > len(sizes) / 2


@pytest.mark.parametrize(
    ("name", "users", "items", "interactions"),
    [("beauty", 22363, 12101, 198502), ("toys", 19412, 11924, 167597), ("lastfm-seq", 1090, 3646, 52551)],
)
def test_s3rec_sequences(name: str, users: int, items: int, interactions: int) -> None:
    records = list(load(name, datasets_dir=DATASETS))
    assert check_stream(records, stride=97) == {"Item": items, "Click": interactions}
    assert len({r.user_id for r in records if isinstance(r, Click)}) == users
    # item2attributes gives categories
    assert all(isinstance(r, Item) and r.category_path for r in records[:items])


def test_s3rec_keeps_each_users_order() -> None:
    first_line = (DATASETS / "amazon-seq-s3rec/Beauty.txt").read_text("utf-8").splitlines()[0].split()
    records = load("beauty", datasets_dir=DATASETS, limit=50)
    seq = [r.item_id for r in records if isinstance(r, Click) and r.user_id == first_line[0]]
    assert seq == first_line[1:]


def test_amazon_fashion() -> None:
    records = list(load("amazon-fashion", datasets_dir=DATASETS))
    # README: 3,176 reviews, 406 users, 31 items; one row has a null rating (view kept, review dropped).
    assert check_stream(records) == {"Item": 31, "Click": 3176, "Review": 3175}
    assert len({r.user_id for r in records if isinstance(r, Review)}) == 406
    assert {r.stars for r in records if isinstance(r, Review)} <= {1, 2, 3, 4, 5}


def test_lastfm() -> None:
    records = list(load("lastfm", datasets_dir=DATASETS))
    counts = check_stream(records, stride=101)
    # README: 25,434 directed friend pairs; 1,892 users and 17,632 artists in user_artists.
    assert counts["Social"] == 25434 and counts["Item"] == 17632
    assert len({r.user_id for r in records if isinstance(r, Click)}) == 1892
    tagged = [r for r in records if isinstance(r, Item) and r.tags]
    assert len(tagged) > 10000 and all(r.category_path[0] == r.tags[0] for r in tagged)


def test_epinions_limited() -> None:
    records = list(load("epinions", datasets_dir=DATASETS, limit=5000))
    counts = check_stream(records, stride=7)
    assert counts["Social"] == 5000 and counts["Review"] == 5000
    assert all(r.type == "follow" for r in records if isinstance(r, Social))
    cats = {r.category_path[0] for r in records if isinstance(r, Item)}
    lines = (DATASETS / "epinions-tang2012/categories.txt").read_text().splitlines()
    names = {line.partition(" ")[2] for line in lines}
    assert cats <= names and len(cats) > 5


def test_movielens_on_a_small_file(tmp_path: Path) -> None:
    inter = tmp_path / "ml-100k.inter"
    inter.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t377\t5\t881250950\n",
        "utf-8",
    )
    records = list(load_movielens(inter))
    assert check_stream(records) == {"Item": 3, "Click": 4, "Review": 4}
    reviews = [r for r in records if isinstance(r, Review)]
    assert [(r.user_id, r.item_id, r.stars) for r in reviews] == [
        ("22", "377", 1), ("196", "242", 3), ("196", "377", 5), ("186", "302", 3)
    ]
    assert reviews[0].timestamp == 878887116000


def test_mapped_csv_with_toml(tmp_path: Path) -> None:
    log = tmp_path / "shop.csv"
    log.write_text(
        "uid,sku,when,action,cat,amount\n"
        "a,x,2024-01-01T10:00:00,pv,shoes,\n"
        "a,x,2024-01-01T10:01:00,buy,shoes,1999\n"
        "b,y,2024-01-01T09:00:00,pv,,\n",
        "utf-8",
    )
    (tmp_path / "map.toml").write_text(
        'timestamp_unit = "iso"\n'
        '[columns]\nuser_id = "uid"\nitem_id = "sku"\ntimestamp = "when"\ntype = "action"\n'
        'category = "cat"\nprice = "amount"\n[types]\npv = "view"\nbuy = "purchase"\n',
        "utf-8",
    )
    records = list(load_mapped(log, FieldMapping.from_file(tmp_path / "map.toml")))
    check_stream(records)
    items = {r.item_id: r for r in records if isinstance(r, Item)}
    assert items["x"].category_path == ("shoes",) and items["x"].price == 1999
    assert items["y"].category_path == ()  # no category column value: uncategorised
    assert [type(r).__name__ for r in records[2:]] == ["Click", "Click", "Purchase"]
    third = records[2]
    assert isinstance(third, Click) and third.user_id == "b"


def test_mapped_jsonl_reviews(tmp_path: Path) -> None:
    log = tmp_path / "reviews.jsonl"
    rows = [{"u": "a", "i": "x", "t": 1700000000, "r": 4, "txt": "好"}, {"u": "b", "i": "x", "t": 1700000001, "r": 2}]
    log.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    mapping = FieldMapping({"user_id": "u", "item_id": "i", "timestamp": "t", "stars": "r", "text": "txt"}, {}, "s")
    records = list(load_mapped(log, mapping))
    check_stream(records)
    assert [(r.stars, r.text, r.timestamp) for r in records if isinstance(r, Review)] == [
        (4, "好", 1700000000000), (2, "", 1700000001000)
    ]


def test_mapping_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="missing"):
        FieldMapping({"user_id": "u", "item_id": "i"})
    with pytest.raises(ValueError, match="kinds"):
        FieldMapping({"user_id": "u", "item_id": "i", "timestamp": "t"}, {"x": "buy"})
