"""The code model of one C++/ObjC++ file: tokens, nested scopes, calls, lock regions, members.

Built by `analyzers.parse.parse_file` from the Lark parse; read by the rules, the TSA inventory and
the lock graph. Plain data: everything a rule needs is a field or a small query below.
Lines and columns are 1-based.
"""

from __future__ import annotations

import operator
import sys
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import partial
from typing import Iterable, Iterator, NamedTuple

from analyzers.findings import Diagnostic

SCOPE_KINDS = ("file", "namespace", "class", "function", "block", "lambda", "dispatch", "compound")


class Token(NamedTuple):
    """A lexical token. kind: IDENT NUMBER STRING CHAR PUNCT PREPROC COMMENT ATKW (ObjC @keyword).

    Immutable; a NamedTuple rather than a frozen dataclass because a file has tens of thousands
    (creating and pickling them is several times cheaper).
    """

    kind: str
    text: str
    line: int
    col: int


_row = partial(tuple.__new__, Token)     # (kind, text, line, col) -> Token, without a Python-level call


# Token kinds, one character each: a file's kinds column is then one str, a byte a token, where a list of
# kind names took 8 (5 MB of source: 750,000 tokens, 5 MiB of a run's peak).
IDENT, NUMBER, STRING, CHAR, PUNCT, PREPROC, COMMENT, ATKW = "i", "n", "s", "c", "p", "#", "/", "@"


