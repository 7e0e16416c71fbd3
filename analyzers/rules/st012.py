"""ST.012 waits near encoding: waiting/committing with an encoder open (a); GPU waits on the stream
queue or under an encoding lock (f, scalability)."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.findings import Finding, Related
from analyzers.model import IDENT, FileModel
from analyzers.rules import file_rule
from analyzers.rules.queries import ENCODER_END, ENCODER_OPEN, anchor_of, held, is_gpu_wait, stream_queue_at, wait_label

ENCODING_LOCK = re.compile(r"(?i)encod")


@file_rule("ST.012")
def check(model: FileModel, ctx) -> Iterable[Finding]:
    """Open encoders at commit/wait time, and waits that hold the stream queue."""
    for scope in model.scopes():
        open_enc: dict[str, object] = {}   # encoder variable -> the call that opened it
        for call in sorted(scope.calls, key=lambda c: (c.line, c.col)):
            if call.name in ENCODER_OPEN:
                var = _assigned_var(model, call)
                if var:
                    open_enc[var] = call
            elif call.name in ENCODER_END:
                if call.receiver in open_enc:
                    open_enc.pop(call.receiver)
                elif call.name == "endKernelCoalescing":
                    open_enc.clear()
            elif call.objc and call.name in ("commit", "waitUntilCompleted", "commitAndContinue") and open_enc:
                var, opened = next(iter(open_enc.items()))
                yield ctx.finding("ST.012.a", model, call.line, call.col,
                                  f"[{call.receiver} {call.name}] while the encoder '{var}' (opened at line "
                                  f"{opened.line}) has not ended", anchor=anchor_of(call.name, "encoder open"),
                                  related=(Related(model.path, opened.line, f"encoder '{var}' opened here"),),
                                  scope=scope)
                open_enc.clear()
    for call in model.calls():
        if call.scope is None or not is_gpu_wait(call):
            continue
        queue = stream_queue_at(model, call.scope)
        lock = next((r for r in held(model, call.scope, call.line) if ENCODING_LOCK.search(r.lock)), None)
        if not queue and lock is None:
            continue
        near = f"the stream queue {queue}" if queue else f"the encoding lock {lock.lock}"
        yield ctx.finding("ST.012.f", model, call.line, call.col,
                          f"{wait_label(call)} waits for the GPU while holding {near}: no other thread can encode "
                          f"until the GPU finishes", anchor=anchor_of(wait_label(call), queue or lock.lock),
                          scope=call.scope)


def _assigned_var(model: FileModel, call) -> str:
    """`id<...> enc = [cb computeCommandEncoder]` / `enc = stream->commandEncoder()` -> 'enc'."""
    toks = model.tokens
    i = call.token - 1
    while i > 0 and toks[i].text == "[":
        i -= 1
    if i > 0 and toks[i].text == "=" and toks[i - 1].kind == IDENT:
        return toks[i - 1].text
    return ""
