"""The interprocedural contexts (caller and queue) do not depend on the order functions are settled in:
the ground for settling them on demand, one name at a time (docs/scaling.md, "Next")."""

from __future__ import annotations

import random

from analyzers.parse import parse_text
from analyzers.rules import queries

# only_locked() is reached only under the lock and ctor_only() only from the constructor; ping() and
# pong() call each other (a cycle), helper() is also reached from ping(); queued() runs only inside a
# dispatch onto the stream queue, relay() only from queued()
SOURCE = """
#include <mutex>
struct Box {
  std::mutex m;
  int v;
  Box() { ctor_only(); }
  void lockedEntry() { std::lock_guard<std::mutex> g(m); helper(); only_locked(); ping(); }
  void helper() { v = 1; }
  void only_locked() { v = 2; }
  void ping() { pong(); helper(); }
  void pong() { ping(); }
  void ctor_only() { v = 3; }
  void outside() { pong(); }
  void submit(MPSStream* stream) { dispatch_sync(stream->queue(), ^{ queued(); }); }
  void queued() { relay(); }
  void relay() { v = 4; }
};
"""


def test_contexts_are_the_same_in_every_settling_order():
    idx = queries.index([parse_text(SOURCE, "box.cpp")])
    names = list(idx.functions)
    expected = ({"only_locked": "lock", "ctor_only": "init"}, {"queued": "queue", "relay": "queue"})
    for seed in range(20):
        order = names[:]
        random.Random(seed).shuffle(order)
        got = (queries._fixpoint(idx, queries._caller_kind, order),
               queries._fixpoint(idx, queries._queue_kind(idx), order))
        assert got == expected, (seed, order)


# f() is called from g() (no lock) and from h() under L; g() only from f(): asked first, g() used to come
# out held under L, asked after f() with no constraint at all (f()'s walk had kept g()'s half-done summary)
CYCLE = """
#include <mutex>
struct S {
  std::mutex L;
  int v;
  void f() { g(); v = 1; }
  void g() { f(); v = 2; }
  void h() { std::lock_guard<std::mutex> lk(L); f(); }
};
"""


def test_entry_locks_are_the_same_in_every_asking_order():
    from analyzers import symbols
    from analyzers.rules import lockset
    model = parse_text(CYCLE, "s.cpp")
    idx, types = queries.index([model]), symbols.types([model])
    seen = set()
    for order in (["g", "f", "h"], ["f", "g", "h"], ["h", "f", "g"]):
        tables = lockset.Tables(idx, types)
        got = {name: lockset._entry(tables, name) for name in order}
        seen.add(tuple(sorted(got.items(), key=lambda kv: kv[0])))
    assert len(seen) == 1
    (only,) = seen
    assert dict(only)["g"] and dict(only)["g"] == dict(only)["f"]      # both entered under L only
