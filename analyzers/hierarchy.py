"""The declared lock hierarchy (`specs/lock_hierarchy.yaml`), shared by the TLA+ model and the lock graph."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mpsverify_base.errors import UsageError
from mpsverify_base.config import read_yaml
from mpsverify_base.paths import LOCK_HIERARCHY

DEFAULT_PATH = LOCK_HIERARCHY
KINDS = ("queue", "mutex", "recursive_mutex", "shared_mutex", "condvar", "gpu")
LOCK_KEYS = {"name", "kind", "level", "owner", "patterns", "description"}


@dataclass(frozen=True)
class LockClass:
    """One lock class of the hierarchy."""

    name: str
    kind: str
    level: int
    owner: str = ""
    patterns: tuple[str, ...] = ()
    description: str = ""

    @property
    def recursive(self) -> bool:
        """Whether the holder may acquire it again."""
        return self.kind == "recursive_mutex"

    def matches(self, expr: str, owner: str = "") -> bool:
        """Whether a lock expression seen in code (and the class declaring it, if known) is this lock."""
        if self.owner and owner and owner.split("::")[-1] != self.owner:
            return False
        return any(re.search(p, expr) for p in self.patterns)


@dataclass(frozen=True)
class Hierarchy:
    """All lock classes, highest level (outermost) first."""

    locks: tuple[LockClass, ...] = field(default_factory=tuple)

    def by_name(self, name: str) -> LockClass | None:
        """The lock class called `name`, or None."""
        return next((lock for lock in self.locks if lock.name == name), None)

    def classify(self, expr: str, owner: str = "") -> LockClass | None:
        """The first lock class whose patterns match a lock expression (owner narrows ties)."""
        hits = [lock for lock in self.locks if lock.matches(expr, owner)]
        if len(hits) > 1 and owner:
            exact = [lock for lock in hits if lock.owner and lock.owner == owner.split("::")[-1]]
            hits = exact or hits
        return hits[0] if hits else None

    def allowed(self, held: str, acquired: str) -> bool:
        """Whether acquiring `acquired` while holding `held` follows the declared order."""
        a, b = self.by_name(held), self.by_name(acquired)
        if a is None or b is None:
            return False
        if a.name == b.name:
            return a.recursive
        return b.level < a.level


def load_hierarchy(path: Path = DEFAULT_PATH) -> Hierarchy:
    """Read and validate the hierarchy file; any problem is a one-line UsageError."""
    data = read_yaml(path, "lock hierarchy")
    if not isinstance(data, dict) or not isinstance(data.get("locks"), list):
        raise UsageError(f"{path}: expected a mapping with a 'locks' list")
    locks = []
    for i, item in enumerate(data["locks"]):
        where = f"{path}: locks[{i}]"
        if not isinstance(item, dict):
            raise UsageError(f"{where}: expected a mapping")
        unknown = set(item) - LOCK_KEYS
        if unknown:
            raise UsageError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if not isinstance(item.get("name"), str) or not re.fullmatch(r"[a-z][a-z0-9_]*", item["name"]):
            raise UsageError(f"{where}: 'name' must be a lower_snake_case string")
        if item.get("kind") not in KINDS:
            raise UsageError(f"{where} ({item['name']}): 'kind' must be one of {', '.join(KINDS)}")
        if not isinstance(item.get("level"), int):
            raise UsageError(f"{where} ({item['name']}): 'level' must be an integer")
        patterns = item.get("patterns") or []
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise UsageError(f"{where} ({item['name']}): bad pattern {p!r}: {exc}") from exc
        locks.append(LockClass(item["name"], item["kind"], item["level"], item.get("owner", ""),
                               tuple(patterns), item.get("description", "")))
    names = [lock.name for lock in locks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{path}: duplicate lock name(s) {', '.join(dupes)}")
    return Hierarchy(tuple(sorted(locks, key=lambda lock: -lock.level)))
