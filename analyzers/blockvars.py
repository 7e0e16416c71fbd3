"""Blocks stored in variables: `dispatch_block_t b = ^{...}; ... dispatch_sync(q, b);` runs b on q.

A pass over a finished file model (after analyzers.parse): a block literal assigned to a local, directly
or through `dispatch_block_create(flags, ^{...})`, becomes a dispatch scope of the first dispatch call
that is later given that variable, exactly as if the literal had been written there.
"""

from __future__ import annotations


from analyzers.model import IDENT, FileModel, Scope

DISPATCH_CALLS = frozenset({"dispatch_sync", "dispatch_sync_with_rethrow", "dispatch_async", "dispatch_after",
                            "dispatch_barrier_sync", "dispatch_barrier_async", "dispatch_async_and_wait",
                            "dispatch_barrier_async_and_wait", "dispatch_group_async"})
WRAPPERS = frozenset({"dispatch_block_create", "dispatch_block_create_with_qos_class", "Block_copy"})


def _variable(model: FileModel, block: Scope) -> str:
    """The local a block literal is assigned to ('' when it is not)."""
    toks = model.tokens
    texts, kinds = toks.texts, toks.kinds
    i = toks.at(block.line, block.col)     # the '^'
    if i < 2 or i >= len(toks):
        return ""
    if texts[i - 1] == "=" and kinds[i - 2] == IDENT:
        return texts[i - 2]
    j = i - 1                                                # dispatch_block_create(flags, ^{...})
    depth = 0
    while j > 1 and (depth > 0 or texts[j] != "("):
        depth += texts[j] == ")"
        depth -= texts[j] == "(" and depth > 0
        j -= 1
    if texts[j] == "(" and texts[j - 1] in WRAPPERS and j >= 3 and texts[j - 2] == "=" \
            and kinds[j - 3] == IDENT:
        return texts[j - 3]
    return ""


def resolve(model: FileModel) -> None:
    """Turn block literals stored in variables into dispatch scopes of the queue they are dispatched on."""
    for block in list(model.scopes("block")):
        if block.escaping or block.handler or block.parent is None:
            continue
        name = _variable(model, block)
        fn = block.function()
        if not name or fn is None:
            continue
        call = next((c for s in fn.walk() for c in s.calls
                     if c.name in DISPATCH_CALLS and c.token > block.last_token and name in c.args[1:]), None)
        if call is None:
            continue
        block.kind = "dispatch"
        block.dispatch = call.name
        block.queue = call.args[0].replace(" ", "") if call.args else ""
        block.escaping = "async" in call.name or call.name == "dispatch_after"
        block.dispatched_at = call.token
    model.__dict__.pop("_bv_keys", None)
    model.__dict__.pop("_scopes", None)
