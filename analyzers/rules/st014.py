"""ST.014 thread-safety-annotation hygiene: unannotated guarded data (a), annotations naming a non-lock (b)
or a lock the class does not declare (c)."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import IDENT, FileModel, Member
from analyzers.rules import file_rule
from analyzers.rules.queries import MUTEX_TYPE, anchor_of

LOCK_ARG = re.compile(r"(?i)^(?:\w+_)?(GUARDED_BY|PT_GUARDED_BY|ACQUIRED_BEFORE|ACQUIRED_AFTER|REQUIRES|"
                      r"REQUIRES_SHARED|EXCLUSIVE_LOCKS_REQUIRED|SHARED_LOCKS_REQUIRED|guarded_by|pt_guarded_by|"
                      r"acquired_before|acquired_after|requires_capability|requires_shared_capability)\s*\((.*)\)\s*$")
GUARD = re.compile(r"(?i)(^|_)(PT_)?GUARDED_BY\b|guarded_by")
USES_TSA = re.compile(r"^([A-Z0-9]+_)?(GUARDED_BY|PT_GUARDED_BY|REQUIRES|REQUIRES_SHARED|ACQUIRE|ACQUIRE_SHARED|"
                      r"RELEASE|RELEASE_SHARED|EXCLUDES|CAPABILITY|SCOPED_CAPABILITY|LOCKABLE|SCOPED_LOCKABLE|"
                      r"EXCLUSIVE_LOCKS_REQUIRED|LOCKS_EXCLUDED|TRY_ACQUIRE)$|^(guarded_by|pt_guarded_by|capability|"
                      r"requires_capability|acquire_capability|release_capability)$")
# Every USES_TSA name contains one of these: a quick test before the full pattern.
MENTIONS_TSA = re.compile(r"GUARDED_BY|REQUIRES|ACQUIRE|RELEASE|EXCLUDES|CAPABILITY|LOCKABLE|LOCKS_|guarded_by|"
                          r"capability")


def _lock_names(annotation: str) -> list[str]:
    """The lock expressions an annotation names ('GUARDED_BY(m_mutex)' -> ['m_mutex'])."""
    m = LOCK_ARG.match(annotation.strip())
    if not m:
        return []
    inner = re.sub(r"^\s*\(\s*|\s*\)\s*$", "", m.group(2)) if m.group(2).startswith("(") else m.group(2)
    return [a.strip() for a in inner.split(",") if a.strip()]


def _capability_classes(model: FileModel) -> set[str]:
    """Classes declared with CAPABILITY/LOCKABLE in this file (their instances are locks)."""
    toks = model.tokens
    out = set()
    for i, t in zip(range(len(toks) - 3), toks):     # lazily: a slice copies every token
        if t.text in ("class", "struct") and toks[i + 1].text.upper().endswith(("CAPABILITY", "LOCKABLE")):
            j = i + 2
            while j < len(toks) and toks[j].text != ")":
                j += 1
            if j + 1 < len(toks) and toks[j + 1].kind == IDENT:
                out.add(toks[j + 1].text)
    return out


def _is_lock(member: Member, caps: set[str]) -> bool:
    base = member.type.replace("mutable", "").strip()
    return bool(MUTEX_TYPE.search(base)) or base.split("::")[-1] in caps


@file_rule("ST.014")
def check(model: FileModel, ctx) -> Iterable[Finding]:
    """Annotation hygiene per class of the file."""
    toks = model.tokens
    texts, kinds = toks.texts, toks.kinds
    # the joined texts first: most files mention none (no pattern here can match across the '\n')
    named = {t for t in set(texts) if MENTIONS_TSA.search(t) and USES_TSA.match(t)} \
        if MENTIONS_TSA.search("\n".join(texts)) else set()
    uses = any(m.annotations for m in model.members) or (
        bool(named) and any(kinds[i] == IDENT and texts[i] in named and texts[i + 1] == "("
                            for i in range(len(texts) - 1)))
    if not uses:
        return
    caps = _capability_classes(model)
    classes: dict[str, list[Member]] = {}
    for m in model.members:
        if m.owner:
            classes.setdefault(m.owner, []).append(m)
    for owner, members in classes.items():
        by_name = {m.name: m for m in members}
        locks = [m for m in members if _is_lock(m, caps)]
        data = [m for m in members if not _is_lock(m, caps) and not m.static and "const" not in m.type.split()
                and "atomic" not in m.type and "condition_variable" not in m.type]
        if locks and data and not any(GUARD.search(a) for m in data for a in m.annotations):
            lock = locks[0]
            yield ctx.finding("ST.014.a", model, lock.line, lock.col,
                              f"{owner} declares {lock.type} {lock.name} but none of its {len(data)} data members "
                              f"carries GUARDED_BY; -Wthread-safety cannot check what {lock.name} protects",
                              anchor=anchor_of(owner, lock.name, "unannotated"))
        for m in members:
            for annotation in m.annotations:
                for name in _lock_names(annotation):
                    bare = name.replace("this->", "").lstrip("&*")
                    if "::" in bare or "->" in bare or "." in bare:
                        continue   # an outer or qualified lock: cannot be resolved here
                    target = by_name.get(bare)
                    if target is None:
                        yield ctx.finding("ST.014.c", model, m.line, m.col,
                                          f"{annotation} on {owner}::{m.name} names '{bare}', which {owner} does not "
                                          f"declare", anchor=anchor_of(owner, m.name, annotation))
                    elif not _is_lock(target, caps):
                        yield ctx.finding("ST.014.b", model, m.line, m.col,
                                          f"{annotation} on {owner}::{m.name} names '{bare}', a {target.type}, not a "
                                          f"lock (capability)", anchor=anchor_of(owner, m.name, annotation),
                                          related=(Related(model.path, target.line, f"{bare} declared here"),))
