"""What a call path carries from callee to caller: conditions on parameters and the object it acts on.

Used by the lock graph's function summaries. A lock or queue taken under `if (syncEvent)` in a callee is
taken only on paths where the caller passes something that can be true; a re-entrancy guard that checks
`dispatch_get_specific(key) == this` protects only calls on the very object whose queue the caller is on,
so the object must be followed through receivers and parameters (`recordLocked(stream, ...)` ->
`stream->synchronize(...)`).
"""

from __future__ import annotations

import re

from analyzers import symbols
from analyzers.model import FileModel, Scope

Conditions = frozenset    # of (parameter name, required truth value)
NONE: Conditions = frozenset()   # no requirement (shared: each frozenset() is a new object)
_NEGATED = re.compile(r"^!\s*([A-Za-z_]\w*)$")
_PLAIN = re.compile(r"^([A-Za-z_]\w*)$")
_TRUE, _FALSE = {"true", "1", "YES"}, {"false", "0", "NO", "nullptr", "NULL", "nil"}


def _bool_params(model: FileModel, fn: Scope) -> dict[str, int]:
    # asked for every call and lock of a function (10^5 times at 20 MB): read its parameters once
    memo = model.__dict__.setdefault("_bool_params", {})   # private keys are not pickled (FileModel.__getstate__)
    found = memo.get(id(fn))
    if found is None:
        found = memo[id(fn)] = {p.name: p.index for p in symbols.parameters(model, fn)
                                if symbols.bare(p.type) == "bool"}
    return found


def _condition(model: FileModel, compound: Scope) -> tuple[str, bool] | None:
    """`if (p) {` -> (p, True); `if (!p) {` -> (p, False); `} else {` after either -> the opposite."""
    toks = model.tokens
    k = compound.first_token - 1           # the '{'
    if k < 1:
        return None
    if toks[k - 1].text == "else":
        j, depth = k - 2, 0               # back over `if (...) { ... }` to its condition
        if j < 0 or toks[j].text != "}":
            return None
        while j >= 0:
            depth += {"}": 1, "{": -1}.get(toks[j].text, 0)
            if depth == 0:
                break
            j -= 1
        inner = _head_condition(toks, j)
        return (inner[0], not inner[1]) if inner else None
    return _head_condition(toks, k)


def if_condition(toks, brace: int) -> str | None:
    """The text of `if (...)` whose body opens at token `brace` (None when that '{' heads no if)."""
    if brace < 1 or toks[brace - 1].text != ")":
        return None
    j, depth = brace - 1, 0
    while j >= 0:
        depth += {")": 1, "(": -1}.get(toks[j].text, 0)
        if depth == 0:
            break
        j -= 1
    if j < 1 or toks[j - 1].text != "if":
        return None
    return " ".join(t.text for t in toks[j + 1:brace - 1])


def _head_condition(toks, brace: int) -> tuple[str, bool] | None:
    text = if_condition(toks, brace)
    if text is None:
        return None
    m = _NEGATED.match(text)
    if m:
        return m.group(1), False
    m = _PLAIN.match(text)
    return (m.group(1), True) if m else None


def conditions(model: FileModel, scope: Scope, token: int = -1) -> Conditions:
    """Requirements on the enclosing function's bool parameters for code in `scope` (at `token`) to run: the
    `if (p)` / `if (!p)` / `else` branches around it, and the negation of each such early-return branch
    before it (`if (!needsLock) { ...; return; }` means what follows runs with needsLock == true)."""
    fn = scope.function()
    if fn is None:
        return NONE
    params = _bool_params(model, fn)
    if not params:
        return NONE
    out = set()
    node: Scope | None = scope
    while node is not None:
        if token >= 0:
            for child in node.children:
                if child.kind == "compound" and child.last_token < token and _returns(model, child):
                    cond = _condition(model, child)
                    if cond and cond[0] in params:
                        out.add((cond[0], not cond[1]))
        if node is fn or (node.kind in ("block", "lambda", "dispatch") and node.escaping):
            break
        if node.kind == "compound":
            cond = _condition(model, node)
            if cond and cond[0] in params:
                out.add(cond)
        token = node.first_token
        node = node.parent
    return frozenset(out)


def contradictory(conds: Conditions) -> bool:
    """Whether no parameter values meet `conds` (`if (!p) { return; } ... if (!p) { here }`)."""
    return any((name, not want) in conds for name, want in conds)


