"""ST.010 completion/scheduled handlers: locks also held while waiting for the GPU (a), handlers added
after commit (b), handlers that block on the stream queue or the GPU (c)."""

from __future__ import annotations

from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import FileModel, Scope
from analyzers.rules import project_rule
from analyzers.rules.queries import anchor_of, held, index, is_gpu_wait, over, short_name, wait_label

HANDLER_SELECTORS = ("addCompletedHandler", "addScheduledHandler")


def _handlers(model: FileModel) -> list[Scope]:
    return [s for s in model.scopes("block", "lambda") if s.handler]


def _key(lock: str) -> str:
    """Lock identity across functions: the member name (m_mutex, mps_gen->mutex_ -> mutex_)."""
    return lock.replace("this->", "").split("->")[-1].split(".")[-1]


@project_rule("ST.010")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Handlers checked against the waits and commits around them."""
    with over(models):
        parts = [split(model, ctx) for model in models]
        return [f for found, _ in parts for f in found] + list(joined([part for _, part in parts], ctx))


def split(model: FileModel, ctx) -> tuple[list[Finding], tuple[list, list]]:
    """One file's part: its findings that need no other file (c, b), and as plain data its GPU waits done
    while holding a lock and the locks its handlers take (a compares them across files: joined)."""
    idx = index([model])
    waits = []          # ((owning class, lock key), (path, line, waiting function, wait, lock, taken at))
    for call in model.calls():
        if call.scope is None or not is_gpu_wait(call):
            continue
        for region in held(model, call.scope, call.line):
            fn = call.scope.function()
            waits.append(((idx.owner(model, fn), _key(region.lock)),
                          (model.path, call.line, short_name(fn.name) if fn else "code", wait_label(call),
                           region.lock, region.line)))
    takes, found = [], []   # (owning class, lock key), (handler, function, lock, line, col, its function's name)
    for handler in _handlers(model):
        fn = handler.function()
        cls = idx.owner(model, fn)
        fname = short_name(fn.name) if fn else "file scope"
        for scope in handler.walk():
            for region in scope.locks:
                inner = scope.function()
                takes.append(((cls, _key(region.lock)), (handler.handler, fname, region.lock, region.line,
                                                          region.col, inner.name if inner else "")))
        for scope in handler.walk():
            if scope is not handler and scope.escaping:
                continue
            if scope.kind == "dispatch" and scope.dispatch.startswith(("dispatch_sync", "dispatch_barrier_sync")):
                found.append(ctx.finding("ST.010.c", model, scope.line, scope.col,
                                         f"{handler.handler} handler in {fname} blocks in {scope.dispatch}"
                                         f"({scope.queue}) on Metal's completion thread",
                                         anchor=anchor_of(handler.handler, scope.dispatch, scope.queue), scope=scope))
            for call in scope.calls:
                if is_gpu_wait(call):
                    found.append(ctx.finding("ST.010.c", model, call.line, call.col,
                                             f"{handler.handler} handler in {fname} waits for the GPU "
                                             f"({wait_label(call)}) on Metal's completion thread",
                                             anchor=anchor_of(handler.handler, wait_label(call)), scope=scope))
    found += _after_commit(model, ctx)
    return found, (waits, [(key, model.path, take) for key, take in takes])


def joined(parts: list[tuple[list, list]], ctx) -> Iterable[Finding]:
    """ST.010.a from every file's part, in file order: a lock a handler takes that someone holds while
    waiting for the GPU (the first such wait in file order)."""
    waits_under: dict[tuple[str, str], tuple] = {}
    for waits, _ in parts:
        for key, wait in waits:
            waits_under.setdefault(key, wait)
    for _, takes in parts:
        for key, path, (handler, fname, lock, line, col, function) in takes:
            hit = waits_under.get(key)
            if hit is None:
                continue
            wpath, wline, wfn, label, wlock, wtaken = hit
            yield ctx.finding_in("ST.010.a", path, function, line, col,
                                 f"{handler} handler in {fname} takes {lock}, which {wfn} holds while waiting "
                                 f"for the GPU ({label}): the handler cannot run, the wait never ends",
                                 anchor=anchor_of(handler, lock),
                                 related=(Related(wpath, wline, f"waits holding {wlock} (taken at line {wtaken})"),))


def _after_commit(model: FileModel, ctx) -> Iterable[Finding]:
    """`[cb commit]` followed by `[cb addCompletedHandler:...]` in the same scope."""
    for scope in model.scopes():
        commits = {}
        for call in sorted(scope.calls, key=lambda c: (c.line, c.col)):
            if call.objc and call.name == "commit" and call.receiver:
                commits.setdefault(call.receiver, call)
            elif call.objc and call.name in HANDLER_SELECTORS and call.receiver in commits:
                first = commits[call.receiver]
                yield ctx.finding("ST.010.b", model, call.line, call.col,
                                  f"[{call.receiver} {call.name}:] is added after [{call.receiver} commit] "
                                  f"(line {first.line}); Metal aborts: handler provided after commit",
                                  anchor=anchor_of(call.name, "after commit"),   # no receiver: survives a rename
                                  related=(Related(model.path, first.line, f"{call.receiver} committed here"),),
                                  scope=scope)
