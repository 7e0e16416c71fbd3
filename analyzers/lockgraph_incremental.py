"""The lock graph re-run after an edit: only the files whose contexts read something that changed.

A run keeps, for the tree it analysed (its state, one cache entry): each file's facts, the lock-graph and
type-table facts the project-wide tables are built from; and each file's acquisitions with the keys its
contexts read (analyzers.depends). The next run over that tree with the same options parses the files
that changed, works out what each provides to the tables before and after (table key -> a digest of its
part there, lines counted from the function's first), and walks again only those files and the files that
read a key whose digest differs, loading just the models the walks reach; every other file's acquisitions
are reused, their lines in a changed file moved where the edit moved them.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Callable

from analyzers import depends, engine, symbols
from analyzers.cache import ParseCache
from analyzers.findings import Diagnostic
from analyzers.hierarchy import Hierarchy
from analyzers.lockgraph_extract import (WORK_BUDGET, Acquisition, LockFacts, Site, _Extractor, lock_facts,
                                        simple_name)
from analyzers.model import FileModel, Scope

STATE = "lockgraph-state-"
LAST = {"files": 0, "walked": 0}      # the last run's files and the files it walked (for tests and benchmarks)
# the last few provides() in this process: an edit's "before" is the previous edit's "after" (a resident
# process re-runs after each edit; worked out again, both sides were ~12% of a re-run's time)
_PROVIDED: dict[tuple, dict[tuple, str]] = {}
PROVIDED_KEEP = 8


@dataclass
class FileFacts:
    """One file's part of a lock-graph run (kept in the state, so an unchanged file is never loaded)."""

    lock: LockFacts
    types: symbols.TypeFacts
    diagnostics: list[Diagnostic]


@dataclass
class _State:
    """The last run over a tree: its files' keys and facts, each file's acquisitions with the keys they read."""

    keys: dict[str, str]
    facts: dict[str, FileFacts]
    units: dict[str, tuple[list[Acquisition], frozenset]]
    truncated: bool


def file_facts(model: FileModel) -> FileFacts:
    """The facts of one file."""
    return FileFacts(lock_facts(model), symbols.type_facts(model), list(model.diagnostics))


