"""ST.013 pointers/references into lock-protected state returned (a) or used (b) after the lock is released."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import IDENT, FileModel, LockRegion, Scope
from analyzers.rules import project_rule
from analyzers.rules.queries import anchor_of, declarations, index, is_objc_type, short_name, token_index

ELEMENT = re.compile(r"(\.get\(\)|->second|\.second|\.at\(|\]\s*$|\.top\(\)|\.front\(\)|\.back\(\))")


def _return_type(model: FileModel, fn: Scope) -> str:
    """Tokens of the declaration before the function name, joined: 'MPSEvent*', 'std::shared_ptr<MPSEvent>'."""
    toks = model.tokens
    start = token_index(model, fn.line, 1)
    out = []
    for t in toks[start:fn.first_token]:
        if t.text == "(":
            break
        out.append(t.text)
    if out:
        out.pop()   # the function name
    while len(out) >= 2 and out[-1] == "::":
        del out[-2:]   # its qualification
    return "".join(out)


def _container_members(model: FileModel, text: str) -> list[str]:
    """Member-looking containers named in an expression (m_x[...], m_x.find(...), it from m_x.find)."""
    return [m.group(1) for m in re.finditer(r"\b(m_\w+|_[a-z]\w*|[a-z]\w*_)\b(?=\s*(\[|\.|->))", text)]


@project_rule("ST.013")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Returns (a) and later uses (b) of pointers taken under a lock; a returned pointer counts only when
    some function of the scanned tree calls the one that returns it (dead code dangles nothing)."""
    idx = index(models)
    for model in models:
        for finding in _file_findings(model, ctx):
            if finding.rule == "ST.013.a" and not _called(idx, finding.function):
                continue
            yield finding


def _called(idx, function: str) -> bool:
    name = short_name(function)
    return any(call.scope is not None and call.scope.function() is not None
               and call.scope.function().name != function for _, call in idx.calls.get(name, ()))


def _file_findings(model: FileModel, ctx) -> Iterable[Finding]:
    toks = model.tokens
    for fn in model.scopes("function"):
        regions = [r for s in fn.walk() for r in s.locks if r.kind != "call_once"]
        if not regions:
            continue
        fname = short_name(fn.name)
        rtype = _return_type(model, fn)
        raw_return = rtype.endswith(("*", "&")) and not is_objc_type(re.sub(r"[*&]|const", "", rtype).split("::")[-1])
        for i in range(fn.first_token, min(fn.last_token, len(toks))):
            if toks[i].text != "return" or not raw_return:
                continue
            j, parts = i + 1, []
            while j < len(toks) and toks[j].text != ";":
                parts.append(toks[j].text)
                j += 1
            expr = "".join(parts)
            line = toks[i].line
            region = next((r for r in regions if r.line <= line <= r.end_line and r.released_by != "none"), None)
            if region is None or not ELEMENT.search(expr):
                continue
            owners = _container_members(model, expr) or _iterator_source(model, fn, expr)
            if not owners or (expr.endswith(".get()") and _grow_only(model, owners[0])):
                continue   # an owned object in a container that never drops one: it lives as long as the owner
            yield ctx.finding("ST.013.a", model, toks[i].line, toks[i].col,
                              f"{fname} returns a raw {rtype} into {owners[0]} while {region.lock} is held; the "
                              f"caller uses it after the lock is released",
                              anchor=anchor_of(owners[0], "returned under lock", region.lock),
                              related=(Related(model.path, region.line, f"{region.lock} acquired here"),),
                              scope=model.scope_at(line))
        yield from _kept_after(model, fn, regions, ctx)


FRESH = re.compile(r"^(alloc|create|make|new)\w*$", re.I)
SHRINK = frozenset({"erase", "clear", "reset", "pop_back", "pop_front", "pop", "swap", "resize", "release",
                    "extract"})


def _grow_only(model: FileModel, container: str) -> bool:
    """Whether nothing in the file removes or replaces an element of `container` once it is set
    (`streams_[i] = ...` on an empty slot is how such pools are filled; erase/clear/reset/= nullptr are not)."""
    toks = model.tokens
    for i, t in zip(range(len(toks) - 2), toks):     # lazily: a slice copies every token
        if t.text != container:
            continue
        j = i + 1
        if toks[j].text == "[":
            depth = 0
            while j < len(toks):
                depth += {"[": 1, "]": -1}.get(toks[j].text, 0)
                if depth == 0:
                    break
                j += 1
            j += 1
        if j + 1 < len(toks) and toks[j].text in (".", "->") and toks[j + 1].text in SHRINK:
            return False
        if j + 1 < len(toks) and toks[j].text == "=" and toks[j + 1].text in ("nullptr", "NULL", "{"):
            return False
    return True


def _iterator_source(model: FileModel, fn: Scope, expr: str) -> list[str]:
    """`it->second.get()` where `auto it = m_map.find(...)` -> ['m_map']."""
    m = re.match(r"^.*?\b(\w+)->second", expr) or re.match(r"^.*?\b(\w+)\.second", expr)
    if not m:
        return []
    var = m.group(1)
    toks = model.tokens
    for i in range(fn.first_token, min(fn.last_token, len(toks)) - 3):
        if toks[i].text == var and toks[i + 1].text == "=":
            return _container_members(model, "".join(t.text for t in toks[i + 2:i + 8]))
    return []


def _kept_after(model: FileModel, fn: Scope, regions: list[LockRegion], ctx) -> Iterable[Finding]:
    """`p = lookup(...)` inside a scoped lock, with `p` declared outside it and used after it."""
    toks = model.tokens
    decls = declarations(model, token_index(model, fn.line, 1), fn.last_token)
    fname = short_name(fn.name)
    for region in regions:
        if region.released_by not in ("scope", "unlock") or region.end_line >= fn.end_line:
            continue
        # only the region's lines: scanning the whole function per region was quadratic
        for i in range(max(fn.first_token, token_index(model, region.line + 1, 1)), min(fn.last_token, len(toks)) - 1):
            t = toks[i]
            if t.line > region.end_line:
                break
            if not region.line < t.line <= region.end_line or t.kind != IDENT or toks[i + 1].text != "=":
                continue
            if toks[i - 1].text in (".", "->", "::"):
                continue
            decl = decls.get(t.text)
            if decl is None or decl.kind != "ptr" or is_objc_type(decl.type):
                continue
            if decl.line >= region.line and region.released_by == "scope":
                continue   # declared inside the guarded scope: it dies with it
            if i + 2 < len(toks) and FRESH.match(toks[i + 2].text):
                continue   # `p = alloc_buffer_block(...)`: a new object the caller owns, not a shared entry
            use = next((u for u in toks[i + 2:fn.last_token] if u.line > region.end_line and u.text == t.text
                        and model.scope_at(u.line).kind not in ("block", "lambda")), None)
            if use is None:
                continue
            yield ctx.finding("ST.013.b", model, use.line, use.col,
                              f"'{t.text}' is looked up under {region.lock} (line {t.line}) and used in {fname} after "
                              f"the lock scope ended (line {region.end_line})",
                              anchor=anchor_of(t.text, region.lock, "used after lock"),
                              related=(Related(model.path, t.line, f"'{t.text}' assigned under {region.lock} here"),),
                              scope=model.scope_at(use.line))
            break