def _returns(model: FileModel, compound: Scope) -> bool:
    """Whether a compound statement leaves the function (a return or throw outside nested blocks/lambdas)."""
    nested = [(c.first_token, c.last_token) for c in compound.children if c.kind in ("block", "lambda", "dispatch")]
    texts = model.tokens.texts
    for i in range(compound.first_token, min(compound.last_token, len(texts))):
        if texts[i] in ("return", "throw") and not any(a <= i < b for a, b in nested):
            return True
    return False


def _literal(arg: str) -> bool | None:
    arg = re.sub(r"/\*.*?\*/", "", arg).strip()
    if arg in _TRUE:
        return True
    if arg in _FALSE:
        return False
    return None


def bind(conds: Conditions, args: list[str], model: FileModel, callee: Scope, caller: Scope | None,
         caller_model: FileModel, defaults: dict[int, str] | None = None) -> Conditions | None:
    """The callee's conditions in the caller's terms at one call (None when a literal argument, or the default
    of one left out, contradicts one; conditions on other arguments than literals and the caller's own
    parameters are dropped)."""
    if not conds:
        return NONE
    if contradictory(conds):
        return None
    index = {p.name: p.index for p in symbols.parameters(model, callee)}
    caller_params = _bool_params(caller_model, caller) if caller is not None else {}
    out = set()
    for name, want in conds:
        k = index.get(name, -1)
        if k < 0:
            continue
        arg = args[k].strip() if k < len(args) else (defaults or {}).get(k, "")
        if not arg:
            continue                      # left out, with no default known here
        value = _literal(arg)
        if value is not None:
            if value != want:
                return None
            continue
        m = _NEGATED.match(arg)
        if m and m.group(1) in caller_params:
            out.add((m.group(1), not want))
        elif _PLAIN.match(arg) and arg in caller_params:
            out.add((arg, want))
    return frozenset(out)


def receiver_object(receiver: str) -> str:
    """The object a call acts on: 'this' for own-method calls, else the receiver as written."""
    receiver = receiver.replace(" ", "")
    return "this" if receiver in ("", "this", "self") else receiver.removeprefix("this->")


def queue_object(queue: str) -> str:
    """The object a dispatch queue belongs to: 'this' for the object's own queue (`_serialQueue`,
    `queue()`), `stream` for `stream->queue()`; the expression itself otherwise."""
    queue = queue.replace(" ", "").removeprefix("this->")
    m = re.fullmatch(r"(.+?)(?:->|\.)(\w+)(\(\))?", queue)
    if m:
        return receiver_object(m.group(1))
    return "this"


def through(obj: str | None, receiver: str, args: list[str], model: FileModel, callee: Scope) -> str | None:
    """The object `obj` (in the callee's terms) in the caller's terms at one call, or None when unknown."""
    if obj is None or obj == CURRENT:
        return obj
    if obj == "this":
        return receiver_object(receiver)
    index = {p.name: p.index for p in symbols.parameters(model, callee)}
    k = index.get(obj, -1)
    if 0 <= k < len(args):
        return receiver_object(args[k])
    return None


CURRENT = "getCurrentMPSStream()"     # inside a block on a stream's queue, the stream that queue belongs to


def canonical(model: FileModel, scope: Scope, obj: str | None) -> str | None:
    """The same object under one name across functions: a local initialised from getCurrentMPSStream() and the
    call itself are the current stream (on a stream queue: that queue's stream)."""
    if obj is None:
        return None
    if obj.replace(" ", "") == CURRENT:
        return CURRENT
    fn = scope.function()
    if fn is None or not re.fullmatch(r"[A-Za-z_]\w*", obj):
        return obj
    memo = fn.memos().setdefault("_canonical", {})
    if obj not in memo:
        local = symbols.find_local(model, fn, obj)
        memo[obj] = obj
        if local is not None and local.auto is None and not local.param:
            toks = model.tokens
            k = symbols.token_at(model, local.line, 1)
            while k < min(fn.last_token, len(toks)) - 4 and toks[k].line == local.line:
                if toks[k].text == obj and toks[k + 1].text == "=" and toks[k + 2].text in (
                        "getCurrentMPSStream", "at::mps::getCurrentMPSStream") and toks[k + 3].text == "(":
                    memo[obj] = CURRENT
                    break
                k += 1
        elif local is not None and local.auto is not None:
            i, _ = local.auto
            toks = model.tokens
            if toks[i + 1].text == "=" and toks[i + 2].text in ("getCurrentMPSStream", "at::mps::getCurrentMPSStream"):
                memo[obj] = CURRENT
    return memo[obj]
