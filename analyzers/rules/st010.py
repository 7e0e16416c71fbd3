"""ST.010 completion/scheduled handlers: locks also held while waiting for the GPU (a), handlers added
after commit (b), handlers that block on the stream queue or the GPU (c)."""

from __future__ import annotations

from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import FileModel, Scope
from analyzers.rules import project_rule
from analyzers.rules.queries import anchor_of, held, index, is_gpu_wait, short_name, wait_label

HANDLER_SELECTORS = ("addCompletedHandler", "addScheduledHandler")


def _handlers(model: FileModel) -> list[Scope]:
    return [s for s in model.scopes("block", "lambda") if s.handler]


def _key(lock: str) -> str:
    """Lock identity across functions: the member name (m_mutex, mps_gen->mutex_ -> mutex_)."""
    return lock.replace("this->", "").split("->")[-1].split(".")[-1]


@project_rule("ST.010")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Handlers checked against the waits and commits around them."""
    idx = index(models)
    # every GPU wait done while holding a lock: lock key -> (model, call, region), per owning class
    waits_under: dict[tuple[str, str], tuple] = {}
    for model in models:
        for call in model.calls():
            if call.scope is None or not is_gpu_wait(call):
                continue
            for region in held(model, call.scope, call.line):
                cls = idx.owner(model, call.scope.function())
                waits_under.setdefault((cls, _key(region.lock)), (model, call, region))
    for model in models:
        for handler in _handlers(model):
            fn = handler.function()
            cls = idx.owner(model, fn)
            fname = short_name(fn.name) if fn else "file scope"
            for scope in handler.walk():
                for region in scope.locks:
                    hit = waits_under.get((cls, _key(region.lock)))
                    if hit is None:
                        continue
                    wmodel, wcall, wregion = hit
                    wfn = wcall.scope.function()
                    yield ctx.finding("ST.010.a", model, region.line, region.col,
                                      f"{handler.handler} handler in {fname} takes {region.lock}, which "
                                      f"{short_name(wfn.name) if wfn else 'code'} holds while waiting for the GPU "
                                      f"({wait_label(wcall)}): the handler cannot run, the wait never ends",
                                      anchor=anchor_of(handler.handler, region.lock),
                                      related=(Related(wmodel.path, wcall.line,
                                                       f"waits holding {wregion.lock} (taken at line {wregion.line})"),),
                                      scope=scope)
            for scope in handler.walk():
                if scope is not handler and scope.escaping:
                    continue
                if scope.kind == "dispatch" and scope.dispatch.startswith(("dispatch_sync", "dispatch_barrier_sync")):
                    yield ctx.finding("ST.010.c", model, scope.line, scope.col,
                                      f"{handler.handler} handler in {fname} blocks in {scope.dispatch}({scope.queue}) "
                                      f"on Metal's completion thread",
                                      anchor=anchor_of(handler.handler, scope.dispatch, scope.queue), scope=scope)
                for call in scope.calls:
                    if is_gpu_wait(call):
                        yield ctx.finding("ST.010.c", model, call.line, call.col,
                                          f"{handler.handler} handler in {fname} waits for the GPU "
                                          f"({wait_label(call)}) on Metal's completion thread",
                                          anchor=anchor_of(handler.handler, wait_label(call)), scope=scope)
        yield from _after_commit(model, ctx)


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
