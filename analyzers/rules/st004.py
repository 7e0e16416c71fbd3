"""ST.004 a lock held across a blocking wait (a) or across dispatch_sync onto a queue (b)."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import Call, FileModel
from analyzers.rules import file_rule
from analyzers.rules.queries import (anchor_of, held, is_gpu_wait, is_stream_class, owner_class, per_object,
                                     short_name, transitive_functions, wait_label)

SYNC_DISPATCH = ("dispatch_sync", "dispatch_sync_with_rethrow", "dispatch_barrier_sync")


def _wait_site(fn, waiting: dict) -> Call | None:
    """The first GPU wait in `fn` (its own, or a call of a waiting function of this file) before any unlock()."""
    for call in sorted(fn.all_calls(), key=lambda c: (c.line, c.col)):
        if call.name == "unlock":
            return None
        if is_gpu_wait(call) or (call.name in waiting and not call.objc and call.receiver in ("", "this")):
            return call
    return None


def waiting_functions(model: FileModel) -> dict[str, Call]:
    """Functions of this file that wait for the GPU with nothing unlocked before the wait -> that wait."""
    return transitive_functions(model, _wait_site)


def _handler_locks(model: FileModel) -> set[str]:
    """Last names of the locks that completion handlers of this file take (only they run inside a GPU wait)."""
    out: set[str] = set()
    for scope in model.scopes():
        if scope.handler:
            out.update(_last(r.lock) for s in scope.walk() for r in s.locks)
    return out


def _last(expr: str) -> str:
    names = re.findall(r"[A-Za-z_]\w*", expr)
    return names[-1] if names else expr


def _stream_own_lock(model: FileModel, fn, lock: str, handler_locks: set[str]) -> bool:
    """A stream method waiting under the stream's own per-object mutex that no handler takes (design)."""
    return (fn is not None and is_stream_class(owner_class(model, fn)) and per_object(model, lock)
            and _last(lock) not in handler_locks)


@file_rule("ST.004")
def check(model: FileModel, ctx) -> Iterable[Finding]:
    """Blocking waits and synchronous dispatches while a mutex is held."""
    waiting = waiting_functions(model)
    handler_locks = _handler_locks(model)
    for call in model.calls():
        if call.scope is None:
            continue
        direct = is_gpu_wait(call)
        # a callee of this file, called as such (`helper()`, `this->helper()`), not a same-named method elsewhere
        own = not call.objc and call.receiver in ("", "this")
        via = waiting.get(call.name) if not direct and own else None
        if not direct and via is None:
            continue
        regions = held(model, call.scope, call.line)
        if not regions:
            continue
        region = regions[-1]
        fn = call.scope.function()
        if via is not None and fn is not None and short_name(fn.name) == call.name:
            continue
        label = wait_label(call) if direct else f"{call.callee}() (which waits: {wait_label(via)})"
        if _stream_own_lock(model, fn, region.lock, handler_locks):
            yield ctx.finding("ST.004.c", model, call.line, call.col,
                              f"{label} waits while holding this stream's own {region.lock} (taken at line "
                              f"{region.line}): design - only this stream's users wait, and no completion "
                              f"handler takes {region.lock}, so it cannot deadlock",
                              anchor=anchor_of(region.lock, label),
                              related=(Related(model.path, region.line, f"{region.lock} acquired here"),),
                              scope=call.scope)
            continue
        yield ctx.finding("ST.004.a", model, call.line, call.col,
                          f"{label} blocks while holding {region.lock} (taken at line {region.line})",
                          anchor=anchor_of(region.lock, label),
                          related=(Related(model.path, region.line, f"{region.lock} acquired here"),),
                          scope=call.scope)
    for scope in model.scopes("dispatch"):
        if scope.dispatch not in SYNC_DISPATCH or scope.parent is None:
            continue
        regions = held(model, scope.parent, scope.line)
        if not regions:
            continue
        region = regions[-1]
        yield ctx.finding("ST.004.b", model, scope.line, scope.col,
                          f"{scope.dispatch}({scope.queue}, ...) waits for the queue while holding {region.lock} "
                          f"(taken at line {region.line})",
                          anchor=anchor_of(region.lock, scope.dispatch, scope.queue),
                          related=(Related(model.path, region.line, f"{region.lock} acquired here"),),
                          scope=scope)
