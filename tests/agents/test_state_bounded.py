"""Every per-user key the engine writes is bounded by the user TTL and cap, not by how many users came.

Simulated traffic (follows, clicks from shares, purchases, recommendations) runs through the engine's
handlers into one partition's store, with fan-out applied as the internal topics would, and swept as
the worker sweeps. Far more users come than the cap allows; after each sweep, each kind of per-user
key (profile, recent recommendations, followers, influence) stays within it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from socialpulse.agents import pipeline
from socialpulse.agents.app import model_config
from socialpulse.models.learn import sweep
from socialpulse.schemas import Click, Item, Purchase, Review, Social
from socialpulse.streams.settings import Settings
from socialpulse.streams.simulator import SimConfig, generate

CAP = 150
CFG = dataclasses.replace(model_config(Settings()), max_users_tracked=CAP, user_ttl_ms=20 * 60_000)
HANDLERS = {Click: pipeline.on_click, Purchase: pipeline.on_purchase, Review: pipeline.on_review,
            Social: pipeline.on_social}
USER_KEYS = ("u:", "rr:", "fo:", "inf:")


def _apply_fanout(store: dict, out: pipeline.Outputs) -> None:
    for fan in out.fanout:
        apply = pipeline.on_social_edge if fan.topic == "social-edges" else pipeline.on_social_signal
        apply(store, fan.key, fan.value, 0, CFG)


def test_per_user_keys_stay_within_the_cap() -> None:
    store: dict = {}
    catalogue = {}
    offsets: Counter[type] = Counter()
    users: set[str] = set()
    peak: Counter[str] = Counter()
    high = 0
    for n, record in enumerate(generate(SimConfig(users=800, items=150, events=16_000, seed=5))):
        if isinstance(record, Item):
            catalogue[record.item_id] = pipeline.item_info(record)
            continue
        kind = type(record)
        out = HANDLERS[kind](store, catalogue, record, offsets[kind], 0, CFG)  # type: ignore[operator]
        offsets[kind] += 1
        _apply_fanout(store, out)
        assert isinstance(record, Click | Purchase | Review | Social)
        users.add(record.actor_id if isinstance(record, Social) else record.user_id)
        high = max(high, record.timestamp)
        if n % 1_000 == 999:
            sweep(store, high, CFG)
            counts = Counter(prefix for k in store for prefix in USER_KEYS if k.startswith(prefix))
            for prefix in USER_KEYS:
                assert counts[prefix] <= CAP, (prefix, counts)
                peak[prefix] = max(peak[prefix], counts[prefix])
    # The run has the traffic to break the cap, and it writes every kind of key the sweep bounds.
    assert len(users) > 3 * CAP
    assert all(peak[prefix] > 0 for prefix in USER_KEYS), peak