class Tokens:
    """A file's tokens as four columns: kinds (a str of one-character kinds, a list while being built), texts
    (a list of shared strings), lines and cols (int arrays).

    About 13 bytes a token where a list of Token tuples takes ~100; indexing and iteration still give
    Token tuples (made on access), and hot loops read the columns directly (`tokens.texts[i]`).
    """

    __slots__ = ("kinds", "texts", "lines", "cols")

    def __init__(self, kinds: list[str] | str | None = None, texts: list[str] | None = None,
                 lines: array | None = None, cols: array | None = None):
        self.kinds = [] if kinds is None else kinds
        self.texts = [] if texts is None else texts
        self.lines = array("i") if lines is None else lines
        self.cols = array("i") if cols is None else cols

    @classmethod
    def of(cls, tokens: Iterable[Token]) -> "Tokens":
        """The columns of a sequence of Tokens (itself when it already is one)."""
        if isinstance(tokens, Tokens):
            return tokens
        rows = list(tokens)
        return cls([t[0] for t in rows], [t[1] for t in rows], array("i", [t[2] for t in rows]),
                   array("i", [t[3] for t in rows])).compact()

    def compact(self) -> "Tokens":
        """Itself with lines and cols in 2-byte arrays where every value fits (nearly every file: half the
        8 bytes a token those two took), the kinds as one str and the texts without their spare room."""
        for name in ("lines", "cols"):
            column = getattr(self, name)
            if column.typecode != "H" and (not column or max(column) < 1 << 16):
                setattr(self, name, array("H", column))
        self.kinds, self.texts = "".join(self.kinds), self.texts[:]
        if len(self.kinds) != len(self.texts):
            raise ValueError("token kinds are one character each (model.IDENT, ...)")
        return self

    def append(self, token: Token) -> None:
        """Add one token at the end."""
        self.kinds.append(token[0])
        self.texts.append(token[1])
        self.lines.append(token[2])
        self.cols.append(token[3])

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i):
        if i.__class__ is int:
            return _row((self.kinds[i], self.texts[i], self.lines[i], self.cols[i]))
        if isinstance(i, slice):
            return list(map(_row, zip(self.kinds[i], self.texts[i], self.lines[i], self.cols[i])))
        return self[operator.index(i)]

    def __iter__(self) -> Iterator[Token]:
        return map(_row, zip(self.kinds, self.texts, self.lines, self.cols))

    def __reversed__(self) -> Iterator[Token]:
        return map(_row, zip(reversed(self.kinds), reversed(self.texts), reversed(self.lines), reversed(self.cols)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tokens):
            return ("".join(self.kinds), self.texts, self.lines, self.cols) == ("".join(other.kinds), other.texts,
                                                                                other.lines, other.cols)
        return isinstance(other, (list, tuple)) and list(self) == list(other)

    __hash__ = None   # type: ignore[assignment]   # mutable, like a list

    def __repr__(self) -> str:
        return f"Tokens({list(self)!r})"

    def __getstate__(self) -> tuple:
        return self.kinds, self.texts, self.lines, self.cols

    def __setstate__(self, state: tuple) -> None:
        self.kinds, texts, self.lines, self.cols = state
        self.texts = list(map(sys.intern, texts))     # shared with the other models, as the lexer's are

    def indices(self, text: str, lo: int = 0, hi: int | None = None) -> list[int]:
        """Indices of the tokens spelled `text` in [lo, hi), ascending: list.index scans in C, where a Python
        test of every token in a range costs a bytecode loop (rules look for a few words in every body)."""
        texts, out = self.texts, []
        hi = len(texts) if hi is None else max(hi, 0)    # a negative end is empty, not counted from the end
        try:
            i = texts.index(text, lo, hi)
            while True:
                out.append(i)
                i = texts.index(text, i + 1, hi)
        except ValueError:
            return out

    def at(self, line: int, col: int = 1) -> int:
        """Index of the first token at or after (line, col) (tokens are in source order)."""
        lo = bisect_left(self.lines, line)
        hi = bisect_right(self.lines, line, lo)
        return bisect_left(self.cols, col, lo, hi)


BRACKETS = {"(": ")", "[": "]", "{": "}"}
BISECT_CHILDREN = 16   # scope_at searches children by bisection from this many on


def closing(tokens: Tokens, i: int) -> int:
    """Index of the token closing the bracket at tokens[i] (len(tokens) when unbalanced)."""
    texts = tokens.texts      # the column: a Token made per step was most of the cost
    opener, depth = texts[i], 0
    closer = BRACKETS[opener]
    for j in range(i, len(texts)):
        t = texts[j]
        if t == opener:
            depth += 1
        elif t == closer:
            depth -= 1
            if depth == 0:
                return j
    return len(tokens)


@dataclass(slots=True)
class LockRegion:
    """A span of code during which `lock` is held."""

    lock: str             # the lock expression, spaces removed: 'm_mutex', 'mps_gen->mutex_', 'stream->queue()'
    kind: str             # lock_guard | unique_lock | scoped_lock | shared_lock | guard (other RAII types:
                          # MutexLock, absl::MutexLock) | manual | call_once
                          # (also dispatch_once) | synchronized (ObjC @synchronized(obj) { ... })
    line: int             # where it is acquired (the guard variable, the lock() call, @synchronized)
    col: int
    end_line: int         # last line it is held (scope end, the unlock() line, or the function end)
    var: str = ""         # the guard variable (for guards); '' for manual locks
    released_by: str = "scope"   # scope | unlock | none (a manual lock() with no unlock() on that path)
    shared: bool = False


@dataclass(slots=True)
class Call:
    """A call or ObjC message send."""

    name: str             # last identifier of the callee / first selector part: 'commandEncoder', 'waitUntilCompleted'
    callee: str           # callee as written, spaces only between words: 'stream->commandEncoder',
                          # 'at::mps::getCurrentMPSStream'; ObjC: 'receiver.firstSelectorPart'
    receiver: str         # receiver expression ('' for plain function calls): 'stream', '_commandBuffer', 'self',
                          # '[MPSGraph alloc]'
    args: tuple[str, ...]  # argument texts, spaces only between words; block/lambda bodies shown as '{...}';
                          # ObjC: one per selector part
    line: int             # of the callee's first token (ObjC: of the '[')
    col: int
    objc: bool = False    # an ObjC message send `[receiver sel:...]`
    selector: str = ""    # full ObjC selector 'addCompletedHandler:' ('' for C++ calls)
    token: int = 0        # index of the callee's first token in FileModel.tokens (ObjC: the '[')
    scope: "Scope | None" = field(default=None, repr=False, compare=False)

    def __reduce__(self) -> tuple:
        # rebuilt by the constructor: a slotted dataclass's default pickling sets each field from Python,
        # which made calls a quarter of loading a cached model (10^5 calls at 20 MB: 0.43 -> 0.33 s)
        return shared_call, (self.name, self.callee, self.receiver, self.args, self.line, self.col, self.objc,
                      self.selector, self.token, self.scope)


def shared_call(name: str, callee: str, receiver: str, args: Iterable[str], line: int, col: int, objc: bool = False,
                selector: str = "", token: int = 0, scope: "Scope | None" = None) -> Call:
    """A Call whose strings are the process's one copy of each (sys.intern): the same callee, receiver and
    arguments recur in every file, and a run keeps every file's model (5 MB: 4 MiB of duplicate strings).
    The arguments are a tuple: 16 bytes less than a list, and no spare room (5 MB: 1 MiB)."""
    intern = sys.intern
    return Call(intern(name), intern(callee), intern(receiver), tuple(map(intern, args)), line, col, objc,
                intern(selector), token, scope)


@dataclass(slots=True)
class Member:
    """A data member or static/global variable declaration."""

    name: str
    type: str             # declared type as written, spaces normalised: 'std::recursive_mutex'
    line: int
    col: int
    owner: str = ""       # qualified class name, '' for namespace/file-level variables
    static: bool = False  # static member, function-local static, or namespace-scope variable
    function: str = ""    # for function-local statics: the function's qualified name
    annotations: list[str] = field(default_factory=list)   # attribute/macro texts attached: 'GUARDED_BY(m_mutex)'
    thread_local: bool = False   # one instance per thread: never shared, so never raced on


@dataclass
class Scope:
    """A lexical region. kind is one of SCOPE_KINDS."""

    kind: str
    name: str = ""        # qualified name for namespace/class/function (ObjC methods: '-[Class selector:]')
    line: int = 1         # start: the head (name) of namespaces, classes and functions, the `[` or `^` of
                          # lambdas and blocks (their body is first_token..last_token), else the `{`
    col: int = 1
    end_line: int = 1
    parent: "Scope | None" = field(default=None, repr=False)
    # These four start as the shared empty tuple (an empty list each would cost 56 bytes a scope): the
    # parser makes a list when it adds the first (parse._listed), and a tuple of it when it is done
    # (parse._frozen); nothing changes them afterwards.
    children: list["Scope"] = field(default=())              # type: ignore[assignment]
    calls: list[Call] = field(default=())                    # type: ignore[assignment]  # calls directly here
    locks: list[LockRegion] = field(default=())              # type: ignore[assignment]  # regions opened here
    captures: list[str] = field(default=())                  # type: ignore[assignment]  # '&', '=', 'this', 'x'
    queue: str = ""       # dispatch scopes: the queue expression, spaces removed
    dispatch: str = ""    # dispatch scopes: dispatch_sync | dispatch_sync_with_rethrow | dispatch_async | ...
    escaping: bool = False   # block/lambda that may run after the enclosing call returns
    handler: str = ""     # block given to addCompletedHandler:/addScheduledHandler: (that selector)
    first_token: int = 0  # token index range of the body [first_token, last_token)
    last_token: int = 0
    objc: bool = False    # class scopes: an ObjC @interface / @implementation / @protocol (name unqualified)
    dispatched_at: int = 0   # a block stored in a variable: the token of the dispatch call it is given to
    # what analyses derive from the scope (parameters, locals, ...): not state. A field rather than keys
    # added to the instance's __dict__, which would turn its compact shared-key layout into a ~700-byte dict
    memo: dict | None = field(default=None, repr=False, compare=False)
    # function()'s answer once asked (False: not yet; None is an answer); a field for the same reason
    enclosing_function: "Scope | None | bool" = field(default=False, repr=False, compare=False)

    def memos(self) -> dict:
        """The scope's memo table, made on first use."""
        if self.memo is None:
            self.memo = {}
        return self.memo

    def walk(self) -> Iterator["Scope"]:
        """This scope and all nested scopes, depth first (pre-order)."""
        # Iterative: nested `yield from` costs O(depth) per scope, and rules walk every file often.
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            if node.children:
                stack.extend(reversed(node.children))

    def ancestors(self) -> Iterator["Scope"]:
        """Enclosing scopes, innermost first (excluding self)."""
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def enclosing(self, *kinds: str) -> "Scope | None":
        """The nearest scope of one of `kinds`, self included."""
        if self.kind in kinds:
            return self
        return next((s for s in self.ancestors() if s.kind in kinds), None)

    def takes_lock(self) -> bool:
        """Whether a lock region opens here or this is a dispatch onto a queue (something is held inside)."""
        return bool(self.locks) or (self.kind == "dispatch" and bool(self.queue))

    def function(self) -> "Scope | None":
        """The enclosing named function or method (blocks and lambdas are not functions)."""
        # memoised: rules ask it of every call and access (millions of ancestor walks on a big tree);
        # the parent chain is fixed when the scope is made, and the memo pickles as a reference
        fn = self.enclosing_function
        if fn is False:
            fn = self.enclosing_function = self.enclosing("function")
        return fn

    def all_calls(self) -> Iterator[Call]:
        """Calls in this scope and every nested scope."""
        for scope in self.walk():
            yield from scope.calls

    def contains_line(self, line: int) -> bool:
        """Whether `line` lies within this scope."""
        return self.line <= line <= self.end_line


@dataclass
class FileModel:
    """Everything the analyzers know about one file."""

    path: str                                   # relative to the scanned root, '/' separators
    tokens: Tokens                              # code tokens (no comments); preprocessor lines as PREPROC
    comments: list[Token]
    root: Scope                                 # kind 'file'
    members: list[Member] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def __post_init__(self) -> None:
        # a list of Tokens given by hand: the same columns. The source text is not kept: no rule reads it
        # (compressed, it was a fifth of the cache and 1.2 MiB of memory at 5 MB)
        self.tokens = Tokens.of(self.tokens)

    def __getstate__(self) -> dict:
        # Tokens and comments as columns: unpickling 100k+ NamedTuples one by one dominates a warm cached run.
        # Private keys are memos the rules attach: derived, not state.
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        toks = state["comments"]
        state["comments"] = (tuple(t[0] for t in toks), tuple(t[1] for t in toks),
                             tuple(t[2] for t in toks), tuple(t[3] for t in toks))
        return state

    def __setstate__(self, state: dict) -> None:
        state["comments"] = list(map(_row, zip(*state["comments"])))
        self.__dict__.update(state)

    def scopes(self, *kinds: str) -> Iterator[Scope]:
        """All scopes, optionally only those of `kinds`."""
        every = self.__dict__.get("_scopes")
        if every is None:   # a finished model does not change, and rules walk it many times
            every = self.__dict__["_scopes"] = list(self.root.walk())
            # the lists of one kind, in one pass (most asks are for one kind; a pass per kind cost more)
            single: dict[tuple[str, ...], list[Scope]] = {}
            for s in every:
                single.setdefault((s.kind,), []).append(s)
            self.__dict__["_scopes_of"] = single
        if not kinds:
            return iter(every)
        of = self.__dict__["_scopes_of"]
        hit = of.get(kinds)
        if hit is None:     # most asks are for the functions: one filtered list per set of kinds
            hit = of[kinds] = [s for s in every if s.kind in kinds]
        return iter(hit)

    def calls(self) -> Iterator[Call]:
        """Every call in the file."""
        every = self.__dict__.get("_calls")
        if every is None:   # kept like _scopes: several rules go through every call of every file
            every = self.__dict__["_calls"] = [call for scope in self.scopes() for call in scope.calls]
        return iter(every)

    def scope_at(self, line: int) -> Scope:
        """The innermost scope containing `line`."""
        scope = self.root
        while True:
            kids = scope.children
            if len(kids) < BISECT_CHILDREN:
                inner = None
                for c in kids:      # contains_line inlined: rules look up the scope of every access
                    if c.line <= line <= c.end_line:
                        inner = c
                        break
            else:
                inner = self._child_at(scope, line)
            if inner is None:
                return scope
            scope = inner

    def _child_at(self, scope: Scope, line: int) -> Scope | None:
        """The first child of `scope` containing `line`, by bisection (a class of 10^4 methods would
        otherwise make every lookup linear, and rules look up every access)."""
        memo = self.__dict__.setdefault("_child_ends", {})
        ends = memo.get(id(scope), False)
        if ends is False:       # children follow each other: their start and end lines do not decrease
            ends = [c.end_line for c in scope.children]
            starts = [c.line for c in scope.children]
            ordered = all(a <= b for a, b in zip(ends, ends[1:])) and all(a <= b for a, b in zip(starts, starts[1:]))
            ends = memo[id(scope)] = ends if ordered else None
        if ends is None:        # out of order after error recovery: the plain search
            return next((c for c in scope.children if c.contains_line(line)), None)
        k = bisect_left(ends, line)
        # the children before k end above `line`; those after k start at or after k's start
        if k < len(ends) and scope.children[k].line <= line:
            return scope.children[k]
        return None

    def held_locks(self, scope: Scope, line: int) -> list[LockRegion]:
        """Lock regions held at `line` in `scope`, outermost first, up to the enclosing function.

        Blocks and lambdas that escape start with no locks held (they run later); dispatch_sync
        blocks run while the caller waits, so the caller's locks count as held there.
        """
        held: list[LockRegion] = []
        node: Scope | None = scope
        while node is not None:
            if node.locks:
                held[:0] = [r for r in node.locks if r.line <= line <= r.end_line]
            if node.kind == "function" or (node.kind in ("block", "lambda", "dispatch") and node.escaping):
                break
            node = node.parent
        return held

    def queues_at(self, scope: Scope) -> list[str]:
        """Queue expressions of the dispatch scopes enclosing `scope`, outermost first."""
        out = []
        node: Scope | None = scope
        while node is not None:
            if node.kind == "dispatch" and node.queue:
                out.append(node.queue)
            node = node.parent
        out.reverse()
        return out

    def comment_on(self, line: int) -> list[str]:
        """Comment texts on `line` or ending on the line before it (for suppressions)."""
        return [c.text for c in self.comments if c.line in (line, line - 1)]
