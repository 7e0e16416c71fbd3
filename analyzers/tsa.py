"""Inventory of Clang thread-safety annotations (TSA) from the analyzer's code model, and its regressions.

Reads `FileModel` tokens (comments, strings, `#if 0` and `#define` lines are already out of the code
tokens), recognises every attribute spelling (raw `__attribute__((guarded_by(m)))`, `[[clang::...]]`,
macros such as GUARDED_BY / EXCLUSIVE_LOCKS_REQUIRED with or without a project prefix) and normalises
it to clang's attribute name. Per class: capabilities, the members they guard, the members that still
need an annotation. `compare` and `check_minimums` turn two inventories (or one and a YAML of minimums)
into regression lines for the CI gate.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Iterable

from analyzers.model import IDENT, STRING, PREPROC, BRACKETS, FileModel, Member, Token, Tokens

# Canonical kinds: clang's own attribute names (the shared/generic variants kept apart).
KINDS = (
    "capability", "scoped_capability", "guarded_by", "pt_guarded_by", "guarded_var", "pt_guarded_var",
    "acquired_before", "acquired_after", "requires_capability", "requires_shared_capability",
    "acquire_capability", "acquire_shared_capability", "release_capability", "release_shared_capability",
    "release_generic_capability", "try_acquire_capability", "try_acquire_shared_capability",
    "locks_excluded", "assert_capability", "assert_shared_capability", "lock_returned",
    "no_thread_safety_analysis",
)
GUARD_KINDS = frozenset({"guarded_by", "pt_guarded_by", "guarded_var", "pt_guarded_var"})

# Raw attribute names (inside __attribute__((...)) or [[clang::...]]) -> kind.
RAW = {
    "capability": "capability", "shared_capability": "capability", "lockable": "capability",
    "scoped_lockable": "scoped_capability",
    "guarded_by": "guarded_by", "pt_guarded_by": "pt_guarded_by",
    "guarded_var": "guarded_var", "pt_guarded_var": "pt_guarded_var",
    "acquired_before": "acquired_before", "acquired_after": "acquired_after",
    "requires_capability": "requires_capability", "exclusive_locks_required": "requires_capability",
    "requires_shared_capability": "requires_shared_capability",
    "shared_locks_required": "requires_shared_capability",
    "acquire_capability": "acquire_capability", "exclusive_lock_function": "acquire_capability",
    "acquire_shared_capability": "acquire_shared_capability",
    "shared_lock_function": "acquire_shared_capability",
    "release_capability": "release_capability", "release_shared_capability": "release_shared_capability",
    "release_generic_capability": "release_generic_capability", "unlock_function": "release_generic_capability",
    "try_acquire_capability": "try_acquire_capability", "exclusive_trylock_function": "try_acquire_capability",
    "try_acquire_shared_capability": "try_acquire_shared_capability",
    "shared_trylock_function": "try_acquire_shared_capability",
    "locks_excluded": "locks_excluded",
    "assert_capability": "assert_capability", "assert_exclusive_lock": "assert_capability",
    "assert_shared_capability": "assert_shared_capability", "assert_shared_lock": "assert_shared_capability",
    "lock_returned": "lock_returned", "no_thread_safety_analysis": "no_thread_safety_analysis",
}
# Macro spellings (conventional and legacy) -> kind.
MACROS = {
    "CAPABILITY": "capability", "SHARED_CAPABILITY": "capability", "LOCKABLE": "capability",
    "SCOPED_CAPABILITY": "scoped_capability", "SCOPED_LOCKABLE": "scoped_capability",
    "GUARDED_BY": "guarded_by", "PT_GUARDED_BY": "pt_guarded_by",
    "GUARDED_VAR": "guarded_var", "PT_GUARDED_VAR": "pt_guarded_var",
    "ACQUIRED_BEFORE": "acquired_before", "ACQUIRED_AFTER": "acquired_after",
    "REQUIRES": "requires_capability", "EXCLUSIVE_LOCKS_REQUIRED": "requires_capability",
    "REQUIRES_SHARED": "requires_shared_capability", "SHARED_LOCKS_REQUIRED": "requires_shared_capability",
    "ACQUIRE": "acquire_capability", "EXCLUSIVE_LOCK_FUNCTION": "acquire_capability",
    "ACQUIRE_SHARED": "acquire_shared_capability", "SHARED_LOCK_FUNCTION": "acquire_shared_capability",
    "RELEASE": "release_capability", "RELEASE_SHARED": "release_shared_capability",
    "RELEASE_GENERIC": "release_generic_capability", "UNLOCK_FUNCTION": "release_generic_capability",
    "TRY_ACQUIRE": "try_acquire_capability", "EXCLUSIVE_TRYLOCK_FUNCTION": "try_acquire_capability",
    "TRY_ACQUIRE_SHARED": "try_acquire_shared_capability",
    "SHARED_TRYLOCK_FUNCTION": "try_acquire_shared_capability",
    "EXCLUDES": "locks_excluded", "LOCKS_EXCLUDED": "locks_excluded",
    "ASSERT_CAPABILITY": "assert_capability", "ASSERT_EXCLUSIVE_LOCK": "assert_capability",
    "ASSERT_SHARED_CAPABILITY": "assert_shared_capability", "ASSERT_SHARED_LOCK": "assert_shared_capability",
    "RETURN_CAPABILITY": "lock_returned", "LOCK_RETURNED": "lock_returned",
    "NO_THREAD_SAFETY_ANALYSIS": "no_thread_safety_analysis",
}
# Macros written without an argument list.
BARE_MACROS = frozenset({"SCOPED_CAPABILITY", "SCOPED_LOCKABLE", "LOCKABLE", "GUARDED_VAR", "PT_GUARDED_VAR",
                         "NO_THREAD_SAFETY_ANALYSIS"})
# Ordinary words: only bare or behind a configured prefix (MPS_RELEASE), never behind any prefix.
AMBIGUOUS = frozenset({"CAPABILITY", "LOCKABLE", "REQUIRES", "ACQUIRE", "RELEASE", "EXCLUDES"})
DEFAULT_PREFIXES = ("ABSL_", "MPS_", "C10_", "TS_")
_ANY_PREFIX = re.compile(r"[A-Z][A-Z0-9]*_")
_WRAPPER = re.compile(r"\w*THREAD_(?:SAFETY_)?ANNOTATION\w*")   # THREAD_ANNOTATION_ATTRIBUTE__(x) helpers
_DEFINE = re.compile(r"#\s*define\s+(\w+)")

_MUTEX = re.compile(r"(?i)(?:mutex|spinlock|spin_lock|rwlock|os_unfair_lock)(?:_[st])?$")
_UNGUARDED_TYPES = re.compile(r"(?i)^(?:atomic\w*|condition_variable(?:_any)?|once_flag)$")
_BODY_SCOPES = ("function", "block", "lambda", "dispatch", "compound")


@dataclass(frozen=True)
class Use:
    """One annotation in the code."""

    path: str
    line: int
    col: int
    kind: str
    spelling: str        # as written: 'GUARDED_BY', 'MPS_REQUIRES', 'guarded_by', 'clang::guarded_by'
    args: str            # argument text, spaces removed: 'm_mutex'
    owner: str = ""      # qualified class the declaration is in ('' at namespace scope)
    target: str = ""     # the annotated member, function or class name


@dataclass
class Capability:
    """Something code locks: a mutex member, a member of a CAPABILITY type, or a guard named by GUARDED_BY."""

    name: str
    type: str
    line: int
    source: str                      # mutex | capability-type | guard-argument
    guards: list[str] = field(default_factory=list)   # data members it guards
    mentions: int = 0                # annotations in its class that name it or sit on it (0: unannotated)


@dataclass
class ClassInfo:
    """A class that owns a capability or has guarded members."""

    path: str
    name: str                        # qualified; '' for file-scope and function-local statics
    line: int
    capabilities: list[Capability] = field(default_factory=list)
    guarded: dict[str, str] = field(default_factory=dict)     # member -> guard expression
    unannotated: list[str] = field(default_factory=list)      # members that need an annotation and lack one

    @property
    def need(self) -> int:
        """Members that need an annotation (guarded ones included)."""
        return len(self.guarded) + len(self.unannotated)

    @property
    def coverage(self) -> float | None:
        """Guarded members / members that need one (None when none need one)."""
        return len(self.guarded) / self.need if self.need else None


@dataclass
class FileInfo:
    """Per-file counts."""

    path: str
    counts: dict[str, int] = field(default_factory=dict)      # kind -> uses (only kinds present)
    definitions: int = 0                                      # TSA macro #defines (not uses)
    guarded: int = 0
    need: int = 0

    @property
    def annotations(self) -> int:
        """All uses in the file."""
        return sum(self.counts.values())

    @property
    def coverage(self) -> float | None:
        """Guarded members / members that need one over the file's classes."""
        return self.guarded / self.need if self.need else None


