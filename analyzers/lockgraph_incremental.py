"""The lock graph re-run after an edit: only the files whose contexts read something that changed.

A run keeps, for the tree it analysed (its state, one cache entry): each file's facts, the lock-graph and
type-table facts the project-wide tables are built from; and each file's acquisitions with the keys its
contexts read (analyzers.depends). The next run over that tree with the same options parses the files
that changed, works out what each provides to the tables before and after (table key -> a digest of its
part there, positions included), and walks again only those files and the files that read a key whose
digest differs, loading just the models the walks reach; every other file's acquisitions are reused.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from analyzers import depends, engine, symbols
from analyzers.cache import ParseCache
from analyzers.findings import Diagnostic
from analyzers.hierarchy import Hierarchy
from analyzers.lockgraph_extract import WORK_BUDGET, Acquisition, LockFacts, _Extractor, lock_facts, simple_name
from analyzers.model import FileModel, Scope

STATE = "lockgraph-state-"
LAST = {"files": 0, "walked": 0}      # the last run's files and the files it walked (for tests and benchmarks)


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


def provides(model: FileModel) -> dict[tuple, str]:
    """Every table key the file contributes to, with a digest of what it contributes (the keys are those
    the lock graph and the type tables note, analyzers.depends)."""
    types = symbols.type_facts(model)
    out: dict[tuple, list] = {}

    def add(key: tuple, part: object) -> None:
        out.setdefault(key, []).append(part)

    toks = model.tokens
    bodies: dict[int, str] = {}

    def body(fn: Scope) -> str:
        """A function as read through the tables: its tokens from the head on, where it sits, its names."""
        hit = bodies.get(id(fn))
        if hit is None:
            a, b = symbols.token_at(model, fn.line, fn.col), min(fn.last_token + 1, len(toks))
            outer = tuple((s.kind, s.name) for s in fn.ancestors())
            hit = bodies[id(fn)] = _digest(fn.name, fn.kind, outer, fn.line, fn.col, fn.end_line,
                                           "\0".join(toks.texts[a:b]), toks.lines[a:b].tobytes(),
                                           toks.cols[a:b].tobytes())
        return hit

    called: set[str] = set()
    for scope in model.scopes():
        fn = scope.function()
        where = body(fn) if fn is not None else _digest(scope.kind, scope.name, scope.line, scope.end_line)
        for call in scope.calls:
            called.add(call.name)
            add(("call", call.name), (where, call.line, call.col, call.callee, call.receiver, call.args))
        if scope.kind == "function" and scope.name:
            add(("lgfn", simple_name(scope.name)), body(scope))
    for name in called:
        add(("lgfn", name), "called")
    for m in model.members:
        add(("lgmem", m.name), repr(m))
        if m.owner:
            add(("tm", m.owner.split("::")[-1]), repr(m))
        elif m.static and not m.function:
            add(("tg", m.name), repr(m))
    for cls, bases in types.bases:
        add(("tb", cls), sorted(bases))
        for base in bases:
            add(("tderived", base), cls)
    functions = list(model.scopes())
    for owner, simple, ordinal in types.functions:
        part = body(functions[ordinal])
        add(("tr", simple), part)      # where a method is filed depends on the classes of the whole tree
        if owner:
            add(("tr", f"{owner}::{simple}"), part)
    for typ, name, defaults in types.declared:
        add(("tr", name), typ)
        add(("td", name), sorted(defaults.items()))
    for alias, target in types.aliases.items():
        add(("ta", alias), target)
    add(("classes",), sorted(types.classes))
    return {key: _digest(parts) for key, parts in out.items()}


def acquisitions(files: list[tuple[Path, str]], keys: list[str], hierarchy: Hierarchy, depth: int, kind: str,
                 cache: bool, jobs: int | None = None) -> tuple[list[Acquisition], list[Diagnostic]]:
    """All acquisitions of the files, and their diagnostics: reused from the last run over the same files
    where nothing they read changed."""
    store = ParseCache(enabled=cache)
    state_key = STATE + _digest(kind, engine.analyzer_version(), sorted(rel for _, rel in files))
    state = store.get(state_key) if all(keys) else None
    state = state if isinstance(state, _State) else None
    current = {rel: k for (_, rel), k in zip(files, keys)}
    kept = {rel: state.facts[rel] for rel, k in current.items() if state.keys.get(rel) == k} if state else {}
    todo = [n for n, (_, rel) in enumerate(files) if rel not in kept]
    done = engine.per_file([files[n] for n in todo], file_facts, jobs, cache, [keys[n] for n in todo])
    loaded = {model.path: model for model, _ in done}
    where = {rel: (path, k) for (path, rel), k in zip(files, keys)}

    def load(rel: str) -> FileModel:
        model = loaded.get(rel)
        if model is None:
            path, k = where[rel]
            model = loaded[rel] = engine.model_of(path, rel, k, cache)
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
    invalid = _invalid(state, current, load, store) if state else None
    focus = None if invalid is None else [p for p in order if p in invalid]
    with depends.recording():
        extractor = _Extractor([f.lock for f in facts], load, hierarchy, depth,
                               symbols.types_from([f.types for f in facts], load), focus)
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
        elif invalid is not None and path not in invalid and path in state.units:
            units[path] = state.units[path]
    if all(keys) and not engine.incomplete(diagnostics):
        store.put(state_key, _State(current, {f.lock.path: f for f in facts}, units, extractor.truncated))
    return [a for path in order if path in units for a in units[path][0]], diagnostics


def _invalid(state: _State, current: dict[str, str], load, store: ParseCache) -> set[str] | None:
    """The files to walk again: those that changed and those that read a key a changed file provides
    differently; None when the last run cannot tell (it stopped its call walk early, or a changed
    file's earlier model is gone from the cache)."""
    if state.truncated or set(current) != set(state.keys):
        return None
    changed = {p for p, k in current.items() if state.keys.get(p) != k}
    if not changed:
        return set()
    keys: set[tuple] = set()
    for path in changed:
        before = store.get(state.keys[path])
        if not isinstance(before, FileModel):
            return None
        old, new = provides(before), provides(load(path))
        keys.update(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    return changed | {path for path, (_, read) in state.units.items() if not read.isdisjoint(keys)}
