"""ST.003 captures: escaping blocks using C++ references, raw pointers or `this`; escaping [&] lambdas."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import IDENT, FileModel, Scope
from analyzers.rules import project_rule
from analyzers.rules.queries import (Index, anchor_of, declarations, index, is_objc_type, short_name,
                                     token_index, used_names)

# Callees known to run a lambda argument before they return (so [&] is fine there).
SYNC_CALLEES = re.compile(
    r"^(sort|stable_sort|partial_sort|find_if|find_if_not|any_of|all_of|none_of|for_each|count_if|transform|"
    r"remove_if|accumulate|reduce|min_element|max_element|unique|copy_if|generate|"
    r"LookUpOrCreateCachedGraph|CreateCachedGraph\w*|call_once|wait|wait_for|wait_until|"
    r"AT_DISPATCH_\w+|AT_DISPATCH_CASE\w*|parallel_for|dispatch_sync\w*|runCommandBlock|mtl_dispatch\w*|"
    r"visit|apply|invoke|__invoke|std_function_call|TORCH_CHECK\w*|c10_call_once|"
    # scope guards run the lambda when the enclosing scope ends, on the same thread
    r"make_scope_exit|make_scope_guard|ScopeExit|scope_exit|ScopeGuard|SCOPE_EXIT|finally|defer)$")
MEMBER_NAME = re.compile(r"^(m_\w+|_[a-z]\w*|[a-z]\w*_)$")


def _intro(model: FileModel, scope: Scope) -> int:
    """Index of the token that introduces a block (`^`) or a lambda (the `[` of its capture list)."""
    return token_index(model, scope.line, scope.col)     # the parser starts closure scopes there


def _block_params(model: FileModel, scope: Scope) -> set[str]:
    """Parameter names of a block/lambda: identifiers between its introducer and its body's `{`."""
    toks = model.tokens
    return {t.text for t in toks[_intro(model, scope):scope.first_token] if t.kind == IDENT}


def _enclosing_fn(scope: Scope) -> Scope | None:
    return scope.function()


def _is_member(idx: Index, cls: str, name: str) -> bool:
    if not cls:
        return False
    if idx.member(cls, name) is not None:
        return True
    if cls in idx.members:     # the class is known: trust its declarations
        return name in idx.methods(cls)
    return bool(MEMBER_NAME.match(name))


def _captures(model: FileModel, idx: Index, scope: Scope):
    """(name, token, kind) for each outer variable an escaping scope uses: kind ref | ptr | this."""
    fn = _enclosing_fn(scope)
    if fn is None:
        return
    cls = idx.owner(model, fn)
    fn_start = token_index(model, fn.line, 1)
    outer = declarations(model, fn_start, _intro(model, scope))
    inner = declarations(model, scope.first_token, scope.last_token)
    params = _block_params(model, scope)
    seen: set[str] = set()
    for tok in used_names(model, scope):
        name = tok.text
        if name in seen or name in inner or name in params:
            continue
        if name == "this":
            seen.add(name)
            yield name, tok, "this"
            continue
        decl = outer.get(name)
        if decl is not None:
            seen.add(name)
            if decl.static or decl.block_qualified:
                continue
            if decl.kind == "ref":
                yield name, tok, "ref"
            elif decl.kind == "ptr" and not is_objc_type(decl.type):
                yield name, tok, "ptr"
            continue
        if cls and _is_member(idx, cls, name):
            seen.add(name)
            yield name, tok, "this"


def _bound_elsewhere(model: FileModel, fn: Scope | None, name: str, block: Scope, before: int = -1) -> bool:
    """Whether the reference `name` was initialised from an object reached through a pointer, a member or a
    call (`T& x = *p->q;`, `= m_pools[k]`, `= get_pool(...)`), rather than being a parameter or a local."""
    if fn is None:
        return False
    toks = model.tokens
    end = min(_intro(model, block) if before < 0 else before, len(toks) - 2)
    init: list[str] = []
    for i in range(fn.first_token, end):
        if toks[i].text == name and toks[i - 1].text == "&" and toks[i + 1].text == "=":
            j, init = i + 2, []
            while j < end and toks[j].text != ";":
                init.append(toks[j].text)
                j += 1
    if not init:
        return False
    text = "".join(init)
    return text.startswith("*") or "->" in text or text.endswith(")") or bool(MEMBER_NAME.match(init[0]))


