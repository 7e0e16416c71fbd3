"""ST.002 blocking synchronisation from a caller thread, or on the default stream."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding
from analyzers.model import IDENT, FileModel, Scope
from analyzers.rules import project_rule
from analyzers.rules.queries import (DEFAULT_STREAM, anchor_of, index, is_stream_class, is_stream_wait,
                                     on_stream_queue, queue_context, serialises_itself, short_name, wait_label)


def _default_stream_vars(model: FileModel, fn: Scope) -> set[str]:
    """Locals assigned from getDefaultMPSStream() in a function (`auto stream = getDefaultMPSStream();`)."""
    toks = model.tokens
    out = set()
    start = next((i for i in range(fn.first_token - 1, -1, -1) if toks[i].line < fn.line), -1) + 1
    for i in range(start, min(fn.last_token, len(toks)) - 2):
        if toks[i].kind == IDENT and toks[i + 1].text == "=":
            j = i + 2
            text = ""
            while j < len(toks) and toks[j].text != ";" and j < i + 12:
                text += toks[j].text
                j += 1
            if DEFAULT_STREAM.search(text):
                out.add(toks[i].text)
    return out


def _stream_root(receiver: str) -> str:
    return re.split(r"->|\.", receiver, maxsplit=1)[0]


def _one_stream(idx) -> bool:
    """Whether the scanned tree defines getCurrentMPSStream() as the default stream (upstream's single stream):
    then waiting on the default stream is waiting on the current one."""
    defs = idx.functions.get("getCurrentMPSStream", [])
    return bool(defs) and all([c.name for c in fn.all_calls()] == ["getDefaultMPSStream"] for _, fn in defs)


@project_rule("ST.002")
def check(models: list[FileModel], ctx) -> Iterable[Finding]:
    """Commit-and-wait off the stream queue (a) and waits on the default stream (b)."""
    idx = index(models)
    qctx = queue_context(models)
    single = _one_stream(idx)
    for model in models:
        for call in model.calls():
            if call.scope is None or not is_stream_wait(call):
                continue
            fn = call.scope.function()
            cls = idx.owner(model, fn)
            if is_stream_class(cls):
                continue   # the stream's own helpers: their callers are checked
            fname = short_name(fn.name) if fn else "file scope"
            label = wait_label(call)
            if not on_stream_queue(idx, model, call.scope, qctx) and not serialises_itself(idx, call.name):
                yield ctx.finding("ST.002.a", model, call.line, call.col,
                                  f"{label} blocks on the GPU from the caller thread in {fname}, outside the "
                                  f"stream queue; wrap it in dispatch_sync(stream->queue(), ^{{...}})",
                                  anchor=anchor_of(label), scope=call.scope)
            default = not single and (DEFAULT_STREAM.search(call.receiver) or (
                fn is not None and _stream_root(call.receiver) in _default_stream_vars(model, fn)))
            if default:
                yield ctx.finding("ST.002.b", model, call.line, call.col,
                                  f"{label} waits on the default stream (getDefaultMPSStream()) in {fname}; "
                                  f"work queued on the caller's current stream is not waited for",
                                  anchor=anchor_of(label, "default stream"), scope=call.scope)
