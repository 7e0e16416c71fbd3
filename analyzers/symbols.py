"""Types of names, so one lock has one name and a call reaches the right method.

A pass over finished code models (analyzers.parse): class members with their declared types, function
return types, and per function its parameters and locals (`auto` from a known return type or
initializer, range-for over a container). `type_of` follows an expression such as
`buffer_block->heap->pool->pool_mutex` or `streams_[i]` through those tables; `member_of` names the
class that declares the member an expression ends in. Anything it cannot follow is None: callers fall
back to their name heuristics and count the miss (`Types.misses`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress

from analyzers.model import IDENT, PREPROC, FileModel, Member, Scope, Token
from analyzers import depends


_SPECIFIERS = frozenset({"const", "volatile", "mutable", "static", "inline", "constexpr", "thread_local",
                         "extern", "virtual", "explicit", "struct", "class", "typename", "__block", "register",
                         "__strong", "__weak", "__unsafe_unretained", "nonnull", "_Nonnull", "_Nullable",
                         "C10_API", "TORCH_API", "TORCH_MPS_API"})
_WRAPPER = re.compile(r"^(?:std::)?(?:unique_ptr|shared_ptr|weak_ptr|optional|reference_wrapper|atomic|"
                      r"c10::intrusive_ptr|intrusive_ptr)<(.*)>$")
_CONTAINER = re.compile(r"^(?:std::|c10::)?(?:vector|array|deque|list|set|unordered_set|span|SmallVector|"
                        r"ArrayRef)<(.*)>$")
_MAP = re.compile(r"^(?:std::|c10::|ska::)?(?:map|unordered_map|flat_hash_map|ska_ordered_map)<(.*)>$")
GUARD_PARAM = re.compile(r"^(?:std::)?(?:unique_lock|lock_guard|scoped_lock|shared_lock)<")
_KEYWORDS = frozenset({"return", "if", "else", "while", "for", "switch", "case", "new", "delete", "throw",
                       "sizeof", "goto", "do", "using", "namespace", "operator", "template", "typedef",
                       "public", "private", "protected", "co_return", "default", "break", "continue"})
_BOUNDARY = frozenset({";", "{", "}", "(", ",", ")", ":"})


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split at top-level separators (outside <> () [])."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [p.strip() for p in out]


@lru_cache(maxsize=65536)
def bare(type_text: str) -> str:
    """The class a declared type denotes: 'const BufferPool&' -> 'BufferPool', unique_ptr<T> -> T.

    Containers stay containers ('std::vector<MPSStream*>'); '' for an empty type."""
    text = " ".join(w for w in type_text.replace("*", " ").replace("&", " ").split() if w not in _SPECIFIERS)
    text = text.replace(" <", "<").replace("< ", "<").replace(" >", ">").replace(" ::", "::").replace(":: ", "::")
    while True:
        m = _WRAPPER.match(text)
        if not m:
            break
        text = _split_top(m.group(1))[0].replace("*", "").replace("&", "").strip()
    if _CONTAINER.match(text) or _MAP.match(text):
        return text
    return text.split("<")[0].split("::")[-1].strip()


def smart_pointer(type_text: str | None) -> bool:
    """Whether a declared type is a smart pointer (its `.reset()`/`.get()` are its own, not the pointee's)."""
    text = " ".join(w for w in (type_text or "").split() if w not in _SPECIFIERS).replace(" ", "")
    return bool(_WRAPPER.match(text)) and not text.split("<")[0].endswith(("optional", "atomic"))


def element(type_text: str) -> str:
    """The element class of a container type ('std::array<std::unique_ptr<MPSStream>, 8>' -> 'MPSStream')."""
    text = bare(type_text)
    m = _CONTAINER.match(text)
    if m:
        return bare(_split_top(m.group(1))[0])
    m = _MAP.match(text)
    if m:
        parts = _split_top(m.group(1))
        return bare(parts[1]) if len(parts) > 1 else ""
    return ""


class _Returns:
    """'Class::method' / 'function' -> return type text: the first definition or declaration (in file order)
    that has one. Definitions' heads are read on the first ask for their name (most are never asked);
    a definition is (path, scope ordinal), its model found by `load(path)`."""

    def __init__(self, load=None) -> None:
        self.found: dict[str, str] = {}
        self.pending: dict[str, list] = {}     # name -> (path, ordinal) or a declared type text, in order
        self.load = load

    def add(self, name: str, source: "tuple[str, int] | str") -> None:
        """A definition (path, ordinal of its function scope) or a declaration's type text for `name`."""
        if name not in self.found:
            self.pending.setdefault(name, []).append(source)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The return type of `name`, or `default`."""
        depends.note(("tr", name))
        depends.note(("classes",))      # where a method is filed ('C::m' or 'm') depends on every class
        hit = self.found.get(name)
        if hit is None and name in self.pending:
            for source in self.pending.pop(name):
                if isinstance(source, str):
                    hit = source
                else:
                    model = self.load(source[0])
                    hit = return_type(model, scope_at(model, source[1]))
                if hit:
                    break
            self.found[name] = hit = hit or ""
        return hit if hit else default


def scope_at(model: FileModel, ordinal: int) -> Scope:
    """The scope with this position in model.scopes() (a stable id within one version of a file)."""
    model.scopes()          # fills the model's list of scopes on first use
    return model.__dict__["_scopes"][ordinal]


@dataclass
class TypeFacts:
    """What one file adds to the type tables (plain data: cached per file, combined by types_from)."""

    path: str
    members: list[Member]                       # in file order
    bases: list[tuple[str, set[str]]]           # (class short name, its bases)
    classes: set[str]                           # short names of classes declared (members' owners too)
    functions: list[tuple[str, str, int]]       # (owner class short name or '', simple name, scope ordinal)
    declared: list[tuple[str, str, dict]]       # (return type, 'Class::name', defaults) of declarations
    aliases: dict[str, str]


def type_facts(model: FileModel) -> TypeFacts:
    """The type-table facts of one file."""
    bases = []
    classes = {m.owner.split("::")[-1] for m in model.members if m.owner}
    for cls in model.scopes("class"):
        found = _class_bases(model, cls)
        if found:
            bases.append((cls.name.split("::")[-1], found))
        if cls.name:
            classes.add(cls.name.split("::")[-1])
    functions = [(class_of(fn).split("::")[-1], _simple(fn.name), n) for n, fn in enumerate(model.scopes())
                 if fn.kind == "function"]
    return TypeFacts(model.path, list(model.members), bases, classes, functions, list(_declared_methods(model)),
                     _aliases(model))


@dataclass
class Types:
    """Project-wide type facts: members per class, bases, return types per method."""

    members: dict[str, dict[str, Member]] = field(default_factory=dict)   # class short -> name -> member
    bases: dict[str, set[str]] = field(default_factory=dict)
    returns: _Returns = field(default_factory=_Returns)        # 'Class::method' and 'function' -> type text
    globals: dict[str, Member] = field(default_factory=dict)   # namespace-scope and static variables
    aliases: dict[str, str] = field(default_factory=dict)      # `using MPSEventPtr = std::unique_ptr<MPSEvent>;`
    defaults: dict[str, dict[int, str]] = field(default_factory=dict)   # 'Class::method' -> {index: default}
    typed_deps: dict = field(default_factory=dict, repr=False, compare=False)
    misses: int = 0                                            # expressions no table could follow
    # type_of per (function, expression): rules ask for the same receivers at every call through them
    typed: dict = field(default_factory=dict, repr=False, compare=False)

    def member(self, cls: str, name: str) -> Member | None:
        """A member of `cls` or of one of its bases."""
        owner = _declaring(self, cls, name)
        return self.members[owner][name] if owner else None

    def expand(self, type_text: str | None, depth: int = 4) -> str | None:
        """A type with `using`/`typedef` aliases replaced by what they name."""
        while type_text and depth:
            target = self.aliases.get(bare(type_text))
            if not target:
                break
            type_text, depth = target, depth - 1
        return type_text

    def returns_of(self, cls: str, name: str) -> str:
        """The return type of `cls::name` (bases searched), or of a free function `name` when cls is ''."""
        return next((hit for c in lineage(self.bases, cls) if (hit := self.returns.get(f"{c}::{name}" if c else name))),
                    "")


_TYPES: list = [(), None]


def types(models: list[FileModel]) -> Types:
    """The type tables of this list of models (built once per run, identity-checked like queries.index)."""
    built_from, hit = _TYPES
    if hit is None or len(built_from) != len(models) or any(a is not b for a, b in zip(built_from, models)):
        by_path = {m.path: m for m in models}
        hit = types_from([type_facts(m) for m in models], by_path.__getitem__)
        _TYPES[:] = [tuple(models), hit]
    return hit


def types_from(facts: list[TypeFacts], load) -> Types:
    """The type tables of files with these facts, in file order; `load(path)` gives a file's model when a
    definition's return type is first asked for."""
    # while lookups are noted (analyzers.depends), so are those of these tables
    ts = Types(members=depends.table("tm"), bases=depends.table("tb"), returns=_Returns(load),
               globals=depends.table("tg"), aliases=depends.table("ta"), defaults=depends.table("td"))
    members, globs, bases = ts.members, ts.globals, ts.bases
    for f in facts:
        for m in f.members:
            if m.owner:
                dict.setdefault(members, m.owner.split("::")[-1], {}).setdefault(m.name, m)
            elif m.static and not m.function:
                dict.setdefault(globs, m.name, m)
        for cls, found in f.bases:
            dict.setdefault(bases, cls, set()).update(found)
    classes = set().union(*(f.classes for f in facts)) if facts else set()
    returns = ts.returns
    for f in facts:
        for owner, simple, ordinal in f.functions:
            # `at::mps::getCurrentMPSStream` is a free function of a namespace, not a method
            returns.add(f"{owner}::{simple}" if owner in classes else simple, (f.path, ordinal))
        for typ, name, defaults in f.declared:
            if typ:
                returns.add(name, typ)
            if defaults:
                dict.setdefault(ts.defaults, name, defaults)
        dict.update(ts.aliases, f.aliases)
    return ts


def _aliases(model: FileModel) -> dict[str, str]:
    """`using A = T;` and `typedef T A;` outside functions."""
    texts, kinds, out = model.tokens.texts, model.tokens.kinds, {}
    end = max(len(texts) - 3, 0)       # room for `using A =` after the keyword
    # the two keywords found by a C scan (Tokens.indices) rather than a Python test of every token
    starts = sorted(model.tokens.indices("using", 0, end) + model.tokens.indices("typedef", 0, end))
    for i in starts:
        if texts[i] == "using" and kinds[i + 1] == IDENT and texts[i + 2] == "=":
            j = _next_semicolon(texts, i + 3)
            out[texts[i + 1]] = " ".join(texts[i + 3:j])
        elif texts[i] == "typedef":
            j = _next_semicolon(texts, i + 1)
            if j - 1 > i + 1 and kinds[j - 1] == IDENT:
                out[texts[j - 1]] = " ".join(texts[i + 1:j - 1])
    return out


def _next_semicolon(texts: list[str], i: int) -> int:
    """The index of the first ';' at or after i (len(texts) when none)."""
    try:
        return texts.index(";", i)
    except ValueError:
        return len(texts)


def _simple(name: str) -> str:
    return name.rsplit("::", 1)[-1]


def class_of(fn: Scope) -> str:
    """Qualified class of a method scope ('' for free functions and ObjC methods)."""
    cls = fn.enclosing("class")
    if cls is not None and cls.name and not cls.objc:
        return cls.name
    if fn.name.startswith(("-[", "+[")):
        return ""
    return fn.name.rsplit("::", 1)[0] if "::" in fn.name else ""


def token_at(model: FileModel, line: int, col: int) -> int:
    """Index of the first token at or after (line, col)."""
    return model.tokens.at(line, col)


def _head(model: FileModel, fn: Scope) -> tuple[int, int, int]:
    """(start of the declaration, index of the (qualified) name's first token, index of the parameters' '(').

    A function scope starts at its declaration's first token (`MPSStream* MPSStreamPool::getStream(`)."""
    texts = model.tokens.texts
    head = token_at(model, fn.line, fn.col)
    p = head
    while p < fn.first_token and p < len(texts) and texts[p] != "(":
        p += 1
    start = p - 1
    while start - 2 >= head and texts[start - 1] == "::":
        start -= 2
    return head, max(start, head), p


def return_type(model: FileModel, fn: Scope) -> str:
    """The declared return type of a function definition ('' for constructors and unknown heads)."""
    if fn.name.startswith(("-[", "+[")):
        return ""
    toks = model.tokens
    k, start, _ = _head(model, fn)
    words = [t for t, kind in zip(toks.texts[k:start], toks.kinds[k:start]) if kind != PREPROC and t not in ("[[", "]]")]
    words = [w for w in words if w not in _SPECIFIERS and not w.isupper()]
    text = " ".join(words).replace("template <", "<")
    return "" if not text or text in ("~",) or text.startswith("<") else text


_CLASS_MARKS = frozenset({"{", "(", "[", "}", ")", "]", ";", ":"})     # what _declared_methods acts on


def _declared_methods(model: FileModel):
    """(return type, 'Class::name') of method declarations without a body in class scopes."""
    toks = model.tokens
    texts, kinds = toks.texts, toks.kinds
    for cls in model.scopes("class"):
        if cls.objc or not cls.name:
            continue
        short = cls.name.split("::")[-1]
        depth, start = 0, cls.first_token
        n = len(texts)
        end = min(cls.last_token, n)
        # only brackets, ';' and ':' change anything below: those picked out in C, not every token in Python
        for i in compress(range(start, end), map(_CLASS_MARKS.__contains__, texts[start:end])):
            t = texts[i]
            if t in ("{", "(", "["):
                depth += 1
            elif t in ("}", ")", "]"):
                depth -= 1
                if depth == 0 and t == "}":
                    start = i + 1     # an inline body ends its statement: the next declaration starts after it
            elif depth == 0 and t in (";", ":") and not (t == ":" and i + 1 < n and texts[i + 1] == ":") \
                    and not (t == ":" and texts[i - 1] == ":"):
                # the first `name(` of the statement
                j = next((j for j in range(start, i - 1) if kinds[j] == IDENT and texts[j + 1] == "("), None)
                if j is not None:
                    ret = [x for x, k in zip(texts[start:j], kinds[start:j]) if x not in _SPECIFIERS
                           and k != PREPROC and not x.isupper()]
                    if ret and ret[0] in ("public", "private", "protected", "return", "using", "friend"):
                        ret = []
                    yield " ".join(ret), f"{short}::{texts[j]}", _defaults(texts[j + 2:i])
                start = i + 1


def _defaults(texts: list[str]) -> dict[int, str]:
    """{parameter index: default value text} of a parameter list's token texts (after its '(')."""
    out, depth, n, default = {}, 0, 0, None
    for t in texts:
        if t in ("(", "<", "[", "{"):
            depth += 1
        elif t in (")", ">", "]", "}"):
            if depth == 0:
                break
            depth -= 1
        if depth == 0 and t == ",":
            if default is not None:
                out[n] = " ".join(default)
            n, default = n + 1, None
        elif depth == 0 and t == "=" and default is None:
            default = []
        elif default is not None:
            default.append(t)
    if default is not None:
        out[n] = " ".join(default)
    return out


def defaults_of(ts: Types, fn: Scope) -> dict[int, str]:
    """Default argument values of a function: its own parameter list's and its class declaration's."""
    owner = class_of(fn).split("::")[-1]
    key = f"{owner}::{_simple(fn.name)}" if owner else _simple(fn.name)
    return ts.defaults.get(key, {})


def _class_bases(model: FileModel, cls: Scope) -> set[str]:
    texts = model.tokens.texts      # the column: no Token made per look
    k = cls.first_token - 2
    header: list[str] = []
    while k >= 0 and texts[k] not in (";", "}", "{", "class", "struct"):
        header.append(texts[k])
        k -= 1
    header.reverse()
    if ":" not in header:
        return set()
    after = header[header.index(":") + 1:]
    return {w.split("::")[-1] for w in after if re.fullmatch(r"[A-Za-z_][\w:]*", w)
            and w not in ("public", "private", "protected", "virtual")}


# -- per function: parameters and locals --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Local:
    """A parameter or local variable: its declared type text and where it is declared."""

    name: str
    type: str
    line: int
    param: bool = False
    index: int = -1          # parameter position
    auto: tuple[int, str] | None = None    # `auto x = ...` / `for (auto& x : c)`: (token, '=' or ':'), typed lazily


def parameters(model: FileModel, fn: Scope) -> list[Local]:
    """The parameters of a function definition, in order."""
    cached = fn.memos().get("_params")
    if cached is not None:
        return cached
    toks = model.tokens
    texts, kinds = toks.texts, toks.kinds
    out: list[Local] = []
    _, _, p = _head(model, fn)
    if p < len(toks) and texts[p] == "(":
        depth, cur, pieces = 0, [], []      # token indices of each parameter
        for i in range(p + 1, min(fn.first_token, len(texts))):
            t = texts[i]
            if t in ("(", "<", "["):
                depth += 1
            elif t in (")", ">", "]"):
                if depth == 0:
                    break
                depth -= 1
            if t == "," and depth == 0:
                pieces.append(cur)
                cur = []
            else:
                cur.append(i)
        pieces.append(cur)
        for n, piece in enumerate(pieces):
            words = [texts[i] for i in piece]
            if "=" in words:
                piece = piece[:words.index("=")]
            if len(piece) >= 2 and any(kinds[i] == IDENT for i in piece) and kinds[piece[-1]] == IDENT \
                    and texts[piece[-1]] not in _SPECIFIERS:
                typ = " ".join(texts[i] for i in piece[:-1])
                last = piece[-1]
                out.append(Local(texts[last], typ, toks.lines[last], True, n))
    fn.memos()["_params"] = out
    return out


def find_local(model: FileModel, fn: Scope, name: str, before: int = -1) -> Local | None:
    """The declaration of `name` in `fn` (the last one before token `before`), or its parameter; None if
    neither. Looks only at the places the name occurs in the body (found by a C scan), not at every token."""
    memo = fn.memos().setdefault("_find", {})
    key = (name, before)
    if key not in memo:
        found = next((p for p in parameters(model, fn) if p.name == name), None)
        end = min(fn.last_token, before) if before >= 0 else fn.last_token
        for i in model.tokens.indices(name, fn.first_token, max(end, fn.first_token)):
            local = _declared_at(model, fn, i)
            if local is not None:
                found = local
        memo[key] = found
    return memo[key]


class FunctionLocals:
    """A function's parameters and locals as a mapping by name, each name looked up when first asked
    (find_local): callers that ask for a few names per function (lockset: the member names it meets)
    need not scan every body token."""

    __slots__ = ("model", "fn")

    def __init__(self, model: FileModel, fn: Scope):
        self.model, self.fn = model, fn

    def get(self, name: str, default: Local | None = None) -> Local | None:
        """The local or parameter `name` (the last declaration in the body wins), or `default`."""
        hit = find_local(self.model, self.fn, name)
        return default if hit is None else hit

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def __getitem__(self, name: str) -> Local:
        hit = self.get(name)
        if hit is None:
            raise KeyError(name)
        return hit


_DECLARATOR_END = frozenset({"=", ";", "{", ":", "(", ",", "[", ")"})    # what follows a declared name


def _declared_at(model: FileModel, fn: Scope, i: int) -> Local | None:
    """The local declared by the identifier at token i (`T x = ...`, `T* x;`, `auto& x :`), or None."""
    toks = model.tokens
    texts, kinds = toks.texts, toks.kinds      # columns: this runs for every identifier of every function
    text = texts[i]
    if kinds[i] != IDENT or text in _KEYWORDS or i + 1 >= len(texts) or i <= fn.first_token:
        return None
    nxt = texts[i + 1]
    if nxt not in _DECLARATOR_END:
        return None
    prev, prev_kind = texts[i - 1], kinds[i - 1]
    if not (prev_kind == IDENT and prev not in _KEYWORDS or prev in ("*", "&", "&&", ">")):
        return None
    j = i                                # walk back to the statement start, over template arguments
    while j > fn.first_token and kinds[j - 1] != PREPROC:
        if texts[j - 1] in (">", ">>"):  # `std::array<MPSStream*, N> x`: the ',' inside is no boundary
            depth, k = 0, j - 1
            while k > fn.first_token:
                depth += {">": 1, ">>": 2, "<": -1}.get(texts[k], 0)
                if depth <= 0 or texts[k] in (";", "{", "}"):
                    break
                k -= 1
            if depth != 0:
                break
            j = k
        elif texts[j - 1] in _BOUNDARY:
            break
        else:
            j -= 1
    type_toks = texts[j:i]
    if IDENT not in kinds[j:i] or type_toks[0] in _KEYWORDS \
            or any(x in (".", "->", "=", "<<", "return", "!", "?") for x in type_toks):
        return None
    if nxt == "(" and prev not in ("*", "&", "&&") and prev_kind != IDENT:
        return None
    typ = " ".join(type_toks)
    return Local(text, typ, toks.lines[i], auto=(i, nxt) if bare(typ) == "auto" else None)


def local_type(model: FileModel, ts: Types, fn: Scope, local: Local) -> str:
    """A local's type, with `auto` worked out from its initializer on first use."""
    if local.auto is None:
        return local.type
    # per run's type tables: the gate's two revisions share unchanged files' models, not their tables
    memo = fn.memos()
    held = memo.get("_auto")
    if held is None or held[0] is not ts:
        held = memo["_auto"] = (ts, {}, {})
    resolved, deps = held[1], held[2]        # deps: the table keys each type was worked out from
    if local.name not in resolved:
        resolved[local.name] = local.type          # a recursion guard: `auto x = f(x)`
        resolved[local.name] = depends.worked_out(
            deps, local.name, lambda: _auto_type(model, ts, fn, *local.auto) or local.type)
    else:
        depends.recall(deps, local.name)
    return resolved[local.name]


def _auto_type(model: FileModel, ts: Types, fn: Scope, i: int, nxt: str) -> str:
    """The type an `auto` declaration gets: from `= expr;` or, in range-for, from the container's element."""
    toks = model.tokens
    j, depth, expr = i + 2, 0, []
    stop = (";",) if nxt == "=" else (")",)
    if nxt not in ("=", ":"):
        return ""
    while j < min(fn.last_token, len(toks)):
        x = toks[j].text
        if x in ("(", "[", "{"):
            depth += 1
        elif x in (")", "]", "}"):
            if depth == 0:
                break
            depth -= 1
        if depth == 0 and x in stop:
            break
        expr.append(x)
        j += 1
    text = "".join(expr)
    if not text:
        return ""
    scope = _scope_at_token(fn, i)
    found = type_of(model, ts, scope, text, _declared=i)
    if nxt == ":":
        return element(found) if found else ""
    return found or ""


def _scope_at_token(fn: Scope, i: int) -> Scope:
    scope = fn
    while True:
        inner = next((c for c in scope.children if c.first_token <= i < c.last_token), None)
        if inner is None:
            return scope
        scope = inner


# -- expressions ----------------------------------------------------------------------------------------

_SEGMENT = re.compile(r"\s*(\*?)\s*([A-Za-z_][\w:]*)\s*((?:\([^()]*(?:\([^()]*\))*[^()]*\)|\[[^\[\]]*\])*)\s*")


_ACCESS_SPLIT = re.compile(r"->|\.(?!\d)")


@lru_cache(maxsize=65536)
def _segments(expr: str) -> tuple[str, ...] | None:
    if len(expr) > 160:
        return None                       # an ObjC message or a long call chain: not a member path
    if not any(c in expr for c in "([<"):
        parts = tuple(_ACCESS_SPLIT.split(expr))
        return parts if all(parts) else None
    out, depth, cur, i = [], 0, "", 0
    while i < len(expr):
        ch = expr[i]
        if ch in "([<" and not (ch == "<" and depth == 0 and not cur):
            depth += 1 if ch != "<" else 0
        elif ch in ")]":
            depth -= 1
        if depth == 0 and (expr.startswith("->", i) or (ch == "." and not expr[i + 1:i + 2].isdigit())):
            out.append(cur)
            cur = ""
            i += 2 if ch == "-" else 1
            continue
        cur += ch
        i += 1
    out.append(cur)
    return tuple(out) if all(out) else None


def type_of(model: FileModel, ts: Types, scope: Scope, expr: str, _declared: int = -1) -> str | None:
    """The declared type text of an expression (None when some step is not known)."""
    fn = scope.function()
    if _declared >= 0:          # an `auto` initializer: typed as of its declaration, once (local_type memoises it)
        return _type_of(model, ts, fn, expr, _declared)
    key = (id(fn), expr)        # the function itself is kept with the answer: an id alone could be reused
    hit = ts.typed.get(key)
    if hit is None or hit[0] is not fn:
        hit = ts.typed[key] = (fn, depends.worked_out(ts.typed_deps, key,
                                                      lambda: _type_of(model, ts, fn, expr, _declared)))
    else:
        depends.recall(ts.typed_deps, key)
    return hit[1]


def _type_of(model: FileModel, ts: Types, fn: Scope | None, expr: str, _declared: int) -> str | None:
    expr = expr.replace(" ", "")
    while expr.startswith("(") and expr.endswith(")") and expr.count("(") == 1:
        expr = expr[1:-1]
    expr = expr.lstrip("&*")
    parts = _segments(expr)
    if not parts:
        return None
    cls = class_of(fn).split("::")[-1] if fn is not None else ""
    current: str | None = None
    for n, seg in enumerate(parts):
        m = _SEGMENT.fullmatch(seg)
        if not m:
            return None
        name, tail = m.group(2), m.group(3)
        called = tail.startswith("(")
        if n == 0:
            current = _first(model, ts, fn, cls, name, called, _declared)
        else:
            owner = bare(current or "")
            if called:
                current = ts.returns_of(owner, name.split("::")[-1])
            else:
                member = ts.member(owner, name)
                current = member.type if member is not None else None
        current = ts.expand(current)
        if not current:
            return None
        subscripts = tail.count("[") if not called else tail.split(")")[-1].count("[")
        for _ in range(subscripts):
            current = element(current) or (bare(current) if "*" in current else None)
            if not current:
                return None
    return current


def _first(model: FileModel, ts: Types, fn: Scope | None, cls: str, name: str, called: bool,
           declared: int) -> str | None:
    if name in ("this", "self"):
        return cls + "*" if cls else None
    if called:
        if "::" in name:
            owner, _, short = name.rpartition("::")
            return ts.returns_of(owner.split("::")[-1], short) or ts.returns.get(short)
        return ts.returns_of(cls, name) or ts.returns.get(name)
    if "::" in name:
        owner, _, short = name.rpartition("::")
        member = ts.member(owner.split("::")[-1], short)
        return member.type if member is not None else None
    if fn is not None:
        local = find_local(model, fn, name, declared)
        if local is not None:
            return local_type(model, ts, fn, local)
    if cls:
        member = ts.member(cls, name)
        if member is not None:
            return member.type
    glob = ts.globals.get(name)
    return glob.type if glob is not None else None


def member_of(model: FileModel, ts: Types, scope: Scope, expr: str) -> tuple[str, Member] | None:
    """(declaring class short name, member) of the member an expression ends in, or None."""
    expr = expr.replace(" ", "").lstrip("&*")
    if expr.startswith("this->"):
        expr = expr[len("this->"):]
    parts = _segments(expr)
    if not parts:
        return None
    last = parts[-1]
    m = _SEGMENT.fullmatch(last)
    if not m or m.group(3).startswith("("):
        return None
    name = m.group(2)
    if len(parts) == 1:
        fn = scope.function()
        if fn is not None and find_local(model, fn, name) is not None:
            return None          # a local or parameter, not a member
        cls = class_of(fn).split("::")[-1] if fn is not None else ""
        owner = _declaring(ts, cls, name) if cls else ""
        if owner:
            return owner, ts.members[owner][name]
        return None
    base = type_of(model, ts, scope, "->".join(parts[:-1]))
    if base is None:
        ts.misses += 1
        return None
    owner = _declaring(ts, bare(base), name)
    if not owner:
        ts.misses += 1
        return None
    return owner, ts.members[owner][name]


def _declaring(ts: Types, cls: str, name: str) -> str:
    """The class among `cls` and its bases that declares the member `name` ('' if none)."""
    return next((c for c in lineage(ts.bases, cls) if name in ts.members.get(c, {})), "")


def lineage(bases: dict[str, set[str]], cls: str):
    """`cls`, then its bases (each once, nearest first)."""
    seen: set[str] = set()
    todo = [cls]
    while todo:
        c = todo.pop()
        if c not in seen:
            seen.add(c)
            yield c
            todo.extend(bases.get(c, ()))


def guard_parameter(model: FileModel, fn: Scope | None, name: str) -> Local | None:
    """The parameter `name` of `fn` when it is a lock guard passed by reference (the caller's lock)."""
    if fn is None:
        return None
    for p in parameters(model, fn):
        if p.name == name and "&" in p.type and GUARD_PARAM.match(p.type.replace(" ", "").removeprefix("const")):
            return p
    return None


def tokens_text(toks: list[Token]) -> str:
    """Token texts joined without spaces (an expression as the model's calls write it)."""
    return "".join(t.text for t in toks)


def coverage_of(model: FileModel, ts: Types) -> dict[str, int]:
    """How the lock expressions of one file were named, with the run's type tables: by their declaring
    class (`typed`), or as written because a receiver's type is unknown (`as_written`; the name heuristics
    apply there)."""
    typed = as_written = 0
    for scope in model.scopes():
        for region in scope.locks:
            if region.kind == "call_once" or not re.search(r"->|\.|^(m_|_)\w+$|\w+_$", region.lock):
                continue
            if guard_parameter(model, scope.function(), region.lock):
                continue
            if member_of(model, ts, scope, region.lock) is not None:
                typed += 1
            else:
                as_written += 1
    return {"typed": typed, "as_written": as_written}
