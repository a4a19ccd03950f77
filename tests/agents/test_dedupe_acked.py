"""Faust's commit bookkeeping with repeated acked offsets: dedupe_acked lets commits advance."""

from __future__ import annotations

from collections import defaultdict

from faust.transport.consumer import Consumer
from faust.types import TP

from socialpulse.agents.app import dedupe_acked

TP0, TP1 = TP("clicks", 0), TP("clicks", 1)


class Bookkeeping:
    """The attributes faust-streaming's ``Consumer._new_offset`` reads, with its real method bound."""

    def __init__(self, acked: dict[TP, list[int]], committed: dict[TP, int]) -> None:
        self._acked = defaultdict(list, acked)
        self._acked_index = defaultdict(set, {tp: set(v) for tp, v in acked.items()})
        self._gap: defaultdict = defaultdict(list)
        self._committed_offset: defaultdict[TP, int | None] = defaultdict(lambda: None, committed)

    def new_offset(self, tp: TP) -> int | None:
        return Consumer._new_offset(self, tp)  # type: ignore[arg-type]


def test_repeats_stall_faust_commits_and_dedupe_lets_them_advance() -> None:
    drained = [222, 223, 223, 224, 224, *[o for n in range(225, 400) for o in (n, n)]]
    stuck = Bookkeeping({TP0: list(drained)}, {TP0: 222})
    assert stuck.new_offset(TP0) == 224  # one repeat ends the run: two offsets a commit

    fixed = Bookkeeping({TP0: list(drained), TP1: [5, 6, 7]}, {TP0: 222, TP1: 5})
    acked_list = fixed._acked[TP0]
    assert dedupe_acked(fixed) == len(drained) - len(set(drained))
    assert fixed._acked[TP0] is acked_list and acked_list == list(range(222, 400))  # in place, same offsets
    assert fixed.new_offset(TP0) == 400  # everything processed is committable at once
    assert fixed._acked[TP1] == [5, 6, 7] and dedupe_acked(fixed) == 0
