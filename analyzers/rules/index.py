"""The project index the structural rules share: members, bases and namespaces of every file, functions
and call sites by short name.

It is built from per-file `IndexFacts` (plain data, cheap to keep per file), so a run that has the facts of
the files it did not change can build it without loading their models: a file's model is loaded when a rule
first asks for one of its functions or call sites by name (`load(path)`).
"""

from __future__ import annotations

from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from analyzers import depends, symbols
from analyzers.model import IDENT, Call, FileModel, Member, Scope
from analyzers.symbols import lineage


def short_name(qualified: str) -> str:
    """'at::mps::MPSStream::commit' -> 'commit'; '-[Foo bar:]' -> 'bar:'."""
    if qualified.startswith(("-[", "+[")):
        return qualified[2:-1].split(" ", 1)[-1]
    return qualified.split("::")[-1]


def namespaces_of(model: FileModel) -> frozenset[str]:
    """Every name a namespace of this file is called by (`at::mps` gives 'at' and 'mps')."""
    names: set[str] = set()
    for scope in model.scopes("namespace"):
        names.update(scope.name.split("::"))
    return frozenset(names)


def class_bases(model: FileModel, cls: Scope) -> set[str]:
    """Base classes from `class X : public A, B {` (tokens before the body)."""
    texts, kinds = model.tokens.texts, model.tokens.kinds    # columns: no Token made per look
    i = cls.first_token - 1
    out: set[str] = set()
    k = i - 1
    while k >= 0 and texts[k] not in (";", "}", "{") and texts[k] not in ("class", "struct"):
        k -= 1
    header = range(k + 1, i)        # the tokens between the previous statement and the '{'
    colon = next((h for h in header if texts[h] == ":"), None)
    if colon is not None:
        out.update(texts[h] for h in range(colon + 1, i) if kinds[h] == IDENT
                   and texts[h] not in ("public", "private", "protected", "virtual"))
    return out


def owner_hint(fn: Scope) -> tuple[str, str]:
    """(the class a function surely belongs to, or ''; else the qualifier of `Q::f`, a class unless it is
    a namespace of the project, or '')."""
    cls = next((s for s in fn.ancestors() if s.kind == "class"), None)
    if cls is not None:
        return cls.name.split("::")[-1], ""
    if fn.name.startswith(("-[", "+[")):
        return fn.name[2:].split(" ", 1)[0], ""
    parts = fn.name.split("::")
    return "", parts[-2] if len(parts) >= 2 else ""


def owner_from(hint: tuple[str, str], namespaces: frozenset[str]) -> str:
    """The owner class a hint names, given the project's namespace names."""
    known, qualifier = hint
    return known or (qualifier if qualifier and qualifier not in namespaces else "")


@dataclass
class IndexFacts:
    """What one file adds to the project index (plain data: kept per file, combined by index_from)."""

    path: str
    namespaces: frozenset[str]
    members: list[Member]
    bases: list[tuple[str, set[str]]]                 # (class short name, its bases)
    functions: list[tuple[str, int, tuple[str, str]]]  # (short name, scope ordinal, owner_hint)
    objc: set[str]                                    # short names of the ObjC methods defined here
    call_names: list[str]                             # the calls functions run: their names,
    call_at: array                                    # and positions in model.calls() (a column: 4 bytes each)
    callbacks: list[tuple[str, str]]                  # owner_hint of functions running a callable parameter
                                                      # on a stream queue (queries.callback_scopes)


class _Refs(dict):
    """name -> [(model, item)], kept as file number << 24 | ordinal until the name is first asked for (`in`,
    len() and iteration see the names and make nothing). Asking notes (ns, name) (analyzers.depends)."""

    def __init__(self, ns: str, item: Callable[[FileModel, int], object], load: Callable[[str], FileModel],
                 paths: list[str]):
        super().__init__()
        self.ns, self.item, self.load, self.paths, self.made = ns, item, load, paths, set()

    def get(self, name, default=None):
        depends.note((self.ns, name))
        hit = dict.get(self, name)
        if hit is None:
            return default
        if name not in self.made:
            self.made.add(name)
            load, item, paths = self.load, self.item, self.paths
            hit[:] = [(model, item(model, ref & _ORDINAL)) for model, ref in ((load(paths[ref >> 24]), ref)
                                                                              for ref in hit)]
        return hit

    def __getitem__(self, name):
        if not dict.__contains__(self, name):
            depends.note((self.ns, name))
            raise KeyError(name)
        return self.get(name)

    def __contains__(self, name):
        depends.note((self.ns, name))
        return dict.__contains__(self, name)

    def items(self):
        return ((name, self.get(name)) for name in self)

    def values(self):
        return (self.get(name) for name in self)


_ORDINAL = (1 << 24) - 1


def _scope(model: FileModel, ordinal: int) -> Scope:
    model.scopes()
    return model.__dict__["_scopes"][ordinal]


def _call(model: FileModel, ordinal: int) -> Call:
    model.calls()
    return model.__dict__["_calls"][ordinal]