LOOKUPS = frozenset({"find", "count", "contains"})
RELEASES = re.compile(r"^(free|release|delete|destroy|recycle|return)\w*$", re.I)


def _revalidated(model: FileModel, block: Scope, name: str) -> bool:
    """Whether the block first looks the captured pointer up in a container while holding a lock
    (`lock_guard g(m); if (pending.find(p) != pending.end()) {...}`): the rule's own fix."""
    for call in sorted(block.all_calls(), key=lambda c: c.token):
        if name not in call.args and call.receiver != name and not any(name in a for a in call.args):
            continue
        return call.name in LOOKUPS and name in call.args and bool(model.held_locks(call.scope, call.line))
    return False


def _released_by_handler(block: Scope, name: str) -> bool:
    """Whether the handler is where the captured object is released (`free_buffer(block)`): the deferred
    release owns it until then, so no one else frees it first."""
    return any(RELEASES.match(c.name) and name in c.args for c in block.all_calls())


def _callers_pass_owned(idx: Index, fn: Scope | None, name: str, depth: int = 3) -> bool:
    """Whether every call of `fn` in the tree binds the reference parameter `name` to an object owned
    elsewhere (`auto& info = *m_info_list[h]; addHandler(info);`)."""
    if fn is None or depth == 0:
        return False
    sites = [(m, c) for m, c in idx.calls.get(short_name(fn.name), ()) if c.scope is not None
             and c.scope.function() is not fn]
    defs = idx.functions.get(short_name(fn.name), [])
    model = next((m for m, f in defs if f is fn), None)
    if not sites or model is None:
        return False
    from analyzers.symbols import parameters
    k = next((p.index for p in parameters(model, fn) if p.name == name), -1)
    if k < 0:
        return False
    for cmodel, call in sites:
        if k >= len(call.args):
            return False
        arg = call.args[k].replace(" ", "")
        caller = call.scope.function()
        if not (arg.startswith("*") or "->" in arg or MEMBER_NAME.match(arg)
                or _bound_elsewhere(cmodel, caller, arg, call.scope, call.token)
                or _callers_pass_owned(idx, caller, arg, depth - 1)):   # the caller's own reference parameter
            return False
    return True


def _lambda_target(model: FileModel, scope: Scope) -> tuple[str, str]:
    """How a lambda is used: ('call', callee) when passed as an argument, ('assign', target), ('invoke', '')
    when called on the spot, ('init', var) for `auto f = [&]...`, ('', '') otherwise."""
    toks = model.tokens
    start = _intro(model, scope)
    end = scope.last_token
    if end < len(toks) and toks[end].text in ("}",):
        end += 1
    if end < len(toks) and toks[end].text == "(":
        return "invoke", ""
    i = start - 1
    depth = 0
    while i >= 0:
        text = toks[i].text
        if text in (")", "]", "}"):
            depth += 1
        elif text in ("(", "[", "{"):
            if depth == 0:
                if text != "(":
                    return "", ""
                j = i - 1
                if j >= 0 and toks[j].text == ">":   # template arguments: f<T>(...)
                    d = 0
                    while j >= 0:
                        if toks[j].text == ">":
                            d += 1
                        elif toks[j].text == "<":
                            d -= 1
                            if d == 0:
                                break
                        j -= 1
                    j -= 1
                if j > 0 and toks[j - 1].text in ("thread", "jthread"):   # std::thread t([&] {...})
                    return "call", toks[j - 1].text
                return "call", toks[j].text if j >= 0 else ""
            depth -= 1
        elif depth == 0 and text == "=":
            target = toks[i - 1].text if i > 0 else ""
            if i > 1 and toks[i - 2].text in ("auto", "&", ">") or (i > 1 and toks[i - 2].kind == IDENT
                                                                   and toks[i - 2].text != "return"):
                return "init", target
            return "assign", target
        elif depth == 0 and text in (";", "return"):
            return "", ""
        i -= 1
    return "", ""


