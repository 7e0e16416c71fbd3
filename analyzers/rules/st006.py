"""ST.006 racy lazy initialisation: unguarded `if (!x) x = ...` on statics, members, function statics."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import IDENT, STRING, FileModel, Scope, Tokens, closing
from analyzers.rules import project_rule
from analyzers.rules.queries import (Index, anchor_of, caller_context, declarations, index, is_special_member,
                                     is_stream_class, protected_at, short_name, token_index)

NULLS = frozenset({"nullptr", "NULL", "nil", "0"})
STATIC_NAME = re.compile(r"^(s_|g_|_instance|instance_|_?shared)\w*|\w*_instance\w*$")
MEMBER_NAME = re.compile(r"^(m_\w+|_[a-z]\w*|[a-z]\w*_)$")


def _null_test(toks: Tokens, start: int, end: int) -> str:
    """The variable an `if (...)` condition tests for null: `!x`, `x == nullptr`, `nullptr == x`, `C10_UNLIKELY(!x)`."""
    texts = [t for t in toks.texts[start:end] if t not in ("C10_UNLIKELY", "C10_LIKELY", "__builtin_expect")]
    texts = [t for t in texts if t not in ("(", ")")]
    if len(texts) == 2 and texts[0] == "!" and toks.kinds[start] != STRING:
        return texts[1]
    if len(texts) == 3 and texts[1] == "==":
        if texts[2] in NULLS:
            return texts[0]
        if texts[0] in NULLS:
            return texts[2]
    return ""


def _assigns(toks: Tokens, start: int, end: int, name: str) -> int | None:
    """The token index of `name = ...` / `name.reset(...)` inside [start, end)."""
    texts = toks.texts
    for i in toks.indices(name, start, min(end, len(toks) - 2)):
        if texts[i - 1] not in (".", "->", "::"):
            if texts[i + 1] == "=" or (texts[i + 1] == "." and texts[i + 2] in ("reset", "emplace")):
                return i
    return None


SHARED_GETTER = re.compile(r"^(shared|default|current|standard|main)[A-Z]\w*$")


def _shared_getter(toks: Tokens, i: int) -> bool:
    """`x = [MTLCaptureManager sharedCaptureManager];` (x at token i): caching a process-wide object's getter
    (no +1, nothing created), so two threads that both run it store the same pointer."""
    texts = toks.texts
    if i + 5 >= len(texts) or texts[i + 1] != "=" or texts[i + 2] != "[":
        return False
    return toks.kinds[i + 3] == IDENT and bool(SHARED_GETTER.match(texts[i + 4])) and texts[i + 5] == "]"


def lazy_inits(model: FileModel, fn: Scope):
    """(name, test token, assignment token) for each check-then-create in a function body."""
    toks = model.tokens
    texts = toks.texts
    # the `if`s found by a C scan: a Python test of every body token was most of the rule's time
    for i in toks.indices("if", fn.first_token, min(fn.last_token, len(toks)) - 1):
        if texts[i + 1] != "(":
            continue
        j = closing(toks, i + 1)
        name = _null_test(toks, i + 2, j)
        if not name:
            continue
        body_end = _statement_end(toks, j + 1)
        assign = _assigns(toks, j + 1, body_end, name)
        if assign is not None and not _shared_getter(toks, assign):
            yield name, toks[i + 2 if texts[i + 2] != "(" else i + 3], toks[assign], toks[i]


def _statement_end(toks: Tokens, k: int) -> int:
    """End of the statement starting at k (a `{...}` block or up to `;`)."""
    texts = toks.texts
    if k < len(texts) and texts[k] == "{":
        return closing(toks, k)
    try:
        return texts.index(";", k) if k < len(texts) else k
    except ValueError:
        return len(texts)


def _kind(model: FileModel, idx: Index, fn: Scope, name: str) -> str:
    """c: function-local static; a: static member/global; b: data member; '' for locals/unknown."""
    local = declarations(model, token_index(model, fn.line, 1), fn.last_token).get(name)
    if local is not None:
        return "c" if local.static else ""
    cls = idx.owner(model, fn)
    member = idx.member(cls, name) if cls else None
    if member is None:
        member = next((m for m in model.members if m.name == name and not m.function), None)
    if member is None:
        member = idx.statics.get(name)
    if member is not None:
        return "a" if member.static else "b"
    if _defined_out_of_line(model, name):
        return "a"
    if STATIC_NAME.match(name):
        return "a"
    return "b" if cls and MEMBER_NAME.match(name) else ""


def _per_thread(model: FileModel, idx: Index, fn: Scope, name: str) -> bool:
    """Whether `name` is a thread_local variable (function-local, member or namespace-scope)."""
    hits = [m for m in model.members if m.name == name and m.function in ("", fn.name)]
    glob = idx.statics.get(name)
    return any(m.thread_local for m in hits) or (glob is not None and glob.thread_local)


def _defined_out_of_line(model: FileModel, name: str) -> bool:
    """`T Class::name = ...;` at namespace scope: the definition of a static data member."""
    toks = model.tokens
    texts = toks.texts
    for i in toks.indices(name, 2, len(toks) - 1):
        if texts[i - 1] == "::" and texts[i + 1] in ("=", ";", "{"):
            if model.scope_at(toks.lines[i]).kind in ("file", "namespace"):
                return True
    return False


@project_rule("ST.006")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Check-then-create with no lock, no queue and no call_once."""
    idx = index(models)
    cctx = caller_context(models)
    for model in models:
        for fn in model.scopes("function"):
            cls = idx.owner(model, fn)
            for name, test, assign, if_tok in lazy_inits(model, fn):
                scope = model.scope_at(if_tok.line)
                if protected_at(model, scope, if_tok.line, cctx) or model.queues_at(scope):
                    continue   # under a lock (here or in every caller), while constructing, or on a queue
                if any(r.kind == "call_once" for r in model.held_locks(scope, if_tok.line)):
                    continue
                kind = _kind(model, idx, fn, name)
                if _per_thread(model, idx, fn, name):
                    continue   # thread_local: each thread initialises its own copy
                fname = short_name(fn.name)
                rel = (Related(model.path, assign.line, f"'{name}' is created here"),)
                if kind == "a":
                    yield ctx.finding("ST.006.a", model, test.line, test.col,
                                      f"{fname} tests the static '{name}' and creates it with no lock: two threads "
                                      f"can both create it", anchor=anchor_of(name, "check-then-create"),
                                      related=rel, scope=scope)
                elif kind == "c":
                    yield ctx.finding("ST.006.c", model, test.line, test.col,
                                      f"function-local static '{name}' in {fname} is assigned on first use, not "
                                      f"initialised in its declaration: the assignment races",
                                      anchor=anchor_of(name, "static assigned on first use"), related=rel,
                                      scope=scope)
                elif kind == "b" and not is_stream_class(cls) and not is_special_member(fn, cls):
                    yield ctx.finding("ST.006.b", model, test.line, test.col,
                                      f"{fname} creates the member '{name}' lazily with no lock held",
                                      anchor=anchor_of(name, "lazy member"), related=rel, scope=scope)
