"""ST.015 lockset inference (Eraser/RacerD style): a field written under lock L and touched without L.

Per field, the protecting lock is the one most of its locked writes hold; an access that does not hold
it is reported with both sites: under another lock (a), a global or static with no lock (b), a member
with no lock (c), whether used by name in its class's methods or reached through another object
(`pool->field`). A field no write of which holds a lock, but which is read under one, has an unlocked
setter (d, RacerD's unprotected write): its writes are reported against the lock its readers hold.
Where ST.007 reports the same member on the same line, the report merges the two (analyzers.crossref).
Which lock and which field a name denotes is analyzers.rules.lockset's business.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import FileModel
from analyzers.rules import project_rule
from analyzers.rules.lockset import ANY_LOCK, Access, accesses
from analyzers.rules.queries import anchor_of, short_name

UNLOCKED = {"global": "ST.015.b", "receiver": "ST.015.c", "member": "ST.015.c"}


def protecting_locks(accs: list[Access],
                     writes_only: bool = True) -> tuple[frozenset[str], Access | None, int, int]:
    """(the locks every locked write holds, or else the one most of them hold; the first write holding
    them; how many locked writes hold them; how many locked writes there are). With writes_only False,
    the same over locked reads (for fields no write of which holds a lock)."""
    writes = [a for a in accs if a.write == writes_only and a.locks and ANY_LOCK not in a.locks]
    if not writes:
        return frozenset(), None, 0, 0
    common = frozenset.intersection(*(w.locks for w in writes))
    if not common:
        counts = Counter(lock for w in writes for lock in w.locks)
        first = {lock: min(i for i, w in enumerate(writes) if lock in w.locks) for lock in counts}
        common = frozenset({max(counts, key=lambda k: (counts[k], -first[k]))})
    holding = [w for w in writes if w.locks & common]
    return common, holding[0], len(holding), len(writes)


def _may_alias(held: frozenset[str], protect: frozenset[str]) -> bool:
    """An unresolved lock (`pool.pool_mutex` through an `auto&`) may be a resolved one of the same member
    name (`BufferPool::pool_mutex`): without its type, assume it is (no finding rather than a false one)."""
    def last(lock: str) -> str:
        return re.split(r"->|\.|::", lock)[-1]
    def unresolved(lock: str) -> bool:
        return "." in lock or "->" in lock
    return any(last(h) == last(p) for h in held for p in protect if unresolved(h) or unresolved(p))


def _where(a: Access) -> str:
    name = short_name(a.function) if a.function else "file scope"
    return f"in {name}" + (f" ({a.context})" if a.context else "")


def _looked_up_under_lock(a: Access, accs: list[Access]) -> bool:
    """The same `obj->field` is also touched under a lock in this function: the object was found under the
    lock and is used after it (ST.013.b's pattern, and often an object this thread now owns)."""
    return any(b is not a and b.locks and b.text == a.text and b.path == a.path and b.function == a.function
               and b.fn_line == a.fn_line for b in accs)


@project_rule("ST.015")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Compare each field's accesses with the lock that protects its writes (or, failing that, its reads)."""
    return compare(accesses(models, every=False), ctx)


def compare(accs: list[Access], ctx) -> Iterable[Finding]:
    """ST.015's findings from the accesses of every file, in file order (the fields some access locks)."""
    by_field: dict[str, list[Access]] = {}
    for a in accs:
        by_field.setdefault(a.field, []).append(a)
    reported: set[tuple[str, str, str]] = set()
    for field_id, accs in by_field.items():
        protect, witness, held_by, locked = protecting_locks(accs)
        setter = witness is None      # no locked write: are locked reads racing with unlocked writes?
        if setter:
            protect, witness, held_by, locked = protecting_locks(accs, writes_only=False)
            if witness is None:
                continue
        for a in accs:
            held = a.locks | (a.entry or frozenset())
            if a.entry is None or ANY_LOCK in held or held & protect or _may_alias(held, protect) or \
                    setter and not a.write:
                continue
            key = (a.path, a.function, field_id)   # one per function and field
            if key in reported or (not a.locks and a.via == "receiver" and _looked_up_under_lock(a, accs)):
                continue
            reported.add(key)
            rule = "ST.015.d" if setter else "ST.015.a" if held else UNLOCKED[a.via]
            yield _finding(ctx, rule, a, witness, " or ".join(sorted(protect)), held_by, locked, setter)


def _finding(ctx, rule: str, a: Access, witness: Access, lock: str, held_by: int, locked: int,
             setter: bool) -> Finding:
    """The finding at `a`, with the access that shows the protecting lock as its related location."""
    verb = "written" if a.write else "read"
    callers = " (held by every caller)" if a.entry and not a.locks else ""
    held = a.locks | (a.entry or frozenset())
    how = f"under {', '.join(sorted(held))}{callers}, not {lock}" if held else "with no lock"
    kind = "reads" if setter else "writes"
    share = (f"{held_by} of {locked} locked {kind} hold" if held_by < locked else
             f"all {locked} locked {kind} hold" if locked > 1 else f"its one locked {kind[:-1]} holds")
    return ctx.finding_in(rule, a.path, a.function, a.token.line, a.token.col,
                          f"{a.field} is {verb} {how} {_where(a)}; {share} {lock}",
                          anchor=anchor_of(a.field, "not under " + lock),
                          related=(Related(witness.path, witness.token.line,
                                           f"{a.field} {'read' if setter else 'written'} under {lock} "
                                           f"{_where(witness)}", witness.token.col),))