@project_rule("ST.003")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Captures of escaping blocks (a: reference, b: raw pointer, c: this) and [&] lambdas (d, e)."""
    idx = index(models)
    for model in models:
        for scope in model.scopes("block", "lambda", "dispatch"):
            if scope.kind == "lambda" and any(c.startswith("&") for c in scope.captures):
                yield from _ref_lambda(model, idx, scope, ctx)
                continue
            if not scope.escaping or scope.kind == "lambda":
                continue
            what = scope.handler or scope.dispatch or "escaping block"
            fn = scope.function()
            fname = short_name(fn.name) if fn else "file scope"
            this_done = False
            for name, tok, kind in _captures(model, idx, scope):
                rel = (Related(model.path, scope.line, f"the {what} block starts here"),)
                if kind == "ref" and (_bound_elsewhere(model, fn, name, scope) or _callers_pass_owned(idx, fn, name)):
                    yield ctx.finding("ST.003.f", model, tok.line, tok.col,
                                      f"{what} block in {fname} keeps the reference '{name}' into an object owned "
                                      f"elsewhere: design - safe while its owner outlives every pending handler",
                                      anchor=anchor_of(what, name), related=rel, scope=scope)
                elif kind == "ref":
                    yield ctx.finding("ST.003.a", model, tok.line, tok.col,
                                      f"{what} block in {fname} captures the C++ reference '{name}'; it is read "
                                      f"after {fname} returned", anchor=anchor_of(what, name), related=rel,
                                      scope=scope)
                elif kind == "ptr" and (_revalidated(model, scope, name) or _released_by_handler(scope, name)):
                    continue
                elif kind == "ptr":
                    yield ctx.finding("ST.003.b", model, tok.line, tok.col,
                                      f"{what} block in {fname} captures the raw pointer '{name}'; nothing keeps "
                                      f"the object alive until the block runs", anchor=anchor_of(what, name),
                                      related=rel, scope=scope)
                elif not this_done:
                    this_done = True
                    via = "" if name == "this" else f" (via '{name}')"
                    yield ctx.finding("ST.003.c", model, tok.line, tok.col,
                                      f"{what} block in {fname} captures this{via}; the object must outlive "
                                      f"every pending handler", anchor=anchor_of(what, "this"), related=rel,
                                      scope=scope)


def _ref_lambda(model: FileModel, idx: Index, scope: Scope, ctx) -> Iterable[Finding]:
    how, target = _lambda_target(model, scope)
    fn = scope.function()
    fname = short_name(fn.name) if fn else "file scope"
    capture = "[" + ", ".join(scope.captures) + "]"
    if how == "invoke" or how == "init" or (how == "call" and SYNC_CALLEES.match(target) and not scope.escaping):
        return
    locals_used = [(name, tok) for name, tok, kind in _captures_by_ref(model, idx, scope)]
    escapes = scope.escaping or how == "assign" or (how == "call" and target in ("thread", "async", "jthread"))
    if escapes and locals_used:
        name, tok = locals_used[0]
        where = f"stored in '{target}'" if how == "assign" else (f"passed to {target}" if target else "escaping")
        yield ctx.finding("ST.003.d", model, tok.line, tok.col,
                          f"{capture} lambda in {fname} is {where} and captures the local '{name}' by reference",
                          anchor=anchor_of(capture, target, name),
                          related=(Related(model.path, scope.line, "the lambda starts here"),), scope=scope)
        return
    where = f"stored in '{target}'" if how == "assign" else (f"passed to {target}()" if target else "used")
    yield ctx.finding("ST.003.e", model, scope.line, scope.col,
                      f"{capture} lambda in {fname} is {where}; by-reference capture detected, verify manually "
                      f"that it does not outlive {fname}", anchor=anchor_of(capture, target), scope=scope)


def _captures_by_ref(model: FileModel, idx: Index, scope: Scope):
    """Locals/params of the enclosing function that a [&]/[&x] lambda uses."""
    fn = scope.function()
    if fn is None:
        return
    explicit = {c[1:] for c in scope.captures if c.startswith("&") and len(c) > 1}
    fn_start = token_index(model, fn.line, 1)
    outer = declarations(model, fn_start, _intro(model, scope))
    inner = declarations(model, scope.first_token, scope.last_token)
    params = _block_params(model, scope)
    seen = set()
    for tok in used_names(model, scope):
        name = tok.text
        if name in seen or name in inner or name in params:
            continue
        if name in outer and (not explicit or name in explicit) and not outer[name].static:
            seen.add(name)
            yield name, tok, "local"
