"""The declared lock hierarchy (`specs/lock_hierarchy.yaml`, or the analysed repository's own
`lock_hierarchy.yaml`), shared by the TLA+ model and the lock graph."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from analyzers.cache import parsed_yaml
from mpsverify_base.config import read_text
from mpsverify_base.errors import UsageError
from mpsverify_base.paths import LOCK_HIERARCHY

DEFAULT_PATH = LOCK_HIERARCHY
REPO_FILE = "lock_hierarchy.yaml"        # a repository declares its own locks in this file at its top
SETTING = "lock_hierarchy_yaml"          # analyzer settings key: that file's text
KINDS = ("queue", "mutex", "recursive_mutex", "shared_mutex", "condvar", "gpu")
LOCK_KEYS = {"name", "kind", "level", "owner", "patterns", "description"}
MAX_EXPR = 256          # characters of a lock expression the patterns see (real ones: under 60)
MAX_PATTERN = 500
# A quantified group that itself contains a quantifier or an alternation, e.g. (a+)+, (a|ab)*, (\w*x)*:
# the shapes whose backtracking is exponential (checked after removing escapes and character classes).
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()]*[*+}|][^()]*)\)(?:[*+]|\{\d*,?\d*\})")


def catastrophic(pattern: str) -> str:
    """Why a regular expression could backtrack exponentially ('' when it has none of those shapes)."""
    if len(pattern) > MAX_PATTERN:
        return f"is longer than {MAX_PATTERN} characters"
    if re.search(r"\\[1-9]|\(\?P=", pattern):
        return "uses a backreference"
    flat = re.sub(r"\\.", "x", pattern)                 # escapes are single characters
    flat = re.sub(r"\[(?:\^?\])?[^\]]*\]", "x", flat)   # so are character classes
    flat = re.sub(r"\(\?(?:[:=!]|<[=!])", "(", flat)      # groups of any kind nest the same way
    # innermost groups first: a group holding a risky group is as risky
    while True:
        if _NESTED_QUANTIFIER.search(flat):
            return "has a quantified group containing a quantifier or an alternation (e.g. (a+)+)"
        inner = re.sub(r"\(([^()]*)\)([*+?]|\{\d*,?\d*\})?",
                       lambda m: "x+" if (m.group(2) or "?") != "?" or re.search(r"[*+}|]", m.group(1)) else "x",
                       flat)
        if inner == flat:
            return ""
        flat = inner


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
        expr = expr[:MAX_EXPR]     # the code under review chooses the subject: bound what a pattern scans
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


def load_hierarchy(path: Path = DEFAULT_PATH, cache: bool = False) -> Hierarchy:
    """Read and validate the hierarchy file (the parsed YAML kept in the cache when `cache`); any problem is
    a one-line UsageError."""
    return hierarchy_from_text(read_text(path, "lock hierarchy"), str(path), cache)


_BY_TEXT: dict[tuple[str, str], Hierarchy] = {}


def hierarchy_from_text(text: str, source: str = REPO_FILE, cache: bool = False) -> Hierarchy:
    """A hierarchy from YAML text (a revision's file, carried in the analyzer settings), kept for the process
    by its text: a structural run reads ours twice (its lock order, and the rules' queries.lock_class), and the
    second reading was the YAML library's import and parse (~20 ms) in a run that found all else cached."""
    hit = _BY_TEXT.get((text, source))
    if hit is None:
        hit = parse_hierarchy(parsed_yaml(text, source, cache), source)     # no alias bombs, bounded nesting
        if len(_BY_TEXT) >= 8:
            _BY_TEXT.clear()
        _BY_TEXT[(text, source)] = hit
    return hit


def find_hierarchy(start: Path) -> Path | None:
    """The analysed repository's own lock_hierarchy.yaml: at `start` or a folder above it, up to the
    checkout's top (the folder holding .git); None when the repository declares none."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / REPO_FILE).is_file():
            return folder / REPO_FILE
        if (folder / ".git").exists():
            return None
    return None


def text_settings(text: str, source: str) -> dict:
    """Analyzer settings that make ST.009 judge by this hierarchy text (validated here: bad YAML or a
    bad lock is a one-line UsageError naming `source`)."""
    hierarchy_from_text(text, source)
    return {SETTING: text, SETTING + "_source": source}


def repository_settings(start: Path) -> dict:
    """Analyzer settings for the repository containing `start`: its own hierarchy when it has one, else {}."""
    path = find_hierarchy(start)
    if path is None:
        return {}
    return text_settings(read_text(path, "lock hierarchy"), str(path))    # a regular file of bounded size


def for_settings(settings: dict, cache: bool = False) -> Hierarchy:
    """The hierarchy a structural run uses: the YAML text in settings[SETTING] (a repository's own
    file), else ours (its parse kept in the cache when `cache`)."""
    text = settings.get(SETTING)
    return hierarchy_from_text(text, settings.get(SETTING + "_source", REPO_FILE)) if text \
        else load_hierarchy(cache=cache)


def parse_hierarchy(data, path) -> Hierarchy:
    """Validate parsed YAML as a hierarchy; `path` names it in the one-line UsageErrors."""
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
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise UsageError(f"{where} ({item['name']}): 'patterns' must be a list of strings")
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise UsageError(f"{where} ({item['name']}): bad pattern {p!r}: {exc}") from exc
            risky = catastrophic(p)
            if risky:
                raise UsageError(f"{where} ({item['name']}): pattern {p!r} {risky}; its matching time could "
                                 f"grow exponentially with the code it is matched against")
        locks.append(LockClass(item["name"], item["kind"], item["level"], item.get("owner", ""),
                               tuple(patterns), item.get("description", "")))
    names = [lock.name for lock in locks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{path}: duplicate lock name(s) {', '.join(dupes)}")
    return Hierarchy(tuple(sorted(locks, key=lambda lock: -lock.level)))
