"""ST.001 stream state (encoder, command buffer, end of encoding, commit) touched off the stream queue."""

from __future__ import annotations

from typing import Iterable

from analyzers import depends
from analyzers.findings import Finding, Related
from analyzers.model import Call, FileModel
from analyzers.rules import project_rule
from analyzers.rules.queries import (STREAM_FETCH, STREAM_MUTATE, anchor_of, call_label, index,
                                     on_stream_queue, serialises_itself, through_stream, queue_context, short_name,
                                     sync_waits, unreachable)


_STREAM_CALLS = STREAM_FETCH | STREAM_MUTATE | {"synchronize"}


def _touches_stream(call: Call) -> str:
    """'a' for fetching the encoder/command buffer, 'b' for ending/committing, '' otherwise."""
    if call.name not in _STREAM_CALLS or not through_stream(call):   # the name first: asked of every call
        return ""
    if call.name in STREAM_FETCH:
        return "a"
    if call.name in STREAM_MUTATE or (call.name == "synchronize" and call.args and not sync_waits(call)):
        return "b"
    return ""


@project_rule("ST.001")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Stream-state calls and *Locked stream helpers reached from a caller thread."""
    idx = index(models)
    qctx = queue_context(models)
    for model in models:
        for call in model.calls():
            if call.scope is None:
                continue
            kind = _touches_stream(call)
            if kind and serialises_itself(idx, call.name):
                continue   # the stream method enters its own queue (the fork's re-entrant synchronize)
            if not kind and not (call.name.endswith("Locked") and _locked_def(idx, call.name)):
                continue
            if on_stream_queue(idx, model, call.scope, qctx) or unreachable(models, model, call.scope, call.token):
                continue
            where = call.scope.function()
            fname = short_name(where.name) if where else "file scope"
            label = call_label(call)
            if kind == "a":
                yield ctx.finding("ST.001.a", model, call.line, call.col,
                                  f"{label} fetches stream state outside the stream queue (in {fname}); "
                                  f"call it inside dispatch_sync_with_rethrow({call.receiver}->queue(), ^{{...}})",
                                  anchor=anchor_of(label), scope=call.scope)
            elif kind == "b":
                yield ctx.finding("ST.001.b", model, call.line, call.col,
                                  f"{label} ends encoding or commits outside the stream queue (in {fname}); "
                                  f"call it inside dispatch_sync({call.receiver}->queue(), ^{{...}})",
                                  anchor=anchor_of(label), scope=call.scope)
            elif not call.objc:
                dmodel, dfn, inner = _locked_def(idx, call.name)
                yield ctx.finding("ST.001.c", model, call.line, call.col,
                                  f"{call.callee}() requires the stream queue (it calls {call_label(inner)}) "
                                  f"but is called outside it in {fname}",
                                  anchor=anchor_of(call.callee),
                                  related=(Related(dmodel.path, inner.line,
                                                   f"{short_name(dfn.name)} touches {call_label(inner)} here"),),
                                  scope=call.scope)


def _locked_def(idx, name: str):
    """(model, definition, the stream call inside) of the last definition of the *Locked function `name`
    that touches the stream, or None; memoised per name on the run's index, with what it read."""
    def compute():
        hit = None
        for model, fn in idx.functions.get(name, ()):
            inner = next((c for c in fn.all_calls() if _touches_stream(c) and not serialises_itself(idx, c.name)),
                         None)
            if inner is not None:
                hit = (model, fn, inner)
        return hit
    return depends.memoised(idx.__dict__.setdefault("_st001_locked", {}),
                            idx.__dict__.setdefault("_st001_deps", {}), name, compute)
