"""ST.008 global serialisation: process-wide mutexes (a, b) and locks held across GPU encoding (c)."""

from __future__ import annotations

from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import FileModel
from analyzers.rules import file_rule
from analyzers.rules.queries import MUTEX_TYPE, anchor_of, is_stream_queue, per_object, short_name

ENCODING_CALLS = frozenset({"runMPSGraph", "executeMPSGraph", "encodeToCommandBuffer", "commandEncoder",
                            "commandBuffer", "runCommandBlock"})


@file_rule("ST.008")
def check(model: FileModel, ctx) -> Iterable[Finding]:
    """Static mutexes and whole-operation lock regions."""
    for m in model.members:
        if not m.static or not MUTEX_TYPE.search(m.type.replace("static", "").strip()):
            continue
        if m.function:
            yield ctx.finding("ST.008.b", model, m.line, m.col,
                              f"function-local static {m.type} {m.name} in {short_name(m.function)} is one lock for "
                              f"every caller on every thread", anchor=anchor_of(m.name, "function static mutex"))
        else:
            where = f"static member of {m.owner}" if m.owner else "namespace-scope"
            yield ctx.finding("ST.008.a", model, m.line, m.col,
                              f"{where} {m.type} {m.name} serialises every thread that takes it",
                              anchor=anchor_of(m.name, "global mutex"))
    for scope in model.scopes():
        for region in scope.locks:
            if region.kind == "call_once":
                continue
            for call in scope.all_calls():
                if not region.line <= call.line <= region.end_line or call.scope is None:
                    continue
                if call.scope is not scope and call.scope.escaping:
                    continue
                encodes = call.name in ENCODING_CALLS or (
                    call.name.startswith("dispatch_sync") and call.args and is_stream_queue(call.args[0]))
                if encodes:
                    scope_of = ("the whole GPU operation runs one thread at a time" if not per_object(model, region.lock)
                                else "one object's GPU operations run one at a time (a per-instance lock, "
                                     "not process-wide)")
                    yield ctx.finding("ST.008.c", model, call.line, call.col,
                                      f"{region.lock} (taken at line {region.line}) is held across {call.callee}(): "
                                      f"{scope_of}",
                                      anchor=anchor_of(region.lock, call.callee),
                                      related=(Related(model.path, region.line, f"{region.lock} acquired here"),),
                                      scope=call.scope)
                    break