@dataclass
class Inventory:
    """Everything the inventory found in one set of files."""

    files: list[FileInfo] = field(default_factory=list)
    classes: list[ClassInfo] = field(default_factory=list)
    uses: list[Use] = field(default_factory=list)

    def totals(self) -> dict[str, Any]:
        """Counts over all files."""
        by_kind: dict[str, int] = {}
        for use in self.uses:
            by_kind[use.kind] = by_kind.get(use.kind, 0) + 1
        guarded = sum(len(c.guarded) for c in self.classes)
        need = sum(c.need for c in self.classes)
        return {"files": len(self.files), "annotations": len(self.uses),
                "by_kind": {k: by_kind[k] for k in KINDS if k in by_kind},
                "definitions": sum(f.definitions for f in self.files),
                "classes": len([c for c in self.classes if c.name]),
                "capabilities": sum(len(c.capabilities) for c in self.classes),
                "guarded": guarded, "need": need, "coverage": round(guarded / need, 4) if need else None}

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (also the --baseline file format)."""
        return {
            "totals": self.totals(),
            "files": [{"path": f.path, "annotations": f.annotations, "counts": f.counts,
                       "definitions": f.definitions, "guarded": f.guarded, "need": f.need,
                       "coverage": _round(f.coverage)} for f in self.files],
            "classes": [{"path": c.path, "name": c.name, "line": c.line,
                         "capabilities": [asdict(cap) for cap in c.capabilities],
                         "guarded": c.guarded, "unannotated": c.unannotated, "coverage": _round(c.coverage)}
                        for c in self.classes],
            "annotations": [asdict(u) for u in self.uses],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Inventory":
        """Read back what to_json wrote (KeyError/TypeError on a malformed document)."""
        files = [FileInfo(f["path"], dict(f["counts"]), f.get("definitions", 0), f.get("guarded", 0),
                          f.get("need", 0)) for f in data["files"]]
        classes = [ClassInfo(c["path"], c["name"], c["line"], [Capability(**cap) for cap in c["capabilities"]],
                             dict(c["guarded"]), list(c["unannotated"])) for c in data["classes"]]
        return cls(files, classes, [Use(**u) for u in data["annotations"]])


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


# ---- recognising annotations in tokens -------------------------------------------------------------

@lru_cache(maxsize=4096)
def _macro(name: str, prefixes: tuple[str, ...]) -> str | None:
    """The unprefixed macro a spelling stands for (ABSL_GUARDED_BY -> GUARDED_BY), or None."""
    if not name.isupper():
        return None
    if name in MACROS:
        return name
    for prefix in prefixes:
        if prefix and name.startswith(prefix) and name[len(prefix):] in MACROS:
            return name[len(prefix):]
    for i, ch in enumerate(name):   # any upper-case project prefix, for the unambiguous names
        if ch == "_" and _ANY_PREFIX.fullmatch(name[:i + 1]):
            rest = name[i + 1:]
            if rest in MACROS and rest not in AMBIGUOUS:
                return rest
    return None


def macro_kind(name: str, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> str | None:
    """The canonical kind of a macro spelling (GUARDED_BY, ABSL_GUARDED_BY, MPS_REQUIRES), or None."""
    base = _macro(name, tuple(prefixes))
    return MACROS[base] if base else None


def raw_kind(name: str) -> str | None:
    """The canonical kind of a raw attribute name (guarded_by, __guarded_by__, lockable), or None."""
    return RAW.get(name.strip("_") if name.startswith("__") and name.endswith("__") else name)


def _text(tokens: list[Token], start: int, end: int) -> str:
    return "".join(t.text for t in tokens[start:end])


@dataclass(frozen=True)
class Found:
    """An annotation in a token stream, before it is attached to a declaration."""

    kind: str
    spelling: str
    args: str
    at: int              # the attribute or macro name token
    start: int           # first token of the whole attribute (`__attribute__`, `[[`, the macro)
    end: int             # one past its last token


def _closers(texts: list[str]) -> list[int]:
    """For each opening bracket, the index of the bracket of its type closing it (len(tokens) when none):
    `model.closing` for every token in one pass (calling it per `[[` was quadratic on `[[[[…`)."""
    n = len(texts)
    out = [n] * n
    open_at: dict[str, list[int]] = {o: [] for o in BRACKETS}
    opener_of = {c: o for o, c in BRACKETS.items()}
    for i, t in enumerate(texts):
        if t in open_at:
            open_at[t].append(i)
        elif t in opener_of and open_at[opener_of[t]]:
            out[open_at[opener_of[t]].pop()] = i
    return out


def _raw_uses(tokens: list[Token], outer: int, start: int, end: int, depth_wanted: int,
              close_of: list[int]) -> Iterable[Found]:
    """Raw attribute names at bracket depth `depth_wanted` inside tokens[start:end] (the attribute
    begins at tokens[outer] and ends with tokens[end]). Groups opened at that depth are skipped whole:
    names inside them are deeper, and rescanning them from every `[[` would be quadratic."""
    depth = 0
    i = start
    while i < end:
        t = tokens[i]
        if t.text in ("(", "["):
            if depth == depth_wanted:
                i = close_of[i] + 1
                continue
            depth += 1
        elif t.text in (")", "]"):
            depth -= 1
        elif t.kind == IDENT and depth == depth_wanted and (kind := raw_kind(t.text)):
            spelling = t.text
            if i >= 2 and tokens[i - 1].text == "::":
                spelling = f"{tokens[i - 2].text}::{t.text}"
            if i + 1 < end and tokens[i + 1].text == "(":
                close = close_of[i + 1]
                yield Found(kind, spelling, _text(tokens, i + 2, close), i, outer, end + 1)
                i = close
                continue
            yield Found(kind, spelling, "", i, outer, end + 1)
        i += 1


def find_annotations(tokens: Tokens, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> list[Found]:
    """Every annotation in a code-token stream, in order; the whole attribute's token span for each."""
    prefixes = tuple(prefixes)
    found: list[Found] = []
    kinds, texts = tokens.kinds, tokens.texts      # the columns: this looks at every token of every file
    i, n = 0, len(texts)
    close_of = _closers(texts)
    while i < n:
        kind, text = kinds[i], texts[i]
        nxt = texts[i + 1] if i + 1 < n else ""
        prev = texts[i - 1] if i else ""
        if kind == IDENT and text in ("__attribute__", "__attribute") and nxt == "(":
            close = close_of[i + 1]
            found.extend(_raw_uses(tokens, i, i + 1, close, 2, close_of))
            i = close + 1
        elif text == "[" and nxt == "[":
            close = close_of[i]
            before = len(found)
            found.extend(_raw_uses(tokens, i, i, close, 2, close_of))
            i = close + 1 if len(found) > before else i + 1
        elif kind == IDENT and _WRAPPER.fullmatch(text) and nxt == "(":
            close = close_of[i + 1]
            found.extend(_raw_uses(tokens, i, i + 1, close, 1, close_of))
            i = close + 1
        elif (kind == IDENT and prev not in (".", "->", "::") and nxt != "::"
              and (base := _macro(text, prefixes))):
            if nxt == "(":
                close = close_of[i + 1]
                found.append(Found(MACROS[base], text, _text(tokens, i + 2, close), i, i, close + 1))
                i = close + 1
                continue
            if base in BARE_MACROS:
                found.append(Found(MACROS[base], text, "", i, i, i + 1))
            i += 1
        else:
            i += 1
    return found


