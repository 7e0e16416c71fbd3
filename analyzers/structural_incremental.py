"""The structural run's project rules file by file, and after an edit only for the files it can change.

Each file's project findings are worked out against the tables of the whole tree (the index and the type
tables, built from every file's facts; a model is loaded when a rule first reaches one of its functions or
call sites), while the lookups are noted (analyzers.depends): the file's findings come with the keys they
read. A run keeps, for the tree and options it analysed (its state, one cache entry), each file's findings
with their keys, and the memoised contexts and entry locks with theirs (the facts stay in the per-file
cache). The next run works out what each changed file gives to each key before and after (a digest), and
works out again only the changed files and the files that read a key whose digest differs; a change to
something the whole tree shares and no key stands for (its namespaces, classes, ObjC methods, callback
classes) redoes every file, and one to what only ST.015 reads that way (member names, once-initialisers)
redoes ST.015 for every file. The rules that compare files (TREE_RULES) keep a part per file, as plain
data, and join the parts on every run; ST.009 goes through the lock graph's own state.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path

from analyzers import depends, engine, forked, suppress, symbols
from analyzers.cache import ParseCache
from analyzers.findings import Diagnostic, Finding, Related
from analyzers.lockgraph_extract import LockFacts, lock_facts
from analyzers.lockgraph_incremental import call_keys, line_map, placeless, remembered, type_keys
from analyzers.model import FileModel
from analyzers.rules import Rule, RuleContext
from analyzers.rules.index import IndexFacts, Project, active, index_from, owner_from, short_name
from analyzers.rules import lockset, st007, st010
from analyzers.rules.queries import caller_context, index_facts, queue_context
from analyzers.rules.st015 import compare as st015_compare

STATE = "structural-state-"
TREE_RULES = frozenset({"ST.007", "ST.009", "ST.010", "ST.015"})
# rules that compare the files: each file's part (plain data, worked out with the file) and what the parts
# of every file, in file order, give (the rest of TREE_RULES is below: ST.009, ST.015)
SPLIT = {"ST.007": (st007.split, st007.joined), "ST.010": (st010.split, st010.joined)}
LAST = {"files": 0, "redone": 0}     # the last run's files and the files it worked out again (tests, benchmarks)


@dataclass
class FileFacts:
    """What one file gives the tables the project rules read (kept per file; no model needed)."""

    index: IndexFacts
    types: symbols.TypeFacts
    marks: bool                 # suppression markers in the file (suppress.apply reads its model)
    diagnostics: list[Diagnostic]
    once: set[str]              # functions running a once-initialisation (lockset.once_functions)
    lock: LockFacts             # for the lock graph (ST.009)


def file_facts(model: FileModel) -> FileFacts:
    """The facts of one file (after its file rules ran: their failures are among its diagnostics); the
    index and the type tables share its Member objects."""
    index = index_facts(model)
    types = symbols.type_facts(model)
    types.members = index.members
    return FileFacts(index, types, bool(suppress.suppressions(model)), list(model.diagnostics),
                     lockset.once_functions(model), lock_facts(model))


@dataclass
class Unit:
    """One file's part of a run: its project findings, the keys they read, how its locks were named, its
    part of the rules that compare files (SPLIT)."""

    findings: list
    read: frozenset
    naming: dict
    parts: dict = field(default_factory=dict)       # family -> this file's part of a rule that compares files


@dataclass
class LockSets:
    """One file's part of ST.015: the keys it read, the fields it locks, the names of its accesses that
    wait for the fields every file locks, those of them that were locked somewhere, its accesses then."""

    read: frozenset
    locked: set
    waiting: frozenset
    used: frozenset
    accesses: list


@dataclass
class _State:
    """The last run over a tree: its files' keys, each file's Unit, what the whole tree shared. The files'
    facts are not kept here: the per-file pass caches them under each file's key (`facts_name`)."""

    keys: dict[str, str]
    units: dict[str, Unit]
    lock_sets: dict[str, LockSets]
    tree: tuple
    lock_tree: tuple                            # what ST.015 reads of the whole tree (_lock_tree)
    contexts: dict[str, tuple[dict, dict]]      # caller, queue: the names settled, what each read
    entries: tuple[dict, dict]                  # ST.015's entry locks by function name, what each read


