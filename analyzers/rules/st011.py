"""ST.011 code that can throw inside a plain dispatch_sync block (the process terminates)."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import FileModel, Scope
from analyzers.rules import file_rule
from analyzers.rules.queries import (DEBUG_ONLY, THROWING_MACROS, anchor_of, macro_calls, short_name,
                                     transitive_functions)

THROW = re.compile(r"^throw$")


def _throw_sites(model: FileModel, scope: Scope) -> list:
    """Throwing macros and `throw` expressions in a scope, skipping code under a try in that scope."""
    toks = model.tokens
    sites = macro_calls(model, scope, THROWING_MACROS)
    sites += [toks[i] for i in toks.indices("throw", scope.first_token, min(scope.last_token, len(toks)))]
    guarded = _try_ranges(model, scope)
    return sorted((t for t in sites if not any(a <= (t.line, t.col) <= b for a, b in guarded)),
                  key=lambda t: (t.line, t.col))


def _try_ranges(model: FileModel, scope: Scope) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    toks = model.tokens
    texts, out = toks.texts, []
    for i in toks.indices("try", scope.first_token, min(scope.last_token, len(toks)) - 1):
        if texts[i + 1] == "{":
            depth = 0
            for j in range(i + 1, len(texts)):
                if texts[j] == "{":
                    depth += 1
                elif texts[j] == "}":
                    depth -= 1
                    if depth == 0:
                        out.append(((toks.lines[i], toks.cols[i]), (toks.lines[j], toks.cols[j])))
                        break
    return out


def _own(call) -> bool:
    """A call of a function of this file as such (`helper()`, `this->helper()`), not a same-named method."""
    return not call.objc and call.receiver in ("", "this")


def throwing_functions(model: FileModel) -> dict[str, object]:
    """Functions of this file that can throw (directly or through another such function) -> the site."""
    def site(fn, throwing: dict):
        direct = [t for t in _throw_sites(model, fn) if t.text != DEBUG_ONLY]
        if direct:
            return direct[0]
        name = short_name(fn.name)
        return next((c for c in fn.all_calls() if c.name in throwing and c.name != name and _own(c)), None)

    return transitive_functions(model, site)


@file_rule("ST.011")
def check(model: FileModel, ctx) -> Iterable[Finding]:
    """Throwing code in dispatch_sync blocks (dispatch_sync_with_rethrow is the fix)."""
    throwing = None
    for scope in model.scopes("dispatch"):
        if scope.dispatch != "dispatch_sync":
            continue
        queue = scope.queue
        nested = [s for s in scope.walk() if s is not scope and s.kind == "dispatch"]
        def _mine(line: int, col: int) -> bool:
            return not any(s.contains_line(line) for s in nested)
        for tok in _throw_sites(model, scope):
            if not _mine(tok.line, tok.col):
                continue
            rule = "ST.011.b" if tok.text == DEBUG_ONLY else "ST.011.a"
            yield ctx.finding(rule, model, tok.line, tok.col,
                              f"{tok.text} inside dispatch_sync({queue}, ...) terminates the process if it throws; "
                              f"use dispatch_sync_with_rethrow", anchor=anchor_of(tok.text, queue),
                              related=(Related(model.path, scope.line, f"dispatch_sync({queue}) block starts here"),),
                              scope=model.scope_at(tok.line))
        if throwing is None:
            throwing = throwing_functions(model)
        for call in scope.all_calls():
            if not _own(call) or call.name not in throwing or not _mine(call.line, call.col):
                continue
            if THROWING_MACROS.match(call.name):
                continue
            site = throwing[call.name]
            yield ctx.finding("ST.011.c", model, call.line, call.col,
                              f"{call.callee}() can throw (line {site.line}) and is called inside "
                              f"dispatch_sync({queue}, ...); an exception there terminates the process",
                              anchor=anchor_of(call.callee, queue),
                              related=(Related(model.path, site.line, f"{call.name} can throw here"),),
                              scope=call.scope)
