"""What a computation read from the project-wide tables: keys noted in nested frames.

Only while `recording()` is on. A frame is opened around a unit of work (one file's contexts) and around
each memoised value; a table lookup notes its key in the innermost frame; a closed frame's keys also
count for the frame around it, and a memo hit adds the keys its value was worked out from. An edit then
redoes the units that read a key some changed file provides differently (analyzers.lockgraph_incremental).
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator

FRAMES: list[set] = []
EMPTY: frozenset = frozenset()
# A value worked out from more keys than this is taken to read every key (ANY): each memoised value carries
# the keys of those it was worked out from, so along a chain of n callers the sets grow to n and copying them
# costs n^2 (a generated file of 9,500 chained functions: ST.015 40 s of a 70 s run). The 2.6.0 source
# tops out at 688 keys (20 MB subset), the fork tree at 418.
MAX_KEYS = 4096
ANY = ("*",)
EVERYTHING: frozenset = frozenset({ANY})
_ON = [False]
_SHARED: dict[frozenset, frozenset] = {}


@contextmanager
def recording() -> Iterator[None]:
    """Note lookups in frames while the block runs (off elsewhere: frames cost time and memory). Nested
    (the lock graph's own recording inside a structural run's), the outer block goes on recording."""
    outer = _ON[0]
    _ON[0] = True
    try:
        yield
    finally:
        _ON[0] = outer
        if not outer:
            FRAMES.clear()
            _SHARED.clear()


def on() -> bool:
    """Whether lookups are being noted."""
    return _ON[0]


def note(key: tuple) -> None:
    """Record that the current computation read `key`."""
    if FRAMES:
        FRAMES[-1].add(key)


def note_all(keys: frozenset | None) -> None:
    """Record the keys a memoised value was worked out from."""
    if FRAMES and keys:
        FRAMES[-1].update(keys)


def open_frame() -> None:
    """Start collecting the keys of one unit or memoised value."""
    if _ON[0]:
        FRAMES.append(set())


def close_frame() -> frozenset:
    """The keys of the innermost frame, closed; they also count for the frame around it."""
    if not _ON[0]:
        return EMPTY
    keys = FRAMES.pop()
    keys = EVERYTHING if ANY in keys or len(keys) > MAX_KEYS else frozenset(keys)
    keys = _SHARED.setdefault(keys, keys)     # many memoised values read the same keys: one set for them all
    if FRAMES:
        FRAMES[-1].update(keys)
    return keys


def unaffected(read: frozenset, changed) -> bool:
    """Whether a value that read `read` stands after the keys in `changed` changed (ANY: any change)."""
    return read.isdisjoint(changed) and (ANY not in read or not changed)


def worked_out(deps: dict, key: object, compute):
    """compute(), in a frame of its own whose keys are kept as deps[key]: what a memoised value read."""
    open_frame()
    try:
        return compute()
    finally:
        close_into(deps, key)


def memoised(memo: dict, deps: dict, key: object, compute):
    """memo[key], worked out by compute() in a frame of its own the first time; either way the keys it was
    worked out from count for the current frame (a memo shared by the files of a run)."""
    if key in memo:
        note_all(deps.get(key))
        return memo[key]
    value = memo[key] = worked_out(deps, key, compute)
    return value


def recall(deps: dict, key: object) -> None:
    """A memo hit: the keys its value was worked out from count for the current frame too."""
    note_all(deps.get(key))


def close_into(deps: dict, key: object) -> None:
    """Close the innermost frame and keep its keys as deps[key] (nothing kept when there are none)."""
    keys = close_frame()
    if keys:
        deps[key] = keys


class Noted(defaultdict):
    """A table whose lookups (get, [], in) are noted under (ns, key)."""

    def __init__(self, ns: str, factory=None):
        super().__init__(factory)
        self.ns = ns

    def get(self, key, default=None):
        note((self.ns, key))
        return dict.get(self, key, default)

    def __getitem__(self, key):
        note((self.ns, key))
        return defaultdict.__getitem__(self, key)

    def __contains__(self, key):
        note((self.ns, key))
        return dict.__contains__(self, key)


def table(ns: str, factory=None) -> dict:
    """A Noted table while recording, else a plain one (a dict, or a defaultdict of `factory`)."""
    if _ON[0]:
        return Noted(ns, factory)
    return defaultdict(factory) if factory is not None else {}