def _digest(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def provides(model: FileModel, facts: FileFacts, namespaces: frozenset[str]) -> dict[tuple, str]:
    """Every table key the file contributes to, with a digest of what it contributes: a definition or a
    call site as its whole function with lines counted from its first, members as declared but where (what
    only moved keeps its digest; the kept findings that quote its lines are moved, see _relocated)."""
    out: dict[tuple, list] = defaultdict(list)
    body = call_keys(model, lambda key, part: out[key].append(part))
    for fn in model.scopes("function"):
        out[("fn", short_name(fn.name))].append(body(fn))
    for m in facts.index.members:
        part = placeless(m)      # a declaration that only moved: see _relocated
        if m.owner:
            out[("im", m.owner.split("::")[-1])].append(part)
            out[("tm", m.owner.split("::")[-1])].append(part)
        elif m.static and not m.function:
            out[("is", m.name)].append(part)
            out[("tg", m.name)].append(part)
    for cls, bases in facts.index.bases:
        out[("ib", cls)].append(sorted(bases))
    for name, _, hint in facts.index.functions:
        out[("methods", owner_from(hint, namespaces))].append(name)
    type_keys(model, facts.types, lambda key, part: out[key].append(part))
    return {key: _digest(parts) for key, parts in out.items()}


def _tree(facts: list[FileFacts]) -> tuple:
    """What the whole tree shares and no key stands for (a change to it redoes every file), and last the
    classes (a change to them changes the keys of the definitions it files elsewhere, see _filed)."""
    return (frozenset().union(*(f.index.namespaces for f in facts)),
            frozenset().union(*(f.index.objc for f in facts)),
            frozenset(h for f in facts for h in f.index.callbacks),
            frozenset().union(*(f.types.classes for f in facts)))


def _filed(classes: frozenset[str], facts: list[FileFacts]) -> set[tuple]:
    """The return-type keys of the methods of `classes` (symbols.types_from files `C::f` under its class only
    when C is a class of the tree): the keys a class that came or went changes."""
    return {key for f in facts for owner, simple, _ in f.types.functions if owner in classes
            for key in (("tr", simple), ("tr", f"{owner}::{simple}"))}


def _lock_tree(facts: list[FileFacts], names: set[str]) -> tuple:
    """What ST.015 alone reads of the whole tree: the names of every member and static
    (lockset.access_names) and the once-initialisers; a change to it redoes ST.015 for every file."""
    return frozenset(names), frozenset().union(*(f.once for f in facts))


def run(files: list[tuple[Path, str]], keys: list[str], facts: list[FileFacts | None],
        loaded: dict[str, FileModel], rules: list[Rule], ctx: RuleContext, kind: str, cache: bool,
        naming: bool, facts_name: str, jobs: int | None = None,
        size: int = 0) -> tuple[list[Finding], list[Diagnostic], dict[str, int], list[FileModel]]:
    """The project rules' findings over `files` (facts[i] of files[i], None where the file could not be
    analysed; the per-file pass caches (file findings, facts) as `facts_name`); also the failures, the
    naming counts and the models of the files with suppression markers. The files to work out are shared
    with forked children when they are many (`jobs`, `size`: as engine.per_file decides)."""
    store = ParseCache(enabled=cache)
    rels = [rel for _, rel in files]
    state_key = STATE + _digest(kind, engine.analyzer_version(), sorted(rels))
    state = store.get(state_key) if cache and all(keys) else None
    state = state if isinstance(state, _State) else None
    where = {rel: (path, k) for (path, rel), k in zip(files, keys)}
    now = {rel: f for rel, f in zip(rels, facts) if f is not None}
    order = [rel for rel in rels if rel in now]

    def load(rel: str) -> FileModel:
        model = loaded.get(rel)
        if model is None:
            path, k = where[rel]
            model = loaded[rel] = engine.model_of(path, rel, k, cache)
            model.members = now[rel].index.members    # the objects the tables hold (cached apart)
        return model

    for rel, model in loaded.items():
        if rel in now:
            model.members = now[rel].index.members
    families = {r.family for r in rules if r.kind == "project"}
    failures: list[Diagnostic] = []
    found: list[Finding] = []
    with depends.recording():
        project = Project(index_from([now[r].index for r in order], load),
                          symbols.types_from([now[r].types for r in order], load))
        names = lockset.access_names(project.index)
        tree, lock_tree = _tree([now[r] for r in order]), _lock_tree([now[r] for r in order], names)
        current = {rel: k for rel, k in zip(rels, keys)}
        changed = _changed(state, current, now, tree, project.index.namespaces, load, store, facts_name) \
            if state else None
        if changed is not None and tree[-1] != state.tree[-1]:
            changed.keys |= _filed(tree[-1] ^ state.tree[-1], [*now.values(), *changed.before.values()])
        work = _Work(project, names, set(lock_tree[1]), ctx, [r for r in rules if r.kind == "project"
                                                        and r.family not in TREE_RULES], families, load)
        with active(project):
            contexts = _contexts()
        work.tables = lockset.Tables(project.index, project.types)
        units, lock_sets = _carried(state, changed, set(now), lock_tree, contexts, work.tables) \
            if changed is not None else ({}, {})
        focus = [rel for rel in order if rel not in units]
        # the lock graph and ST.015 go first, each a whole that one process works out, then file by file
        items = ([("lock order",)] if "ST.009" in families else []) + \
                ([("lock sets",)] if "ST.015" in families else []) + focus
        workers = engine._jobs(jobs, len(focus)) if len(focus) >= engine.PARALLEL_MIN_FILES and (
            jobs is not None or size >= engine.PARALLEL_MIN_BYTES) and forked.available() else 1

        def one(item):
            if item == ("lock order",):
                return _lock_order(files, keys, load, now, changed, project.types, ctx, cache)
            with active(project):
                if item == ("lock sets",):
                    return work.lock_sets(order, lock_sets)
                return work.unit(item)
        entries: tuple[dict, dict] = ({}, {})
        for item, (result, trouble) in zip(items, forked.map_shared(one, items, min(workers, len(items)))):
            failures.extend(trouble)
            if item == ("lock order",):
                found.extend(result)
            else:
                if item == ("lock sets",):
                    (lock_sets, more, entries), learned = result
                    found.extend(more)
                else:
                    units[item], learned = result
                for what, (kinds, deps) in learned.items():      # what a forked child settled
                    contexts[what].kept(kinds, deps, set())
        with active(project):
            for family, (_, joined) in SPLIT.items():
                if family in families:
                    found.extend(_guarded(family, "", failures, [], lambda: list(joined(
                        [units[rel].parts[family] for rel in order if family in units[rel].parts], ctx))))
    LAST.update(files=len(order), redone=len(focus))
    if cache and all(keys) and not failures and len(now) == len(rels):
        store.put(state_key, _State(current, units, lock_sets, tree, lock_tree,
                                    {what: (settled.kinds, settled.deps) for what, settled in contexts.items()},
                                    entries),
                  compress=False, later=True)   # rewritten by every edit: zlib was ~9 ms of one at 5 MB
    findings = [x for rel in order for x in units[rel].findings] + found
    counts: dict[str, int] = defaultdict(int)
    for rel in order:
        for what, n in units[rel].naming.items():
            counts[what] += n
    marked = [load(rel) for rel in order if now[rel].marks]
    return findings, failures, dict(counts) if naming else {}, marked


def _carried(state: _State, changed: _Changes, present: set[str], lock_tree: tuple, contexts: dict,
             tables: lockset.Tables) -> tuple[dict[str, Unit], dict[str, LockSets]]:
    """What the last run's state still stands for after `changed`: the Units and ST.015 parts of the files
    that read none of the changed keys (Units with their moved lines, see _relocated); and, put into
    `contexts` and `tables`, the contexts and entry locks worked out from none of them."""
    def kept(parts: dict) -> dict:
        return {rel: part for rel, part in parts.items() if rel in present and rel not in changed
                and depends.unaffected(part.read, changed.keys)}
    units = {rel: moved for rel, unit in kept(state.units).items()
             if (moved := _relocated(unit, changed)) is not None}
    lock_sets = kept(state.lock_sets) if lock_tree == state.lock_tree else {}
    for what, settled in contexts.items():
        settled.kept(*state.contexts[what], changed.keys)
    for name, entry in state.entries[0].items():
        read = state.entries[1].get(name, depends.EMPTY)
        if depends.unaffected(read, changed.keys):
            tables.entries[name], tables.deps[name] = entry, read
    return units, lock_sets


@dataclass
class _Work:
    """What working out one file needs: the run's tables and settings."""

    project: Project
    names: set[str]              # lockset.access_names
    initialisers: set[str]       # lockset.once_functions of every file
    ctx: RuleContext
    per_file: list[Rule]         # the project rules that work file by file
    families: set[str]           # every project rule's family
    load: object                 # rel -> its model
    tables: lockset.Tables | None = None     # one for the run: its summaries serve every file

    def unit(self, rel: str) -> tuple[tuple[Unit, dict], list[Diagnostic]]:
        """One file's Unit, the keys it read noted, and the contexts it settled; and any failures."""
        model, ctx = self.load(rel), self.ctx
        learned = _settling()
        depends.open_frame()
        try:
            got = [x for rule in self.per_file for x in engine._guarded(rule, [model], ctx)]
            parts = {}
            for family, (split, _) in SPLIT.items():
                if family in self.families:
                    done = _guarded(family, rel, got, None, lambda: split(model, ctx))
                    if done is not None:
                        got += done[0]
                        parts[family] = done[1]
            # worked out whether asked for or not: one state serves runs with the note and without
            counts = symbols.coverage_of(model, self.project.types)
        finally:
            read = depends.close_frame()
        return (Unit([x for x in got if isinstance(x, Finding)], read, counts, parts), learned()), \
            [x for x in got if isinstance(x, Diagnostic)]

    def lock_sets(self, order: list[str], kept: dict[str, LockSets]) -> tuple[tuple[tuple, dict], list]:
        """ST.015 over the tree: each file's accesses (those kept from the last run where nothing they read
        changed), the ones that wait worked out once every file's locked fields are known (again only where
        those of its names changed), then compared. (((every file's part, the findings, the entry locks worked
        out with what each read), the contexts it settled), failures)."""
        failures: list[Diagnostic] = []
        learned = _settling()
        parts, slots_of = dict(kept), {}
        for rel in order:
            if rel in parts:
                continue
            depends.open_frame()
            try:
                slots = slots_of[rel] = self._slots(self.load(rel), failures)
            finally:
                read = depends.close_frame()
            # what needs no other file now; the accesses that wait are worked out below
            parts[rel] = LockSets(read, lockset.locked_fields(slots), lockset.waiting(slots, self.names),
                                  frozenset(), [a for a in slots if isinstance(a, lockset.Access)])
        locked = set().union(*(parts[rel].locked for rel in order))
        for rel in order:
            part = parts[rel]
            used = frozenset(locked & part.waiting)
            if used == part.used:
                continue
            depends.open_frame()
            try:
                slots = slots_of.get(rel)
                if slots is None:         # kept from the last run: worked out again
                    slots = self._slots(self.load(rel), failures)
                accesses = lockset.resolved(slots, self.names, locked)
            finally:
                read = part.read | depends.close_frame()
            parts[rel] = LockSets(read, part.locked, part.waiting, used, accesses)
        found = _guarded("ST.015", "", failures, [],
                         lambda: list(st015_compare([a for rel in order for a in parts[rel].accesses], self.ctx)))
        return ((parts, found, (self.tables.entries, self.tables.deps)), learned()), failures

    def _slots(self, model: FileModel, failures: list) -> list:
        return _guarded("ST.015", model.path, failures, [],
                        lambda: lockset.file_slots(self.tables, model, self.names, self.initialisers))


@dataclass
class _Changes:
    """The files an edit changed, the keys they give differently, their facts before; of those whose
    unchanged lines moved, every key they give before or after and where those lines went
    (lockgraph_incremental.line_map)."""

    files: set[str]
    keys: set[tuple]
    before: dict[str, FileFacts]
    given: set[tuple]
    moved: dict[str, dict[int, int]]
    models: dict[str, FileModel]            # their models before, by their key before
    lines: dict[str, dict[int, int]]        # line_map of each, moved or not, by the same key (the lock
                                            # graph's run reuses both where its state has that key too)

    def __contains__(self, rel: str) -> bool:
        return rel in self.files


def _changed(state: _State, current: dict[str, str], now: dict[str, FileFacts], tree: tuple,
             namespaces: frozenset[str], load, store: ParseCache, facts_name: str) -> _Changes | None:
    """The files that changed and the keys they give differently; None (every file is worked out again)
    when the tree's files or what it shares changed, or a changed file's earlier model or facts are gone."""
    if set(current) != set(state.keys) or tree[:-1] != state.tree[:-1] or set(now) != set(state.units):
        return None
    changed = {rel for rel, k in current.items() if state.keys[rel] != k}
    keys: set[tuple] = set()
    given: set[tuple] = set()
    earlier: dict[str, FileFacts] = {}
    moved: dict[str, dict[int, int]] = {}
    models: dict[str, FileModel] = {}
    maps: dict[str, dict[int, int]] = {}
    for rel in changed:
        before = store.get(state.keys[rel])
        was = store.get(engine.facts_key(state.keys[rel], facts_name))
        if not isinstance(before, FileModel) or not isinstance(was, tuple) or not isinstance(was[1], FileFacts):
            return None
        earlier[rel], models[state.keys[rel]] = was[1], before
        old = remembered((state.keys[rel], facts_name, namespaces), lambda: provides(before, was[1], namespaces))
        new = remembered((current[rel], facts_name, namespaces), lambda: provides(load(rel), now[rel], namespaces))
        keys.update(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        lines = maps[state.keys[rel]] = line_map(before, load(rel))
        if any(a != b for a, b in lines.items()):     # the kept files' findings may quote lines that moved
            moved[rel] = lines
            given.update(old.keys() | new.keys())
    return _Changes(changed, keys, earlier, given, moved, models, maps)


_QUOTES_LINE = re.compile(r"\bline \d")


def _relocated(unit: Unit, changes: _Changes) -> Unit | None:
    """A kept file's Unit with the lines its findings give of changed files moved where the edit moved
    them; None (worked out again) when one of those lines is gone, or when a unit that read something a
    changed file gives quotes a line in its text (which file's, its text does not say)."""
    if depends.unaffected(unit.read, changes.given):
        return unit
    texts = [t for f in unit.findings for t in (f.message, *f.details, *(r.message for r in f.related),
                                                *(r.message for flow in f.flows for r in flow))]
    if any(_QUOTES_LINE.search(t) for t in texts):
        return None

    def where(r: Related) -> Related:
        lines = changes.moved.get(r.path)
        return r if lines is None else replace(r, line=lines[r.line])     # KeyError: a changed line
    try:
        findings = [replace(f, related=tuple(map(where, f.related)),
                            flows=tuple(tuple(map(where, flow)) for flow in f.flows)) for f in unit.findings]
    except KeyError:
        return None
    return replace(unit, findings=findings)


def _lock_order(files: list[tuple[Path, str]], keys: list[str], load, facts: dict[str, FileFacts],
                changed: _Changes | None, types: symbols.Types, ctx: RuleContext,
                cache: bool) -> tuple[list[Finding], list[Diagnostic]]:
    """ST.009's findings: the lock graph of the tree, through the lock graph's incremental state (one of its
    own, without facts: this run has them), from the facts, models and type tables at hand."""
    from analyzers import lockgraph_incremental
    from analyzers.hierarchy import DEFAULT_PATH, SETTING, for_settings
    from analyzers.lockgraph import findings, graph_from
    from analyzers.lockgraph_extract import DEFAULT_DEPTH
    def graph() -> list[Finding]:
        hierarchy = for_settings(ctx.settings, cache)
        text = ctx.settings.get(SETTING) or DEFAULT_PATH.read_text(encoding="utf-8", errors="replace")
        kind = engine._kind("lockgraph", {"hierarchy": text, "depth": DEFAULT_DEPTH})
        def lock(f: FileFacts):
            return lockgraph_incremental.FileFacts(f.lock, f.types, f.diagnostics)
        acqs, _ = lockgraph_incremental.acquisitions(
            files, keys, hierarchy, DEFAULT_DEPTH, kind + ":structural", cache, load_model=load,
            given={rel: lock(f) for rel, f in facts.items()},
            before={rel: lock(f) for rel, f in changed.before.items()} if changed else {}, types=types,
            earlier=(changed.models, changed.lines) if changed else None)
        return findings(graph_from(acqs, hierarchy))
    failures: list[Diagnostic] = []
    return _guarded("ST.009", "", failures, [], graph), failures


def _contexts() -> dict:
    """The run's caller and queue contexts (queries.Settled, on the active project's index)."""
    return {"caller": caller_context([]), "queue": queue_context([])}


def _settling():
    """A function giving the contexts settled from now on, {kind: (names' kinds, what each read)}: a forked
    child sends them back with its results, so that the state keeps them."""
    settled = _contexts()
    before = {what: len(s.kinds) for what, s in settled.items()}

    def learned() -> dict:
        out = {}
        for what, s in settled.items():
            names = list(islice(reversed(s.kinds), len(s.kinds) - before[what]))
            out[what] = ({n: s.kinds[n] for n in names}, {n: s.deps[n] for n in names if n in s.deps})
        return out
    return learned


def _guarded(family: str, path: str, failures: list, default, compute):
    """compute(), or `default` and an `internal` diagnostic in `failures` when it raised (as
    engine._guarded: one rule's failure never stops the others)."""
    try:
        return compute()
    except Exception as exc:                       # noqa: BLE001 -- reported as a diagnostic
        failures.append(engine.failure(path, f"rule {family}", exc))
        return default
