"""SOCIALPULSE_REC_SOURCE_WEIGHTS: a shop tunes the candidate sources without code."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable

import pytest

from socialpulse.agents import pipeline
from socialpulse.agents.app import model_config
from socialpulse.agents.scoring import engine_version
from socialpulse.models import candidates
from socialpulse.models.config import DEFAULT_SOURCE_WEIGHTS, parse_source_weights
from socialpulse.schemas import Click, Item, Purchase, Review, Social
from socialpulse.streams.settings import Settings, SettingsError
from socialpulse.streams.simulator import SimConfig, generate


def test_parse_overrides_only_the_named_sources() -> None:
    assert parse_source_weights("") == DEFAULT_SOURCE_WEIGHTS
    weights = parse_source_weights("item_cf=0.5, taste=0")
    assert weights["item_cf"] == 0.5 and weights["taste"] == 0.0
    assert {k: v for k, v in weights.items() if k not in ("item_cf", "taste")} == \
        {k: v for k, v in DEFAULT_SOURCE_WEIGHTS.items() if k not in ("item_cf", "taste")}


@pytest.mark.parametrize("text", ["itemcf=1", "item_cf", "item_cf=-1", "item_cf=nan", "item_cf=x"])
def test_parse_rejects_unknown_sources_and_bad_weights(text: str) -> None:
    with pytest.raises(ValueError, match=r"item_?cf"):
        parse_source_weights(text)


def test_settings_reach_the_models_and_the_model_version() -> None:
    tuned = model_config(Settings(rec_source_weights="item_cf=0.7"))
    assert tuned.source_weights["item_cf"] == 0.7
    assert engine_version(tuned) != engine_version(model_config(Settings()))
    with pytest.raises(SettingsError, match="SOCIALPULSE_REC_SOURCE_WEIGHTS"):
        model_config(Settings(rec_source_weights="trendy=1"))


def test_worker_refuses_an_unknown_source_before_starting() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALPULSE_")}
    env["SOCIALPULSE_REC_SOURCE_WEIGHTS"] = "trendy=1"
    result = subprocess.run([sys.executable, "-c", "from socialpulse.agents.cli import main; main()", "worker"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "error: SOCIALPULSE_REC_SOURCE_WEIGHTS" in result.stderr and "trendy" in result.stderr


def _top_sources(weights: str) -> Counter[str]:
    """Strongest source of every listed item, over simulated traffic through the pipeline functions."""
    cfg = model_config(Settings(rec_debounce_ms=0, rec_source_weights=weights))
    handlers: dict[type, Callable[..., pipeline.Outputs]] = {
        Click: pipeline.on_click, Purchase: pipeline.on_purchase, Review: pipeline.on_review,
        Social: pipeline.on_social}
    store: dict = {}
    catalogue = {}
    sources: Counter[str] = Counter()
    for offset, record in enumerate(generate(SimConfig(users=60, items=80, events=1500, seed=3))):
        if isinstance(record, Item):
            catalogue[record.item_id] = pipeline.item_info(record)
            continue
        out = handlers[type(record)](store, catalogue, record, offset, 0, cfg)
        sources.update(item.source for rec in out.recommendations for item in rec.items)
    return sources


def test_weights_change_which_sources_fill_the_lists() -> None:
    default, item_cf_first = _top_sources(""), _top_sources("item_cf=5,taste=0")
    assert default["taste"] > default["item_cf"]
    assert item_cf_first["taste"] == 0
    assert item_cf_first["item_cf"] > 2 * default["item_cf"]


def test_parse_refuses_turning_off_what_cold_start_users_get() -> None:
    assert parse_source_weights("trending=0")["popular"] > 0  # popular alone still fills a new user's list
    with pytest.raises(ValueError, match="without history"):
        parse_source_weights("trending=0,popular=0")


def test_a_source_at_weight_zero_is_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a source at weight 0 was computed")

    monkeypatch.setattr(candidates, "_item_cf", refuse)
    monkeypatch.setattr(candidates, "_content", refuse)
    monkeypatch.setattr(candidates.user_cf, "candidates", refuse)
    sources = _top_sources("item_cf=0,content=0,user_cf=0")
    assert sources["taste"] > 0
    assert not {"item_cf", "content", "user_cf"} & set(sources)
