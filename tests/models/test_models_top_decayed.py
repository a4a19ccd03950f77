"""The ordered read of decayed rows (``_state.top_decayed``) gives exactly what a full decay and sort gives."""

from __future__ import annotations

import random
from collections.abc import Iterator

from socialpulse.models import _state
from socialpulse.models._state import add_decayed, decayed, derive_order, prune, top_decayed

HL = 7 * 86_400_000
T0 = 1_704_067_200_000


def reference(entries: dict[str, list], now: int, n: int) -> list[tuple[float, str]]:
    return sorted(decayed(entries, now, HL))[:n]


def evolving_row(seed: int, steps: int) -> Iterator[tuple[int, dict[str, list], int, random.Random]]:
    """(step, row, its newest update time, rng) after each of ``steps`` random updates and prunes."""
    rng = random.Random(seed)
    entries: dict[str, list] = {}
    now = T0
    for step in range(steps):
        now += rng.choice((0, 1, 1000, 3_600_000))
        old = entries
        entries = dict(old)
        changed = [f"i{rng.randrange(150)}" for _ in range(rng.choice((1, 1, 3)))]
        for k in changed:
            # Integer increments at shared timestamps make exact ties common.
            entries[k] = add_decayed(entries.get(k), float(rng.choice((1, 2, 3))), now, HL)
        derive_order(old, entries, changed, HL)
        entries = prune(entries, now, HL, 50)
        yield step, entries, now, rng


def test_matches_full_sort_through_updates_prunes_and_ties() -> None:
    for step, entries, now, rng in evolving_row(3, 3000):
        for n in (1, 20, 50, 99):
            later = now + rng.choice((0, 5, 86_400_000))
            assert top_decayed(entries, later, HL, n) == reference(entries, later, n), step


def test_reads_before_most_entries_last_update_match_the_full_sort() -> None:
    # Few distinct weights: the entries not decayed yet tie often, and ties go to the smaller key.
    entries = {f"i{k}": [float(k % 7 + 1), T0 + k * 1000] for k in range(100)}
    for now in (T0 - 1, T0, T0 + 50_000, T0 + 99_000, T0 + 10**9):
        for n in (1, 10, 60, 99):
            assert top_decayed(entries, now, HL, n) == reference(entries, now, n), (now, n)


def test_reads_before_some_entries_last_update_match_the_full_sort() -> None:
    # Topics replayed at different paces: a list is read at an event time before some of its entries.
    for step, entries, now, rng in evolving_row(11, 2000):
        for n in (1, 20, 50):
            earlier = now - rng.choice((1, 1000, 3_600_000, 86_400_000))
            assert top_decayed(entries, earlier, HL, n) == reference(entries, earlier, n), step


def test_zero_weights_are_not_ordered_by_logarithm() -> None:
    entries = {f"i{k}": [0.0 if k % 3 == 0 else float(k), T0] for k in range(60)}
    assert top_decayed(entries, T0 + 1000, HL, 25) == reference(entries, T0 + 1000, 25)


def test_cache_stays_bounded_in_entries(monkeypatch) -> None:
    """Bounded by the entries it orders, so rows that grow through a run cannot grow its memory."""
    monkeypatch.setattr(_state, "_orders", _state._OrderCache(300))
    rows = [{f"i{k}": [float(k + r), T0] for k in range(10 + r)} for r in range(50)]
    for row in rows:
        assert top_decayed(row, T0 + 1, HL, 5) == reference(row, T0 + 1, 5)
        assert _state._orders.entries == sum(len(o.entries) for o in _state._orders._by_id.values()) <= 300
    assert 0 < len(_state._orders) < 10  # the latest rows, 50-59 entries each
    # An order carried over to a row's next version replaces the old one in the count.
    row = rows[-1]
    top_decayed(row, T0 + 1, HL, 5)
    before = _state._orders.entries
    changed = dict(row) | {"i0": [100.0, T0 + 1]}
    _state.derive_order(row, changed, ["i0"], HL)
    assert _state._orders.entries == before and _state._orders.get(id(row)) is None
    assert top_decayed(changed, T0 + 2, HL, 5) == reference(changed, T0 + 2, 5)


def test_best_first_matches_a_full_sort() -> None:
    rng = random.Random(5)
    for _ in range(300):
        scores = {f"k{rng.randrange(500)}": float(rng.choice((-1, 0, 1, 2, 2, 3)) * rng.choice((1, 0.5)))
                  for _ in range(rng.randrange(0, 80))}
        for n in (1, 5, 20, 100):
            assert _state.best_first(scores, n) == sorted((-s, k) for k, s in scores.items())[:n]
            assert _state.best_first(scores, n, positive=True) == sorted(
                (-s, k) for k, s in scores.items() if s > 0)[:n]
