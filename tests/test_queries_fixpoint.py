"""queries._fixpoint (caller and queue contexts) against the plain fixpoint it replaced: rounds over every
function until nothing changes. Random call graphs with cycles, self-calls, unknown callers, sites without
a context and ObjC sends."""

from __future__ import annotations

import random
from types import SimpleNamespace

from analyzers.rules.queries import Index, _fixpoint

KINDS = ("", "lock", "init", "queue")


def _rounds(idx: Index, classify) -> dict[str, str]:
    """The reference: every site classified, then rounds until no function gains a context."""
    objc = {name for name, defs in idx.functions.items() if any(fn.name.startswith(("-[", "+[")) for _, fn in defs)}
    sites = {name: [classify(m, c) for m, c in idx.calls.get(name, [])
                    if c.scope is not None and (not c.objc or name in objc)] for name in idx.functions}
    ctx: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name, kinds in sites.items():
            if name in ctx or not kinds:
                continue
            resolved = {ctx.get(k[1], "") if isinstance(k, tuple) else k for k in kinds}
            if "" not in resolved:
                ctx[name] = "init" if resolved == {"init"} else min(resolved)
                changed = True
    return ctx


def _graph(rnd: random.Random) -> Index:
    names = [f"f{i}" for i in range(rnd.randint(1, 12))] + (["-[A run]"] if rnd.random() < 0.2 else [])
    idx = Index()
    for name in names:
        idx.functions[name] = [(None, SimpleNamespace(name=name))]
        if rnd.random() < 0.15:
            continue            # never called: an entry point
        idx.calls[name] = [(None, SimpleNamespace(
            kind=("via", rnd.choice([*names, "elsewhere"])) if rnd.random() < 0.6 else rnd.choice(KINDS),
            objc=rnd.random() < 0.1, scope=object())) for _ in range(rnd.randint(1, 4))]
    idx.objc = {name for name in names if name.startswith(("-[", "+["))}   # as index_from keeps them
    return idx


def test_fixpoint_matches_rounds():
    rnd = random.Random(19)
    for _ in range(2000):
        idx = _graph(rnd)
        assert _fixpoint(idx, lambda m, c: c.kind) == _rounds(idx, lambda m, c: c.kind)


def test_deep_caller_chain():
    """A chain of 5000 callers, each the only caller of the next, settles without recursing."""
    idx = Index()
    for i in range(5000):
        idx.functions[f"f{i}"] = [(None, SimpleNamespace(name=f"f{i}"))]
        kind = ("via", f"f{i + 1}") if i < 4999 else "lock"
        idx.calls[f"f{i}"] = [(None, SimpleNamespace(kind=kind, objc=False, scope=object()))]
    assert _fixpoint(idx, lambda m, c: c.kind) == {f"f{i}": "lock" for i in range(5000)}