def _digest(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def provides(model: FileModel, types: symbols.TypeFacts) -> dict[tuple, str]:
    """Every table key the file contributes to, with a digest of what it contributes (the keys are those
    the lock graph and the type tables note, analyzers.depends); `types` is the file's TypeFacts. Two keys
    depend on the whole tree and are compared there instead (see _invalid): whether a name is called
    anywhere ("lgfn"), and the set of classes ("classes")."""
    out: dict[tuple, list] = {}

    def add(key: tuple, part: object) -> None:
        out.setdefault(key, []).append(part)

    body = call_keys(model, add)
    for fn in model.scopes("function"):
        if fn.name:
            add(("lgfn", simple_name(fn.name)), fn.name)      # the names a call may resolve to
            add(("lgdef", fn.name), body(fn))                   # what resolving to one reads
    for m in model.members:
        part = placeless(m)      # where a member is declared is no part of an acquisition
        add(("lgmem", m.name), part)
        if m.owner:
            add(("tm", m.owner.split("::")[-1]), part)
        elif m.static and not m.function:
            add(("tg", m.name), part)
    type_keys(model, types, add)
    return {key: _digest(parts) for key, parts in out.items()}


def remembered(key: tuple, compute: Callable[[], dict[tuple, str]]) -> dict[tuple, str]:
    """compute() -- a provides() -- kept in this process by `key` (a file's cache key and what else the
    result depends on) for the runs that follow; the caller does not change what it gets."""
    hit = _PROVIDED.get(key)
    if hit is None:
        hit = _PROVIDED[key] = compute()
        while len(_PROVIDED) > PROVIDED_KEEP:
            del _PROVIDED[next(iter(_PROVIDED))]
    return hit


def call_keys(model: FileModel, add) -> Callable[[Scope], str]:
    """add(("call", name), part) for every call site of `model`: the site with its line counted from its
    function's first, and that function's digest (a site reads its caller's context); returns the
    function digests (function_digests), for the keys of the definitions. Worked out once per model: the
    structural run's keys and its lock graph's both ask, of the same models."""
    hit = model.__dict__.get("_call_keys")
    if hit is None:
        body, sites = function_digests(model), []
        for scope in model.scopes():
            fn = scope.function()
            first = (fn or scope).line
            where = body(fn) if fn is not None else _digest(scope.kind, scope.name, scope.end_line - first)
            for call in scope.calls:
                sites.append((("call", call.name), (where, call.line - first, call.col, call.callee, call.receiver,
                                                    call.args, call.objc)))
        hit = model.__dict__["_call_keys"] = (sites, body)
    sites, body = hit
    for key, part in sites:
        add(key, part)
    return body


def placeless(member) -> str:
    """A member's declaration as a key's part, without where it is (one that only moved keeps its key)."""
    return repr(replace(member, line=0, col=0))


def function_digests(model: FileModel) -> Callable[[Scope], str]:
    """fn -> a digest of a function of `model` as read through the tables (memoised): its tokens from the
    head on with their lines counted from its first (lines that only move are mapped, see relocated), its
    names."""
    toks, bodies = model.tokens, {}

    def body(fn: Scope) -> str:
        hit = bodies.get(id(fn))
        if hit is None:
            a, b = symbols.token_at(model, fn.line, fn.col), min(fn.last_token + 1, len(toks))
            outer = tuple((s.kind, s.name) for s in fn.ancestors())
            hit = bodies[id(fn)] = _digest(fn.name, fn.kind, outer, fn.col, fn.end_line - fn.line,
                                           "\0".join(toks.texts[a:b]), [line - fn.line for line in toks.lines[a:b]],
                                           toks.cols[a:b].tobytes())
        return hit
    return body


def type_keys(model: FileModel, types: symbols.TypeFacts, add) -> None:
    """add(key, part) for what the file gives the type tables' bases, derived classes, return types,
    defaults and aliases (its members: see provides)."""
    for cls, bases in types.bases:
        add(("tb", cls), sorted(bases))
        for base in bases:
            add(("tderived", base), cls)
    functions = list(model.scopes())
    for owner, simple, ordinal in types.functions:
        part = symbols.return_type(model, functions[ordinal])    # what the type tables read of a definition
        add(("tr", simple), part)      # where a method is filed depends on the classes of the whole tree
        if owner:
            add(("tr", f"{owner}::{simple}"), part)
    for typ, name, defaults in types.declared:
        add(("tr", name), typ)
        add(("td", name), sorted(defaults.items()))
    for alias, target in types.aliases.items():
        add(("ta", alias), target)


def acquisitions(files: list[tuple[Path, str]], keys: list[str], hierarchy: Hierarchy, depth: int, kind: str,
                 cache: bool, jobs: int | None = None, given: dict[str, FileFacts] | None = None,
                 before: dict[str, FileFacts] | None = None, types: symbols.Types | None = None,
                 load_model: Callable[[str], FileModel] | None = None,
                 earlier: tuple[dict, dict] | None = None) -> tuple[list[Acquisition], list[Diagnostic]]:
    """All acquisitions of the files, and their diagnostics: reused from the last run over the same files
    where nothing they read changed. `given`: every file's facts, worked out and kept by the caller (then
    the state keeps none, and `before` has the earlier facts of the files that changed since the last run;
    `types`: the type tables it built from them; `load_model`: its loader, so that no model is loaded
    twice; `earlier`: models before an edit and line maps from them to now, by the file keys before, where
    the caller has them)."""
    store = ParseCache(enabled=cache)
    state_key = STATE + _digest(kind, engine.analyzer_version(), sorted(rel for _, rel in files))
    state = store.get(state_key) if all(keys) else None
    state = state if isinstance(state, _State) else None
    current = {rel: k for (_, rel), k in zip(files, keys)}
    kept = {rel: state.facts[rel] for rel, k in current.items()
            if state.keys.get(rel) == k and rel in state.facts} if state else {}
    given = given or {}
    kept.update((rel, given[rel]) for rel in current if rel not in kept and rel in given)
    todo = [n for n, (_, rel) in enumerate(files) if rel not in kept]
    done = engine.per_file([files[n] for n in todo], file_facts, jobs, cache, [keys[n] for n in todo])
    loaded = {model.path: model for model, _ in done}
    where = {rel: (path, k) for (path, rel), k in zip(files, keys)}

    def load(rel: str) -> FileModel:
        model = loaded.get(rel)
        if model is None:
            path, k = where[rel]
            model = loaded[rel] = load_model(rel) if load_model else engine.model_of(path, rel, k, cache)
        return model

    fresh_facts = {model.path: value for model, value in done}
    facts: list[FileFacts] = []
    diagnostics: list[Diagnostic] = []
    for _, rel in files:
        value = kept[rel] if rel in kept else fresh_facts.get(rel)
        if value is None:               # the facts failed for this file: its model says why
            diagnostics.extend(loaded[rel].diagnostics if rel in loaded else ())
        else:
            facts.append(value)
            diagnostics.extend(value.diagnostics)
    order = [f.lock.path for f in facts]
    now = {f.lock.path: f for f in facts}
    before_facts = {**state.facts, **(before or {})} if state else {}
    invalid, moved = _invalid(state, current, now, before_facts, load, store, earlier) if state else (None, {})
    kept_units = {}
    if invalid is not None:
        for path, unit in state.units.items():
            if path not in invalid and path in current:
                unit = relocated(unit, moved)
                if unit is None:
                    invalid.add(path)        # it names a line the edit changed: walked again
                else:
                    kept_units[path] = unit
    focus = None if invalid is None else [p for p in order if p in invalid]
    with depends.recording():
        extractor = _Extractor([f.lock for f in facts], load, hierarchy, depth,
                               types or symbols.types_from([f.types for f in facts], load), focus)
        walked = extractor.by_file()
    LAST.update(files=len(order), walked=len(walked))
    if extractor.truncated:
        print(f"warning: lock graph: the call walk stopped following calls after {WORK_BUDGET} steps; "
              f"lock orders through deeper calls may be missing", file=sys.stderr)
    units = {}
    for path in order:
        if path in walked:
            if walked[path] or extractor.units[path]:      # else it changes only with the file itself
                units[path] = (walked[path], extractor.units[path])
        elif path in kept_units:
            units[path] = kept_units[path]
    if all(keys) and not engine.incomplete(diagnostics):
        store.put(state_key, _State(current, {} if given else now, units, extractor.truncated),
                  compress=False, later=True)    # rewritten by every edit, as the structural run's
    return [a for path in order if path in units for a in units[path][0]], diagnostics


def _invalid(state: _State, current: dict[str, str], now: dict[str, FileFacts], earlier: dict[str, FileFacts],
             load, store: ParseCache, known: tuple[dict, dict] | None = None
             ) -> tuple[set[str] | None, dict[str, dict[int, int]]]:
    """The files to walk again: those that changed and those that read a key a changed file provides
    differently (None when the last run cannot tell: it stopped its call walk early, or a changed file's
    earlier model or either version's facts are missing); and for each changed file, where its unchanged
    lines went."""
    if state.truncated or set(current) != set(state.keys):
        return None, {}
    changed = {p for p, k in current.items() if state.keys.get(p) != k}
    keys: set[tuple] = set()
    moved: dict[str, dict[int, int]] = {}
    models, maps = known or ({}, {})
    for path in changed:
        was = state.keys[path]
        before = models.get(was) or store.get(was)
        if not isinstance(before, FileModel) or path not in earlier or path not in now:
            return None, {}
        after = load(path)
        old = remembered((was, "lockgraph"), lambda: provides(before, earlier[path].types))
        new = remembered((current[path], "lockgraph"), lambda: provides(after, now[path].types))
        keys.update(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        moved[path] = maps[was] if was in maps else line_map(before, after)
    keys.update(_tree_wide(earlier, now, changed))
    return changed | {path for path, (_, read) in state.units.items() if not depends.unaffected(read, keys)}, moved


def _tree_wide(before: dict[str, FileFacts], after: dict[str, FileFacts], changed: set[str]) -> set[tuple]:
    """The tree-wide keys an edit changes: a name called somewhere before and nowhere after or the other
    way round, and the set of classes (every changed file has facts in both)."""
    others = [f for path, f in after.items() if path not in changed]
    flipped = set().union(*(before[p].lock.called ^ after[p].lock.called for p in changed))
    out = {("lgfn", name) for name in flipped
           if any(name in before[p].lock.called for p in changed) != any(name in after[p].lock.called for p in changed)
           and not any(name in f.lock.called for f in others)}
    classes = set().union(*(before[p].types.classes ^ after[p].types.classes for p in changed))
    if any(not any(c in f.types.classes for f in others) for c in classes):
        out.add(("classes",))
    return out


def line_map(before: FileModel, after: FileModel) -> dict[int, int]:
    """Old line -> new line for the lines whose tokens an edit left as they were: the lines before the first
    changed one and after the last, and in between the stretches of such lines difflib finds."""
    def rows(model: FileModel) -> tuple[list[int], list[tuple[str, ...]]]:
        numbers: list[int] = []
        texts: list[tuple[str, ...]] = []
        for line, group in groupby(zip(model.tokens.lines, model.tokens.texts), key=itemgetter(0)):
            numbers.append(line)
            texts.append(tuple(text for _, text in group))
        return numbers, texts
    (old_lines, old_rows), (new_lines, new_rows) = rows(before), rows(after)
    # matched from both ends first: difflib is quadratic in the lines a file repeats ("}"), an edit is local
    head, most = 0, min(len(old_rows), len(new_rows))
    while head < most and old_rows[head] == new_rows[head]:
        head += 1
    tail = 0
    while tail < most - head and old_rows[-1 - tail] == new_rows[-1 - tail]:
        tail += 1
    middle = SequenceMatcher(None, old_rows[head:len(old_rows) - tail], new_rows[head:len(new_rows) - tail],
                             autojunk=False).get_matching_blocks()
    out = {old_lines[i]: new_lines[i] for i in range(head)}
    for a, b, size in middle:
        for i in range(size):
            out[old_lines[head + a + i]] = new_lines[head + b + i]
    for i in range(1, tail + 1):
        out[old_lines[-i]] = new_lines[-i]
    return out


def relocated(unit: tuple[list[Acquisition], frozenset], moved: dict[str, dict[int, int]]):
    """A unit's acquisitions with the lines of changed files moved where they went; None when one of them
    names a line that is not there any more."""
    if not moved:
        return unit
    acqs, read = unit

    def site(s: Site) -> Site:
        lines = moved.get(s.path)
        if lines is None:
            return s
        return Site(s.path, lines[s.line], s.function)      # KeyError: a changed line
    try:
        return [replace(a, site=site(a.site), held=tuple(replace(h, site=site(h.site)) for h in a.held),
                        via=tuple(site(v) for v in a.via)) for a in acqs], read
    except KeyError:
        return None
