"""The names a TLC .cfg file checks (INVARIANT, PROPERTY): what the manifest and the verdict need."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_COMMENTS = re.compile(r"\(\*.*?\*\)|\\\*[^\n]*", re.S)
# every keyword of any TLC version; names after one belong to it until the next keyword
_KEYWORDS = {
    "CONSTANT": "constants", "CONSTANTS": "constants", "INIT": "init", "NEXT": "next",
    "SPECIFICATION": "specification", "INVARIANT": "invariants", "INVARIANTS": "invariants",
    "PROPERTY": "properties", "PROPERTIES": "properties", "SYMMETRY": "other", "VIEW": "other",
    "CONSTRAINT": "other", "CONSTRAINTS": "other", "ACTION_CONSTRAINT": "other",
    "ACTION_CONSTRAINTS": "other", "CHECK_DEADLOCK": "other", "ALIAS": "other", "POSTCONDITION": "other",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_!]*$")


@dataclass(frozen=True)
class CfgNames:
    """The operators a cfg asks TLC to check."""

    invariants: tuple[str, ...]
    properties: tuple[str, ...]
    keywords: frozenset[str] = frozenset()      # every keyword the file uses
    check_deadlock: bool | None = None          # CHECK_DEADLOCK TRUE/FALSE, None when absent


def read_cfg(path: Path) -> CfgNames:
    """Read INVARIANT(S) and PROPERTY(IES) names from a TLC config file."""
    text = _COMMENTS.sub(" ", path.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {"invariants": [], "properties": []}
    current, previous = None, None
    used: set[str] = set()
    check_deadlock = None
    for token in text.split():
        if token in _KEYWORDS:
            current = _KEYWORDS[token]
            used.add(token)
        elif current in found and _NAME.match(token):
            found[current].append(token)
        elif previous == "CHECK_DEADLOCK" and token in ("TRUE", "FALSE"):
            check_deadlock = token == "TRUE"
        previous = token
    return CfgNames(invariants=tuple(found["invariants"]), properties=tuple(found["properties"]),
                    keywords=frozenset(used), check_deadlock=check_deadlock)


def without_keyword(path: Path, keyword: str) -> str:
    """The cfg's text with `keyword` and its value removed (for a TLC that does not know the keyword)."""
    text = _COMMENTS.sub(" ", path.read_text(encoding="utf-8"))
    return re.sub(rf"\b{keyword}\s+\S+", " ", text)


def only_property(path: Path, name: str) -> str:
    """The cfg's text with its PROPERTY sections replaced by `PROPERTY name` (to learn which one fails)."""
    text = _COMMENTS.sub(" ", path.read_text(encoding="utf-8"))
    keyword = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(sorted(_KEYWORDS, key=len, reverse=True))
                         + r")(?![A-Za-z0-9_])")
    starts = [m.start() for m in keyword.finditer(text)] + [len(text)]
    kept = [text[:starts[0]]] + [text[a:b] for a, b in zip(starts, starts[1:])
                                 if keyword.match(text, a).group(1) not in ("PROPERTY", "PROPERTIES")]
    return "".join(kept).rstrip() + f"\nPROPERTY {name}\n"