def count_definitions(tokens: Tokens, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> int:
    """`#define`s of TSA macros (they declare spellings; they are not uses)."""
    kinds, texts = tokens.kinds, tokens.texts
    return sum(1 for k, t in zip(kinds, texts) if k == PREPROC and (m := _DEFINE.match(t))
               and macro_kind(m.group(1), prefixes))


# ---- attaching annotations to declarations --------------------------------------------------------

_DECL_STOP = frozenset({";", "{", "}"})
_ACCESS = frozenset({"public", "private", "protected"})
_CLASS_KEYS = frozenset({"class", "struct", "union"})


def _declaration(tokens: list[Token], at: int) -> tuple[int, int]:
    """The token range [start, end) of the declaration around tokens[at] (at bracket depth 0)."""
    depth, start = 0, at
    while start > 0:
        t = tokens[start - 1].text
        if t in (")", "]"):
            depth += 1
        elif t in ("(", "["):
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and (t in _DECL_STOP or tokens[start - 1].kind == PREPROC
                             or (t == ":" and start >= 2 and tokens[start - 2].text in _ACCESS)):
            break
        start -= 1
    depth, end = 0, at
    while end < len(tokens):
        t = tokens[end].text
        if t in ("(", "["):
            depth += 1
        elif t in (")", "]"):
            depth -= 1
        elif depth == 0 and t in _DECL_STOP:
            break
        end += 1
    return start, end


def _target(tokens: list[Token], start: int, end: int, in_skip: list[bool]) -> str:
    """The name a declaration declares (class, function or variable), annotations left out."""
    masked = [i for i in range(start, end) if not in_skip[i]]
    texts = [tokens[i].text for i in masked]
    idents = [tokens[i].kind == IDENT for i in masked]
    if texts and texts[0] == "template":      # template<...> prefix: skip to the declaration itself
        depth = 0
        for k, tx in enumerate(texts):
            depth += (tx == "<") - (tx == ">")
            if k and depth == 0:
                texts, idents = texts[k + 1:], idents[k + 1:]
                break
    depth = 0
    for k, tx in enumerate(texts):
        if tx in _CLASS_KEYS and depth == 0:
            stop = next((j for j in range(k, len(texts)) if texts[j] in (":", "(", "final")), len(texts))
            if stop == len(texts) or texts[stop] != "(":
                # a class head: its name is the last identifier before the bases (TORCH_API X : Y)
                return next((texts[j] for j in range(stop - 1, k, -1) if idents[j]), "")
        if tx == "(" and depth == 0:
            return next((texts[j] for j in range(k - 1, -1, -1) if idents[j]), "")
        if tx == "=" and depth == 0:
            texts, idents = texts[:k], idents[:k]
            break
        depth += (tx in ("<", "[")) - (tx in (">", "]"))
    names = [tx for tx, ident in zip(texts, idents) if ident]
    return names[-1] if names else ""


@dataclass(frozen=True)
class _ClassHead:
    name: str            # qualified through enclosing namespaces and classes
    line: int


def _containers(tokens: Tokens, in_skip: list[bool]) -> tuple[list[str], list[bool], list[_ClassHead]]:
    """Per token: the qualified class it is declared in ('' outside classes) and whether it sits in a body
    (function, initializer, enum); plus every class defined. Computed from the tokens because attribute
    macros in class heads (`class CAPABILITY("mutex") Mutex {`) are exactly where TSA lives."""
    owners: list[str] = []
    bodies: list[bool] = []
    heads: list[_ClassHead] = []
    stack: list[tuple[str, str]] = []       # (ns | class | body | transparent, name)
    pending: dict[str, Any] | None = None   # a namespace/class head waiting for its '{'
    depth = 0
    owner, body = "", False

    def moved() -> tuple[str, bool]:    # owner/body of the tokens after a push or pop
        inner = next((k for k, _ in reversed(stack) if k != "transparent"), "")
        return ("::".join(n for k, n in stack if k in ("ns", "class") and n) if inner == "class" else "",
                inner == "body")

    kinds, texts = tokens.kinds, tokens.texts
    for i, (kind, text) in enumerate(zip(kinds, texts)):
        owners.append(owner)
        bodies.append(body)
        if kind == PREPROC:
            continue
        if pending is not None and depth == 0 and not in_skip[i]:
            names = pending["names"]
            if text == "{":
                if pending["kind"] == "ns":
                    stack.append(("ns", "::".join(names)))
                else:
                    name = names[-1] if names else ""
                    stack.append(("class", name))
                    if name:
                        path = [n for k, n in stack[:-1] if k in ("ns", "class") and n]
                        heads.append(_ClassHead("::".join([*path, name]), pending["line"]))
                pending = None
                owner, body = moved()
                continue
            if text == ";" or (not pending["done"] and text in (",", ">", "=", ")")):
                pending = None      # a declaration, a template parameter, an elaborated type
            elif text in (":", "final"):
                pending["done"] = True
            elif kind == IDENT and not pending["done"]:
                names.append(text)
        if text in ("(", "["):
            depth += 1
        elif text in (")", "]"):
            depth = max(0, depth - 1)
        elif text == "{":
            extern = i and kinds[i - 1] == STRING     # extern "C" { ... }
            stack.append(("transparent" if extern else "body", ""))
            owner, body = moved()
        elif text == "}":
            if stack:
                stack.pop()
                owner, body = moved()
        elif pending is None and depth == 0 and kind == IDENT and not in_skip[i]:
            prev = texts[i - 1] if i else ""
            if text == "namespace":
                pending = {"kind": "ns", "names": [], "line": tokens[i].line, "done": False}
            elif text in _CLASS_KEYS and prev not in ("enum", "<", ",", "friend"):
                pending = {"kind": "class", "names": [], "line": tokens[i].line, "done": False}
    return owners, bodies, heads


def _short(name: str) -> str:
    return name.rsplit("::", 1)[-1]


def file_uses(model: FileModel, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> tuple[list[Use], list[_ClassHead]]:
    """The annotations of one file, each attached to its owner class and target declaration; and the
    classes the file defines."""
    found = find_annotations(model.tokens, prefixes)
    in_skip = [False] * len(model.tokens)
    for f in found:
        in_skip[f.start:f.end] = [True] * (min(f.end, len(model.tokens)) - f.start)
    owners, bodies, heads = _containers(model.tokens, in_skip)
    uses = []
    for f in found:
        if bodies[f.start]:
            continue
        start, end = _declaration(model.tokens, f.start)
        name = _target(model.tokens, start, end, in_skip)
        tok = model.tokens[f.at]
        uses.append(Use(model.path, tok.line, tok.col, f.kind, f.spelling, f.args, owners[f.start], name))
    return uses, heads


# ---- classes, capabilities, coverage --------------------------------------------------------------

_CONTAINER_OF = re.compile(r"(?:std::)?(?:array|vector|deque)<\s*([\w:]+)\s*(?:,[^<>]*)?>$")


def _base_type(type_: str) -> str:
    """'mutable std::recursive_mutex' -> 'recursive_mutex'; '' for pointers and references."""
    if "*" in type_ or "&" in type_:
        return ""
    element = _CONTAINER_OF.match(type_.split("mutable")[-1].strip())
    if element:                         # std::array<std::mutex, N>: an indexed family of locks
        type_ = element.group(1)
    words = [w for w in re.sub(r"<.*>", "", type_).split() if w not in ("mutable", "volatile", "static", "inline")]
    return words[-1].split("::")[-1] if words else ""


def _is_const(type_: str) -> bool:
    words = type_.replace("*", " * ").replace("&", " & ").split()
    if "constexpr" in words:
        return True
    if "*" in words:                    # const pointer, not pointer to const
        return words[-1] == "const"
    return "const" in words


def _guard_name(args: str) -> str:
    """The member a guard expression names: 'm_mutex', 'this->m_mutex' -> 'm_mutex'; '' otherwise."""
    arg = args.split(",")[0].removeprefix("this->").removeprefix("&")
    return arg if re.fullmatch(r"[A-Za-z_]\w*", arg) else ""


def _classes(model: "FileFacts", uses: list[Use], heads: list[_ClassHead],
             capability_types: set[str]) -> list[ClassInfo]:
    """Per-class capabilities, guarded and unannotated members of one file.

    Members come from the parser (joined on the unqualified class name); annotation targets it did
    not list as members are still counted as guarded."""
    qualified = {_short(h.name): h for h in heads}
    guards: dict[tuple[str, str], str] = {}
    guard_args: dict[str, set[str]] = {}
    for u in uses:
        owner = _short(u.owner)
        if u.kind in GUARD_KINDS and u.target:
            guards[(owner, u.target)] = u.args or u.kind
        if u.kind in GUARD_KINDS or u.kind.startswith(("requires", "acquire", "release", "try_acquire")):
            for arg in u.args.split(","):
                if name := _guard_name(arg):
                    guard_args.setdefault(owner, set()).add(name)
    members: dict[str, list[Member]] = {}
    for m in model.members:
        if m.function:              # function-local statics: only their mutexes count (file scope)
            if _is_capability(m, capability_types):
                members.setdefault("", []).append(m)
            continue
        members.setdefault(_short(m.owner) if m.owner else "", []).append(m)
    for owner, _target in guards:
        members.setdefault(owner, [])
    infos = []
    for owner, ms in members.items():
        head = qualified.get(owner)
        name = head.name if head else next((m.owner for m in ms if m.owner), owner)
        line = head.line if head else min((m.line for m in ms), default=1)
        info = ClassInfo(model.path, name, line if owner else 1)
        caps = {m.name for m in ms if _is_capability(m, capability_types)
                or (owner and m.name in guard_args.get(owner, set()) and not m.static)}
        for m in ms:
            if m.name in caps:
                base = _base_type(m.type)
                source = ("mutex" if _MUTEX.search(base) else
                          "capability-type" if base in capability_types else "guard-argument")
                info.capabilities.append(Capability(m.name, m.type, m.line, source))
            elif (owner, m.name) in guards:
                info.guarded[m.name] = guards[(owner, m.name)]
            elif owner and not m.static and not _is_const(m.type) and not _UNGUARDED_TYPES.match(_base_type(m.type)):
                info.unannotated.append(m.name)
        for (g_owner, target), guard in guards.items():   # annotated members the parser did not list
            if g_owner == owner and target not in info.guarded and target not in caps:
                info.guarded[target] = guard
        for cap in info.capabilities:
            cap.guards = sorted(n for n, g in info.guarded.items() if _guard_name(g) == cap.name)
            named = re.compile(rf"\b{re.escape(cap.name)}\b")
            cap.mentions = sum(1 for u in uses if _short(u.owner) == owner
                               and (u.target == cap.name or named.search(u.args)))
        if info.capabilities or info.guarded:
            infos.append(info)
    return infos


def _is_capability(m: Member, capability_types: set[str]) -> bool:
    base = _base_type(m.type)
    return bool(base) and (bool(_MUTEX.search(base)) or base in capability_types)


@dataclass
class FileFacts:
    """What the inventory needs of one file (cached per file, so an edit re-reads only that file)."""

    path: str
    uses: list[Use]
    heads: list[_ClassHead]
    members: list[Member]
    definitions: int


def file_facts(model: FileModel, prefixes: Iterable[str] = DEFAULT_PREFIXES) -> FileFacts:
    """The inventory's facts of one parsed file."""
    prefixes = tuple(prefixes)
    uses, heads = file_uses(model, prefixes)
    return FileFacts(model.path, uses, heads, list(model.members), count_definitions(model.tokens, prefixes))


def collect(paths: list, root, prefixes: Iterable[str] = DEFAULT_PREFIXES, exclude: tuple[str, ...] = (),
            jobs: int | None = None, cache: bool = True, limits=None,
            skipped: list | None = None) -> tuple[list[FileFacts], list, int]:
    """(each file's facts, the files' diagnostics, number of files) under `paths`, cached per file by
    content, so only new or changed files are read (the CLI and the gate share these entries)."""
    from analyzers import engine       # on first use: reading this module's tables needs no parser

    prefixes = tuple(prefixes)
    return engine.collect_facts("tsa", list(prefixes), paths, root, lambda model: file_facts(model, prefixes),
                                tuple(exclude), jobs, cache, limits or engine.InputLimits(), skipped)


def inventory(models: list[FileModel], prefixes: Iterable[str] = DEFAULT_PREFIXES) -> Inventory:
    """The annotation inventory of a set of parsed files."""
    return inventory_of([file_facts(m, prefixes) for m in models])


def inventory_of(facts: list[FileFacts]) -> Inventory:
    """The annotation inventory from each file's facts."""
    capability_types = {_short(u.target) for f in facts for u in f.uses
                        if u.kind in ("capability", "scoped_capability") and u.target}
    inv = Inventory()
    for f in sorted(facts, key=lambda f: f.path):
        counts: dict[str, int] = {}
        for u in f.uses:
            counts[u.kind] = counts.get(u.kind, 0) + 1
        classes = _classes(f, f.uses, f.heads, capability_types)
        inv.files.append(FileInfo(f.path, {k: counts[k] for k in KINDS if k in counts}, f.definitions,
                                  sum(len(c.guarded) for c in classes), sum(c.need for c in classes)))
        inv.classes.extend(sorted(classes, key=lambda c: (c.name == "", c.line, c.name)))
        inv.uses.extend(f.uses)
    return inv


# ---- regressions ----------------------------------------------------------------------------------

def _label(owner: str, name: str) -> str:
    return f"{owner}::{name}" if owner else name


def compare(base: Inventory, head: Inventory) -> list[str]:
    """Regressions from `base` to `head`, one line each: dropped counts, lost member annotations, new
    mutexes that guard nothing."""
    lines: list[str] = []
    head_files = {f.path: f for f in head.files}
    for bf in base.files:
        hf = head_files.get(bf.path)
        for kind, was in bf.counts.items():
            now = hf.counts.get(kind, 0) if hf else 0
            if now < was:
                gone = _gone(base, head, bf.path, kind)
                where = "" if hf else " (file removed)"
                lines.append(f"{bf.path}: {kind} was {was} now {now}{where}"
                             + (f" (gone: {', '.join(gone)})" if gone else ""))
    head_classes = {(c.path, c.name): c for c in head.classes}
    for bc in base.classes:
        hc = head_classes.get((bc.path, bc.name))
        if hc is None:
            continue
        for member, guard in bc.guarded.items():
            if member in hc.unannotated:
                lines.append(f"{bc.path}: {_label(bc.name, member)} lost its annotation (was {guard})")
    base_caps = {(c.path, c.name, cap.name) for c in base.classes for cap in c.capabilities}
    for hc in head.classes:
        for cap in hc.capabilities:
            if not cap.mentions and (hc.path, hc.name, cap.name) not in base_caps:
                lines.append(f"{hc.path}:{cap.line}: new unannotated {cap.type} {_label(hc.name, cap.name)} "
                             "(no annotation names it)")
    return lines


def _gone(base: Inventory, head: Inventory, path: str, kind: str) -> list[str]:
    """Targets of `kind` annotations in `path` that base has and head lacks (multiset difference)."""
    remaining = [(u.owner, u.target) for u in head.uses if u.path == path and u.kind == kind]
    gone = []
    for u in base.uses:
        if u.path == path and u.kind == kind:
            key = (u.owner, u.target)
            if key in remaining:
                remaining.remove(key)
            else:
                gone.append(_label(u.owner, u.target) or f"line {u.line}")
    return gone


MIN_KEYS = frozenset(KINDS) | {"annotations", "coverage"}


def validate_minimums(data: Any, source: str = "min-counts") -> dict[str, dict[str, float]]:
    """Check a min-counts document: {path: {kind|annotations|coverage: number}}; ValueError if malformed."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping of file paths to minimums")
    for path, mins in data.items():
        if not isinstance(mins, dict):
            raise ValueError(f"{source}: {path}: expected a mapping of kinds to minimum counts")
        for key, value in mins.items():
            if key not in MIN_KEYS:
                raise ValueError(f"{source}: {path}: unknown kind {key!r} (known: annotations, coverage, "
                                 f"{', '.join(KINDS)})")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 \
                    or (key == "coverage" and value > 1):
                raise ValueError(f"{source}: {path}: {key}: expected a number"
                                 + (" between 0 and 1" if key == "coverage" else " >= 0"))
    return data


def check_minimums(head: Inventory, minimums: dict[str, dict[str, float]]) -> list[str]:
    """Regressions against per-file minimum counts and coverage, one line each."""
    files = {f.path: f for f in head.files}
    lines = []
    for path, mins in minimums.items():
        f = files.get(path)
        if f is None:
            lines.append(f"{path}: file not found (minimums: {', '.join(f'{k} {v}' for k, v in mins.items())})")
            continue
        for key, want in mins.items():
            if key == "coverage":
                have = f.coverage or 0.0
                if have < want:
                    lines.append(f"{path}: coverage {f.guarded}/{f.need} = {have:.2f} below minimum {want:.2f}")
            else:
                have = f.annotations if key == "annotations" else f.counts.get(key, 0)
                if have < want:
                    lines.append(f"{path}: {key} {have} below minimum {want:g}")
    return lines