@dataclass
class Index:
    """Facts across every scanned file: class members, function definitions, call sites by name."""

    members: dict[str, dict[str, Member]] = field(default_factory=dict)      # class -> name -> member
    statics: dict[str, Member] = field(default_factory=dict)                 # namespace-scope/static vars
    functions: dict[str, list[tuple[FileModel, Scope]]] = field(default_factory=dict)   # short name -> defs
    calls: dict[str, list[tuple[FileModel, Call]]] = field(default_factory=dict)        # short name -> sites
    namespaces: frozenset[str] = frozenset()
    bases: dict[str, set[str]] = field(default_factory=dict)                 # class -> base classes
    paths: dict[int, str] = field(default_factory=dict)                      # id(member) -> file path
    files: list[tuple[str, list]] = field(default_factory=list)   # (path, IndexFacts.functions)
    objc: set[str] = field(default_factory=set)      # short names defined as ObjC methods somewhere
    callbacks: list[tuple[str, str]] = field(default_factory=list)   # every file's IndexFacts.callbacks
    queue_ctx: set[str] | None = None        # memo of queue_context()
    by_class: dict[str, set[str]] | None = None   # memo of methods()
    caller_ctx: dict[str, str] | None = None  # memo of caller_context()
    callback_cls: set[str] | None = None      # memo of callback_scopes()

    def path_of(self, member: Member) -> str:
        """The file that declares a member."""
        return self.paths.get(id(member), "")

    def member(self, cls: str, name: str) -> Member | None:
        """A member of `cls` (or one of its bases) called `name`."""
        return next((hit for c in lineage(self.bases, cls) if (hit := self.members.get(c, {}).get(name))), None)

    def methods(self, cls: str) -> set[str]:
        """Short names of functions defined as methods of `cls`."""
        if self.by_class is None:
            self.by_class = {}
            for _, functions in self.files:
                for name, _, hint in functions:
                    self.by_class.setdefault(owner_from(hint, self.namespaces), set()).add(name)
        return self.by_class.get(cls, set())

    def owner(self, model: FileModel, fn: Scope | None) -> str:
        """The class `fn` belongs to (owner_hint with the project's namespace names), memoised on the
        function (rules ask it of every call site's caller); the memo keeps the namespace set it was
        worked out with."""
        if fn is None:
            return ""
        memo = fn.memos()
        hit = memo.get("_owner")
        if hit is None or hit[0] is not self.namespaces:
            hit = memo["_owner"] = (self.namespaces, owner_from(owner_hint(fn), self.namespaces))
        return hit[1]


def index_from(facts: list[IndexFacts], load: Callable[[str], FileModel]) -> Index:
    """The project index of files with these facts, in file order; `load(path)` gives a file's model."""
    paths = [f.path for f in facts]
    idx = Index(functions=_Refs("fn", _scope, load, paths), calls=_Refs("call", _call, load, paths),
                members=depends.table("im"), statics=depends.table("is"), bases=depends.table("ib"),
                files=[(f.path, f.functions) for f in facts], callbacks=[h for f in facts for h in f.callbacks])
    idx.namespaces = frozenset().union(*(f.namespaces for f in facts))
    idx.objc = set().union(*(f.objc for f in facts))
    functions, calls = idx.functions, idx.calls
    for number, f in enumerate(facts):
        path, base = f.path, number << 24
        for m in f.members:
            idx.paths[id(m)] = path
            if m.owner:
                dict.setdefault(idx.members, m.owner.split("::")[-1], {})[m.name] = m
            elif m.static and not m.function:
                dict.__setitem__(idx.statics, m.name, m)
        for cls, found in f.bases:
            dict.setdefault(idx.bases, cls, set()).update(found)
        for name, n, _ in f.functions:
            refs = dict.get(functions, name)
            if refs is None:
                dict.__setitem__(functions, name, [base | n])
            else:
                refs.append(base | n)
        for name, n in zip(f.call_names, f.call_at):   # every call of the tree: no setdefault, list per call
            refs = dict.get(calls, name)
            if refs is None:
                dict.__setitem__(calls, name, [base | n])
            else:
                refs.append(base | n)
    return idx


@dataclass
class Project:
    """The tables the project rules read across files, for a run that gives them files one at a time."""

    index: Index
    types: symbols.Types


_ACTIVE: list = [None]      # the Project of the run going on, while it gives the rules files one at a time


@contextmanager
def active(project: Project) -> Iterator[None]:
    """While the block runs, index() and types() answer with `project`'s tables whatever models they get."""
    _ACTIVE[0] = project
    try:
        yield
    finally:
        _ACTIVE[0] = None


@contextmanager
def over(models: list[FileModel], build: Callable[[list[FileModel]], Index]) -> Iterator[None]:
    """While the block runs, the tables of `models` (`build(models)`: the index) answer index() and
    types() whatever models they get, unless a project is active already (a rule that works file by file
    called on a list of models)."""
    if _ACTIVE[0] is not None:
        yield
        return
    with active(Project(build(models), symbols.types(models))):
        yield


def types(models: list[FileModel]) -> symbols.Types:
    """symbols.types(models), or the active project's type tables."""
    return _ACTIVE[0].types if _ACTIVE[0] is not None else symbols.types(models)
