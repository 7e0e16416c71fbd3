"""Build the code model (analyzers.model.FileModel) of one C++/ObjC++ file from its tokens.

The lexer (analyzers/lexer.py, terminals from grammar.lark) gives the tokens of the kept
preprocessor branches; this module pairs {} () [] with recovery (a mismatched or missing closer
never aborts a file: it is recorded as a `parse` diagnostic), then walks the groups once to find
scopes (namespaces, classes, ObjC @interface/@implementation, functions, ObjC methods, blocks,
lambdas, dispatch regions, compound statements), calls and ObjC message sends, lock regions and
member / static variable declarations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from array import array
from itertools import chain
from pathlib import Path

from analyzers import blockvars
from analyzers.findings import Diagnostic
from analyzers.lexer import lex
from analyzers.model import (ATKW, CHAR, IDENT, NUMBER, PREPROC, PUNCT, STRING, Call, FileModel, LockRegion, Member,
                             Scope, Tokens, shared_call)

OPENERS = {"{": "}", "(": ")", "[": "]"}
CLOSERS = {"}": "{", ")": "(", "]": "["}
BRACKETS = frozenset("{}()[]")
WORDS = frozenset({IDENT, NUMBER, ATKW, STRING, CHAR})

# Identifiers after which '(' or '{' is not a call / declaration / function.
CONTROL = frozenset({"if", "for", "while", "switch", "catch", "do", "else", "try", "sizeof", "alignof",
                     "decltype", "noexcept", "static_assert", "alignas", "__attribute__", "__declspec",
                     "typeid", "defined", "__has_include", "_Pragma", "__typeof__", "typeof", "@synchronized",
                     "@autoreleasepool", "@try", "@catch", "@finally", "case", "default", "asm", "__asm__"})
# Identifiers that start an expression: a '(' after `return foo` is a call, not a declaration.
EXPR_KEYWORDS = frozenset({"return", "co_return", "co_await", "co_yield", "throw", "else", "case", "new",
                           "delete", "do", "and", "or", "not", "typename", "goto", "const_cast"})
DECL_SPECIFIERS = frozenset({"static", "mutable", "inline", "constexpr", "consteval", "constinit",
                             "thread_local", "extern", "__block", "register", "virtual", "explicit"})
SKIP_STATEMENTS = frozenset({"using", "typedef", "friend", "template", "namespace", "return", "static_assert",
                             "public", "private", "protected", "operator", "class", "struct", "union", "enum",
                             "@class", "@protocol", "@interface", "@implementation", "@end", "@import",
                             "@synthesize", "@dynamic", "goto", "break", "continue", "case", "default"})

# RAII guards of other libraries (`MutexLock l(&mu_)`, `absl::MutexLock`): by the type's and the lock's name
GUARD_TYPE = re.compile(r"(?i)(Lock|Locker|Guard)$")
LOCKISH = re.compile(r"(?i)((^|_)mu_?$|^m_mu$|mutex|lock|^mtx)")
LOCK_TYPES = {"lock_guard": "lock_guard", "unique_lock": "unique_lock", "scoped_lock": "scoped_lock",
              "shared_lock": "shared_lock"}
DISPATCH_CALLS = frozenset({"dispatch_sync", "dispatch_sync_with_rethrow", "dispatch_async", "dispatch_after",
                            "dispatch_barrier_sync", "dispatch_barrier_async", "dispatch_async_and_wait",
                            "dispatch_barrier_async_and_wait", "dispatch_group_async"})
HANDLER_NAMES = frozenset({"addCompletedHandler", "addScheduledHandler"})
# Calls / constructed types whose block or lambda argument runs later on another thread.
ESCAPING_CALLS = frozenset({"async", "thread", "jthread", "detach", "dispatch_async", "dispatch_after",
                            "dispatch_barrier_async", "dispatch_group_async", "dispatch_group_notify",
                            "addCompletedHandler", "addScheduledHandler", "notifyListener"})
ONCE_CALLS = frozenset({"call_once", "dispatch_once"})
MANUAL_LOCK = {"lock": True, "unlock": False, "lock_shared": True, "unlock_shared": False}
PTHREAD_LOCK = {"pthread_mutex_lock": True, "pthread_mutex_unlock": False,
                "os_unfair_lock_lock": True, "os_unfair_lock_unlock": False}
ENUM_MACROS = frozenset({"NS_ENUM", "NS_OPTIONS", "NS_CLOSED_ENUM", "NS_ERROR_ENUM", "CF_ENUM", "CF_OPTIONS"})
# what a function definition's '{' follows: the parameters or a trailing specifier
FUNCTION_BODY_AFTER = frozenset({")", "const", "override", "final", "noexcept"})
MAX_DIAGNOSTICS = 20   # parse diagnostics kept per file
MAX_NESTING = 150   # bracket nesting the walk follows (real code stays under ~30)
MAX_CHAIN = 32          # links of a postfix chain a->b()->c() a callee's text spans (see chain_start)
CODE_KINDS = ("function", "block", "lambda", "dispatch")
LAMBDA_SPECIFIERS = frozenset({"mutable", "constexpr", "consteval", "noexcept", "const", "static"})
_TRAILER_START = LAMBDA_SPECIFIERS | {"->"}
ATTRIBUTES = frozenset({"__attribute__", "__declspec", "alignas", "_Pragma"})
OBJC_CONTAINERS = frozenset({"@interface", "@implementation", "@protocol"})
_ANNOTATION = re.compile(r"^(?:__attribute__|[A-Z][A-Z0-9_]*(?:GUARDED_BY|REQUIRES|EXCLUDES|ACQUIRED_\w+|"
                         r"CAPABILITY|LOCKABLE|SCOPED_\w+|LOCKS_\w+|_BY|_CAPABILITY|ANNOTATION\w*)\w*"
                         r"|GUARDED_BY|PT_GUARDED_BY|REQUIRES\w*|EXCLUDES|ACQUIRED_BEFORE|ACQUIRED_AFTER"
                         r"|[A-Z][A-Z0-9]*_[A-Z0-9_]+)$")
# Annotation macros written without arguments after a declarator: `int v GUARDED_VAR;`
_BARE_ANNOTATION = re.compile(r"^(?:[A-Z][A-Z0-9]*_)?(?:PT_)?(?:GUARDED_VAR|SCOPED_CAPABILITY|SCOPED_LOCKABLE|LOCKABLE|"
                              r"NO_THREAD_SAFETY_ANALYSIS)$")
# Argument-taking annotations that only follow a data member's declarator: `size_t h GUARDED_BY(mu){0};`
_MEMBER_ANNOTATION = re.compile(r"^(?:[A-Z][A-Z0-9]*_)?(?:PT_)?(?:GUARDED_BY|ACQUIRED_BEFORE|ACQUIRED_AFTER)$")


def join_tokens(texts: list[str]) -> str:
    """Token texts joined with spaces only where two words would otherwise merge."""
    out: list[str] = []
    prev_word = prev_close = False
    for t in texts:
        word = t[:1].isalnum() or t[:1] in "_$@\"'"
        if out and word and (prev_word or prev_close):
            out.append(" ")
        out.append(t)
        prev_word = word
        prev_close = t in (")", "]")
    return "".join(out)


@dataclass
class _Guard:
    """A declared lock guard: where, which variable, which locks, and the regions it has held."""

    scope: Scope
    var: str
    kind: str
    locks: tuple[str, ...]
    line: int
    regions: list[LockRegion] = field(default_factory=list)


class _Builder:
    """One pass over the paired token groups of a file, filling a FileModel."""

    def __init__(self, path: str, tokens: Tokens):
        self.path = path
        self.toks = tokens
        self.texts = tokens.texts      # the model's own columns (read-only here)
        self.kinds = tokens.kinds
        self.lines = tokens.lines
        self.n = len(tokens)
        # each token's text with the space join_tokens would put before it ('' for preprocessor lines);
        # one ' name' string per distinct name (a string per token is most of the parse's peak memory)
        with_space: dict[str, str] = {}
        self.spaced = [
            "" if k == PREPROC else (with_space.get(t) or with_space.setdefault(t, " " + t)
                                       if k in WORDS and (prev_kind in WORDS or prev in (")", "]")) else t)
            for k, t, prev_kind, prev in zip(self.kinds, self.texts, chain(("",), self.kinds), chain(("",), self.texts))]
        self.match = array("i", [-1]) * self.n     # ints in an array: a list would keep an int object per bracket
        self.diagnostics: list[Diagnostic] = []
        self.members: list[Member] = []
        self.guard_decls: list[_Guard] = []      # lock guards declared, for g.unlock() / g.lock()
        self.depth = 0                # nesting of scan() calls
        self.too_deep = False
        self._init_groups: dict[int, bool] = {}   # '{' indices that open braced initializers

    # ---- grouping ------------------------------------------------------------------------------

    def pair(self) -> None:
        """Pair brackets; recover from mismatches by closing inner groups or dropping stray closers."""
        texts, match, stack = self.texts, self.match, []
        # stack positions of each kind of opener: finding the one a closer wants is then O(1), not a
        # walk down the stack (quadratic on `((((…}}}}`)
        where: dict[str, list[int]] = {o: [] for o in OPENERS}
        for i in [i for i, t in enumerate(texts) if t in BRACKETS]:
            t = texts[i]
            if t in OPENERS:
                where[t].append(len(stack))
                stack.append(i)
            elif t in CLOSERS:
                want = CLOSERS[t]
                if stack and texts[stack[-1]] == want:
                    j = stack.pop()
                    where[want].pop()
                    match[j], match[i] = i, j
                    continue
                # the nearest `want` opener; a ')' or ']' does not close across an open '{'
                k = where[want][-1] if where[want] else -1
                if t != "}" and where["{"] and where["{"][-1] > k:
                    k = -1
                if k < 0:
                    self._diag(i, f"unmatched '{t}' ignored")
                    continue
                for j in stack[k + 1:]:
                    self._diag(j, f"'{texts[j]}' closed implicitly by '{t}' on line {self.toks[i].line}")
                    match[j] = i
                j = stack[k]
                del stack[k:]
                for positions in where.values():
                    while positions and positions[-1] >= k:
                        positions.pop()
                match[j], match[i] = i, j
        for j in stack:
            self._diag(j, f"'{texts[j]}' not closed before end of file")
            match[j] = self.n

    def _diag(self, i: int, message: str) -> None:
        self.diagnostics.append(Diagnostic(self.path, self.lines[i], message, "parse"))

    def line_of(self, i: int) -> int:
        """Line of token i (the last line for the end-of-file position)."""
        if i >= self.n:
            return self.lines[-1] if self.n else 1
        return self.lines[i]

    def text(self, a: int, b: int, collapse: bool = True) -> str:
        """Tokens [a, b) joined; brace groups collapsed to '{...}' (so block arguments stay short)."""
        texts, match, kinds = self.texts, self.match, self.kinds
        b = min(b, self.n)      # an unclosed group's end is one past the last token
        if b - a <= 1:
            return texts[a] if b > a and kinds[a] != PREPROC else ""
        if not collapse or "{" not in texts[a:b]:
            return texts[a] + "".join(self.spaced[a + 1:b])
        out: list[str] = []
        i = a
        while i < b:
            if collapse and texts[i] == "{" and kinds[i] == PUNCT and match[i] > i:
                out.append("{...}")
                i = match[i] + 1
                continue
            if kinds[i] not in (PREPROC,):
                out.append(texts[i])
            i += 1
        return join_tokens(out)

    def compact(self, a: int, b: int) -> str:
        """Tokens [a, b) with no spaces (lock and queue expressions)."""
        return "".join(self.texts[i] for i in range(a, b) if self.kinds[i] != PREPROC)

    def split_args(self, a: int, b: int) -> list[tuple[int, int]]:
        """Top-level comma-separated ranges of [a, b) (groups skipped)."""
        texts, match = self.texts, self.match
        parts, start, i = [], a, a
        while i < b:
            t = texts[i]
            if t in OPENERS and match[i] > i and self.kinds[i] == PUNCT:
                i = match[i] + 1
                continue
            if t == ",":
                parts.append((start, i))
                start = i + 1
            i += 1
        if start < b or parts:
            parts.append((start, b))
        return parts

    # ---- the walk ------------------------------------------------------------------------------

    def build(self) -> Scope:
        """Pair, walk and post-process; return the file scope."""
        self.pair()
        end_line = self.lines[-1] if self.n else 1
        root = Scope("file", "", 1, 1, end_line, first_token=0, last_token=self.n)
        self.scan(root, 0, self.n, None)
        self.pair_manual_locks(root)
        return root

    def scan(self, scope: Scope, start: int, end: int, ctx: dict | None) -> None:
        """Walk tokens [start, end) that belong to `scope`; `ctx` is the enclosing call group."""
        if self.depth >= MAX_NESTING:      # the walk recurses per group: refuse absurd nesting
            if not self.too_deep:
                self.too_deep = True
                self._diag(start, f"brackets nested deeper than {MAX_NESTING}: the inner code is not analysed")
            return
        self.depth += 1
        try:
            self._scan(scope, start, end, ctx)
        finally:
            self.depth -= 1

    def _scan(self, scope: Scope, start: int, end: int, ctx: dict | None) -> None:
        texts, kinds, match = self.texts, self.kinds, self.match
        decl_scope = scope.kind in ("file", "namespace", "class") and ctx is None
        stmt = start
        i = start
        while i < end:
            t = texts[i]
            k = kinds[i]
            if k == PUNCT and len(t) == 1:
                if t == "{" and match[i] > i:
                    nxt, boundary = self.brace(scope, i, start, ctx)
                    if boundary:
                        stmt = nxt
                    i = nxt
                    continue
                if t == "(" and match[i] > i:
                    i = self.paren(scope, i, start, ctx)
                    continue
                if t == "[" and match[i] > i:
                    i = self.bracket(scope, i, start, ctx)
                    continue
                if t == ";" and ctx is None:
                    self.statement(scope, stmt, i, decl_scope)
                    stmt = i + 1
                elif t == ":" and i > start and texts[i - 1] in ("public", "private", "protected"):
                    stmt = i + 1
            elif k == ATKW:
                if t in OBJC_CONTAINERS and ctx is None:
                    nxt = self.objc_container(scope, i, end)
                    if nxt is not None:
                        i = stmt = nxt
                        continue
                elif t == "@end":
                    stmt = i + 1
                elif t == "@property" and ctx is None:
                    stmt = i
            elif k == PREPROC and stmt == i:
                stmt = i + 1
            i += 1

    # ---- statements and declarations -----------------------------------------------------------

    def statement(self, scope: Scope, a: int, b: int, decl_scope: bool) -> None:
        """A ';'-terminated statement [a, b): member / namespace variable / function-local static."""
        texts = self.texts
        while a < b and self.kinds[a] == PREPROC:
            a += 1
        if a >= b:
            return
        first = texts[a]
        if decl_scope:
            if first in SKIP_STATEMENTS or (first == "extern" and a + 1 < b and self.kinds[a + 1] == STRING):
                return
            self.declaration(scope, a, b)
        elif first in ("static", "thread_local") and scope.kind != "class":
            self.declaration(scope, a, b)

    def declaration(self, scope: Scope, a: int, b: int) -> None:
        """Record the variables declared by [a, b) (nothing for function declarations)."""
        texts, kinds, match = self.texts, self.kinds, self.match
        annotations: list[str] = []
        static = False
        type_parts: list[str] = []
        decls: list[tuple[str, int]] = []
        i = a
        if texts[i] == "@property":
            j = i + 1
            if j < b and texts[j] == "(" and match[j] > j:
                j = match[j] + 1
            annotations.append(self.text(i, j))
            i = j
        name_idx = -1
        depth_angle = 0
        in_init = False
        per_thread = False
        defined_in = ""      # the class of an out-of-line static member definition
        while i < b:
            t, k = texts[i], kinds[i]
            if k == PREPROC:
                i += 1
                continue
            if t == "[" and i + 1 < b and texts[i + 1] == "[" and match[i] > i:   # [[attribute]]
                annotations.append(self.text(i, match[i] + 1))
                i = match[i] + 1
                continue
            if k == IDENT and i + 1 < b and texts[i + 1] == "(" and _ANNOTATION.match(t) and match[i + 1] > i:
                annotations.append(self.text(i, match[i + 1] + 1))
                i = match[i + 1] + 1
                continue
            if t in ATTRIBUTES and i + 1 < b and texts[i + 1] == "(" and match[i + 1] > i:
                i = match[i + 1] + 1       # `alignas(64) std::mutex m;`: layout, not part of the type
                continue
            if t == "operator":
                return                     # `T& operator=(const T&) = delete;` declares no variable
            if k == IDENT and name_idx >= 0 and _BARE_ANNOTATION.match(t):
                annotations.append(t)
                i += 1
                continue
            if in_init:      # skip an initializer up to the next declarator
                if t in OPENERS and match[i] > i:
                    i = match[i] + 1
                    continue
                in_init = t != ","
                i += 1
                continue
            if t == "(":
                # `static Foo f(args);` in a function body; elsewhere `name(` is a function declaration,
                # and `(*fp)(...)` / a macro call is no plain variable either
                if name_idx != i - 1 or (not decls and scope.kind in ("namespace", "file", "class")):
                    return
                decls.append((texts[name_idx], name_idx))
                name_idx = -1
                in_init = True
                i = match[i] + 1 if match[i] > i else i + 1
                continue
            if t in ("=", "{") or (t == ":" and depth_angle == 0) or (t == "[" and name_idx >= 0):
                if name_idx >= 0:
                    decls.append((texts[name_idx], name_idx))
                    name_idx = -1
                in_init = True
                if t in OPENERS and match[i] > i:
                    i = match[i] + 1
                    continue
                i += 1
                continue
            if t == "<":
                depth_angle += 1
            elif t == ">":
                depth_angle = max(0, depth_angle - 1)
            elif t == "," and depth_angle == 0:
                if name_idx >= 0:
                    decls.append((texts[name_idx], name_idx))
                name_idx = -1
                i += 1
                continue
            if k == IDENT and t in DECL_SPECIFIERS:
                static = static or t in ("static", "thread_local")
                per_thread = per_thread or t == "thread_local"
            elif k == IDENT and depth_angle == 0 and not decls and name_idx < 0 and texts[i - 1] == "::" \
                    and scope.kind in ("namespace", "file") and self._out_of_line_member(a, i, b):
                cs = self._qualified_start(i, a)      # `T C::x = ...;` defines the static member x of C
                del type_parts[len(type_parts) - (i - cs):]
                defined_in = self.compact(cs, i - 1)
                name_idx = i
            elif k == IDENT and t not in ("const", "volatile", "final", "override") and depth_angle == 0 \
                    and not (i > a and texts[i - 1] == "::") and not (i + 1 < b and texts[i + 1] == "::"):
                if name_idx >= 0 and not decls:
                    type_parts.append(texts[name_idx])
                name_idx = i
            elif not decls:     # part of the type (template arguments, '*', '&', '::')
                if name_idx >= 0:
                    type_parts.append(texts[name_idx])
                    name_idx = -1
                type_parts.append(t)
            i += 1
        if name_idx >= 0:
            decls.append((texts[name_idx], name_idx))
        if not decls or not type_parts:
            return
        type_text = join_tokens([p for p in type_parts if p not in DECL_SPECIFIERS])
        if not type_text or type_text in ("return", "delete", "goto") or type_text[0] in "=(!&*<>.-+":
            return
        owner, function, is_static = "", "", static
        if scope.kind == "class":
            owner = scope.name
        elif scope.kind in ("namespace", "file"):
            is_static = True
            if defined_in:
                owner = "::".join(p for p in (self.qualifier(scope), defined_in) if p)
        else:
            fn = scope.function()
            function = fn.name if fn is not None else ""
            is_static = True
        for name, idx in decls:
            tok = self.toks[idx]
            self.members.append(Member(name, type_text, tok.line, tok.col, owner, is_static, function,
                                       list(annotations), per_thread))

    def _qualified_start(self, i: int, lo: int) -> int:
        """First token of the qualified name `A::B::x` ending at index i."""
        j = i
        while j - 2 >= lo and self.texts[j - 1] == "::" and self.kinds[j - 2] == IDENT:
            j -= 2
        return j

    def _out_of_line_member(self, a: int, i: int, b: int) -> bool:
        """Whether the qualified name ending at i follows a complete type and ends the declarator."""
        texts, kinds = self.texts, self.kinds
        cs = self._qualified_start(i, a)
        if cs <= a or (i + 1 < b and texts[i + 1] not in (";", "=", "{", "[", ",")):
            return False
        bt = texts[cs - 1]
        return (kinds[cs - 1] == IDENT and bt not in DECL_SPECIFIERS and bt not in ("const", "volatile")) or \
            bt in ("*", "&", ">") or (bt == "const" and texts[cs - 2] in ("*", "&"))

    # ---- braces: scopes ------------------------------------------------------------------------

    def head_start(self, i: int, lo: int) -> int:
        """First token of the statement head ending before index i (lower bound lo).

        Inside a group (lo follows '(' '[' or an initializer's '{') a comma ends the head; at
        statement level it does not (constructor initializer lists: `: a(x), b(y) {`).
        """
        texts, kinds, match = self.texts, self.kinds, self.match
        in_group = lo > 0 and texts[lo - 1] in ("(", "[") or (lo > 0 and texts[lo - 1] == "{" and
                                                              self._init_groups.get(lo - 1, False))
        j = i - 1
        while j >= lo:
            t, k = texts[j], kinds[j]
            if k == PUNCT:
                if (t in (")", "]") or (t == "}" and self._init_groups.get(match[j]))) and 0 <= match[j] < j:
                    j = match[j] - 1
                    continue
                if t in (";", "{", "}", "(", "[") or (t == "," and in_group):
                    break
                if t == ":" and j > lo and texts[j - 1] in ("public", "private", "protected", "default"):
                    break
            elif k == PREPROC or (k == ATKW and t not in CONTROL and t != "@property"):
                break
            j -= 1
        return j + 1

    def brace(self, scope: Scope, i: int, lo: int, ctx: dict | None) -> tuple[int, bool]:
        """Handle the '{' at i; returns (next index, whether a statement boundary follows)."""
        texts, kinds, match = self.texts, self.kinds, self.match
        close = match[i]
        h = self.head_start(i, lo)
        while h < i and texts[h] in ATTRIBUTES and h + 1 < i and texts[h + 1] == "(" and h < match[h + 1] < i:
            h = match[h + 1] + 1           # `alignas(64) std::mutex m{};`: the head is what follows
        head_first = texts[h] if h < i else ""
        # code = inside a function, block or lambda, and not in a local class defined there
        in_code = scope.enclosing(*CODE_KINDS, "class", "namespace", "file").kind in CODE_KINDS

        lam = self.closure_intro(h, i)
        if lam is not None:
            kind, captures, intro = lam
            child = self.open_scope(scope, kind, "", i, intro)
            child.captures = captures
            self.attach_to_call(child, ctx, h)
            self.scan(child, i + 1, close, None)
            return close + 1, False
        if head_first == "extern" and h + 2 == i and kinds[h + 1] == STRING:
            self.scan(scope, i + 1, close, None)      # extern "C" { ... } is transparent
            return close + 1, True
        if "namespace" in texts[h:i] and not in_code:
            names = [texts[j] for j in range(texts.index("namespace", h, i) + 1, i)
                     if kinds[j] == IDENT and texts[j] != "inline"]
            qual = "::".join(p for p in (self.qualifier(scope), "::".join(names)) if p)
            child = self.open_scope(scope, "namespace", qual, i, h)
            self.scan(child, i + 1, close, None)
            return close + 1, True
        class_kw = self.class_keyword(h, i)
        if class_kw is not None:
            kw_idx, kw = class_kw
            if kw == "enum":
                return close + 1, False    # enumerators: no code
            name = self.class_name(kw_idx + 1, i)
            qual = "::".join(p for p in (self.qualifier(scope), name) if p)
            child = self.open_scope(scope, "class", qual, i, h)
            self.scan(child, i + 1, close, None)
            return close + 1, False
        if head_first in CONTROL:
            child = self.open_scope(scope, "compound", "", i)
            if head_first == "@synchronized" and h + 1 < i and texts[h + 1] == "(" and match[h + 1] > h + 2:
                tok = self.toks[h]
                _listed(child, "locks").append(LockRegion(self.compact(h + 2, match[h + 1]), "synchronized",
                                                          tok.line, tok.col, child.end_line))
            self.scan(child, i + 1, close, None)
            return close + 1, True
        if scope.objc and head_first in ("-", "+"):
            name = self.objc_method_name(scope, h, i)
            child = self.open_scope(scope, "function", name, i, h)
            self.scan(child, i + 1, close, None)
            return close + 1, True
        if in_code and ctx is None and head_first not in CONTROL and h + 1 < i and kinds[h] == IDENT \
                and texts[i - 1] in FUNCTION_BODY_AFTER:
            fn = self.function_name(h, i)
            if fn is not None and self.chain_start(self._name_index(h, fn[1]), h) > h:
                self._diag(i, f"function definition '{fn[0]}' inside a function body: "
                              "a '}' is probably missing above")
        if ctx is None and self._annotated_declarator(h, i):
            self._init_groups[i] = True      # `size_t h GUARDED_BY(mu){0};`: a braced initializer
            self.scan(scope, i + 1, close, {"group": i})
            return close + 1, False
        if not in_code and ctx is None:
            macro_class = self.macro_class_name(h, i)
            if macro_class is not None:      # FLATBUFFERS_STRUCT(8) Int FINAL_CLASS {
                qual = "::".join(p for p in (self.qualifier(scope), macro_class) if p)
                child = self.open_scope(scope, "class", qual, i, h)
                self.scan(child, i + 1, close, None)
                return close + 1, False
        if not in_code and ctx is None and self._member_initializer(h, i):
            self._init_groups[i] = True      # `Foo() : a_{1}, b_{2} {`: a_{1} is not the body
            self.scan(scope, i + 1, close, {"group": i})
            return close + 1, False
        if not in_code and ctx is None:
            fn = self.function_name(h, i)
            if fn is not None:
                name, params_close = fn
                # C functions written inside an ObjC @implementation are still global
                outer = self.qualifier(scope.parent if scope.objc and scope.parent else scope)
                qual = "::".join(p for p in (outer, name) if p)
                child = self.open_scope(scope, "function", qual, i, h)
                self.adopt_initializers(scope, child, h, params_close)
                self.scan(child, i + 1, close, None)
                return close + 1, True
        if ctx is not None or (h < i and self.is_initializer(h, i)):
            if ctx is None and kinds[i - 1] == IDENT:      # `std::lock_guard<M> g{m};`
                self.guard_declaration(scope, h, i - 1, i)
            self._init_groups[i] = True
            self.scan(scope, i + 1, close, {"group": i})
            return close + 1, False
        if scope.objc and h == i:
            self.scan(scope, i + 1, close, None)       # ObjC instance variables
            return close + 1, True
        child = self.open_scope(scope, "compound", "", i)
        self.scan(child, i + 1, close, None)
        return close + 1, True

    def macro_class_name(self, h: int, i: int) -> str | None:
        """`MACRO(args) Name MACRO {`: a class declared through macros (identifiers and macro calls
        only, at least one of them an ALL_CAPS macro); the name is the last other identifier."""
        texts, kinds, match = self.texts, self.kinds, self.match
        name, macro = None, False
        j = h
        while j < i:
            t = texts[j]
            if kinds[j] != IDENT:
                return None
            upper = t.isupper() and "_" in t
            if j + 1 < i and texts[j + 1] == "(" and match[j + 1] > j:
                if not upper:
                    return None
                macro = True
                j = match[j + 1] + 1
                continue
            macro = macro or upper
            if not upper:
                name = t
            j += 1
        return name if macro else None

    def _annotated_declarator(self, h: int, i: int) -> bool:
        """Whether the '{' at i follows `Type name ANNOTATION(args)` (a member's braced initializer)."""
        texts, kinds, match = self.texts, self.kinds, self.match
        o = match[i - 1] if i - 1 > h and texts[i - 1] == ")" else -1
        return 0 <= o - 2 and o - 2 >= h and kinds[o - 1] == IDENT and _MEMBER_ANNOTATION.match(texts[o - 1]) \
            is not None and kinds[o - 2] == IDENT

    def _member_initializer(self, h: int, i: int) -> bool:
        """Whether the '{' at i brace-initialises a member in a constructor's initializer list."""
        texts, match = self.texts, self.match
        if self.kinds[i - 1] != IDENT and texts[i - 1] != ">":
            return False
        seen_params = False
        j = h
        while j < i:
            t = texts[j]
            if t in ("(", "[") and match[j] > j:
                seen_params = seen_params or t == "("
                j = match[j] + 1
                continue
            if t == ":" and seen_params:
                return True
            j += 1
        return False

    def open_scope(self, parent: Scope, kind: str, name: str, i: int, head: int | None = None) -> Scope:
        """A child scope whose body is the brace group opened at token i (starting at `head` if given)."""
        close = self.match[i]
        tok = self.toks[i if head is None or head >= i else head]
        child = Scope(kind, name, tok.line, tok.col, self.line_of(close), parent,
                      first_token=i + 1, last_token=min(close, self.n))
        _listed(parent, "children").append(child)
        return child

    @staticmethod
    def qualifier(scope: Scope) -> str:
        """Qualified name of the nearest enclosing namespace or class ('' at file scope)."""
        s = scope.enclosing("namespace", "class")
        return s.name if s is not None else ""

    def closure_intro(self, h: int, i: int) -> tuple[str, list[str], int] | None:
        """('lambda', captures, index of '[') or ('block', [], index of '^') when the '{' at i opens one."""
        texts, match, kinds = self.texts, self.match, self.kinds
        # `[..](..) mutable noexcept -> T {`: step over the specifiers and trailing return type
        j = i - 1
        k = j
        while k >= max(h, i - 12) and texts[k] not in (")", "]", "^"):
            k -= 1
        if k >= h and texts[k] in (")", "]", "^") and self._closure_trailer(k + 1, i):
            j = k
        if j < h:
            return None
        t = texts[j]
        if t == "^":
            return "block", [], j
        if t == "]" and 0 <= match[j] < j:
            return self._lambda(match[j], j, h)
        if t != ")" or not 0 <= match[j] < j:
            return None
        p = match[j] - 1
        if p >= h and texts[p] == "]" and 0 <= match[p] < p:
            return self._lambda(match[p], p, h)
        q = p       # ^(args) or ^ReturnType(args)
        while q >= max(h, p - 4) and (kinds[q] == IDENT or texts[q] in ("*", ">", "<")):
            q -= 1
        return ("block", [], q) if q >= h and texts[q] == "^" else None

    def _closure_trailer(self, a: int, b: int) -> bool:
        """Whether [a, b) is empty or lambda specifiers / a trailing return type."""
        if a >= b:
            return True
        texts, kinds = self.texts, self.kinds
        return texts[a] in _TRAILER_START and all(
            kinds[m] == IDENT or texts[m] in ("->", "::", "<", ">", "*", "&", ",") for m in range(a, b))

    def _lambda(self, open_: int, close: int, h: int) -> tuple[str, list[str], int] | None:
        before = open_ - 1
        if before >= h:
            bt, bk = self.texts[before], self.kinds[before]
            if (bk in (IDENT, NUMBER, STRING) and bt not in EXPR_KEYWORDS) or bt in (")", "]"):
                return None     # a subscript, not a lambda introducer
        captures = [self.compact(a, b) for a, b in self.split_args(open_ + 1, close)]
        return "lambda", [c for c in captures if c], open_

    def attach_to_call(self, child: Scope, ctx: dict | None, h: int) -> None:
        """Mark a block/lambda given to dispatch_*, completion handlers or threads."""
        if ctx is None:
            return
        call: Call | None = ctx.get("call")
        if call is None:
            decl = ctx.get("decl", "")
            if decl.split("::")[-1] in ("thread", "jthread"):
                child.escaping = True
            return
        name = call.name
        if call.objc:
            part = next((p for p, a, b in ctx.get("parts", ()) if a <= h < b), call.selector)
            if part.rstrip(":") in HANDLER_NAMES:
                child.handler, child.escaping = part, True
            elif part.endswith("Handler:") or part.endswith("block:") and name in ESCAPING_CALLS:
                child.escaping = True
            return
        if name in DISPATCH_CALLS:
            child.kind = "dispatch"
            child.dispatch = name
            child.queue = call.args[0].replace(" ", "") if call.args else ""
            child.escaping = "async" in name or name in ("dispatch_after", "dispatch_group_notify")
        elif name in HANDLER_NAMES:
            child.handler, child.escaping = name + ":", True
        elif name in ESCAPING_CALLS:
            child.escaping = True

    def class_keyword(self, h: int, i: int) -> tuple[int, str] | None:
        """(index, keyword) of class/struct/union/enum heading the braces, if it is a type definition.

        Only top-level tokens of the head count (`void f(struct X* x) {` is a function); after the
        keyword a '(' outside template arguments and attributes, or an '=', means it is not one.
        """
        texts, kinds, match = self.texts, self.kinds, self.match
        j = h
        while j < i:
            t = texts[j]
            if t in ENUM_MACROS:
                return j, "enum"
            if t in ("class", "struct", "union", "enum") and kinds[j] == IDENT:
                return (j, t) if self._type_head(j + 1, i) else None
            if t in ("(", "[") and match[j] > j:
                j = match[j] + 1
                continue
            if t == "template" and j + 1 < i and texts[j + 1] == "<":
                j = self._skip_angles(j + 1, i)      # template <typename T = void>
                continue
            if t == "=":
                return None
            j += 1
        return None

    def _type_head(self, a: int, b: int) -> bool:
        """Whether [a, b) after a class keyword names a type: no call parentheses, no '='."""
        texts, match = self.texts, self.match
        depth = 0
        j = a
        while j < b:
            t = texts[j]
            if t == "<":
                depth += 1
            elif t == ">":
                depth = max(0, depth - 1)
            elif t == "=" and depth == 0:
                return False
            elif t in ("(", "[") and match[j] > j:
                if t == "(" and depth == 0 and texts[j - 1] not in ATTRIBUTES and not texts[j - 1].isupper():
                    return False
                j = match[j] + 1
                continue
            j += 1
        return True

    def class_name(self, a: int, b: int) -> str:
        """The class name in `struct ATTR Name<...> final : Base` (tokens [a, b))."""
        texts, kinds, match = self.texts, self.kinds, self.match
        name = ""
        i = a
        while i < b:
            t = texts[i]
            if t == ":" and (i + 1 >= b or texts[i + 1] != ":"):
                break
            if t in ("(", "[") and match[i] > i:
                i = match[i] + 1
                continue
            if t == "<":
                i = self._skip_angles(i, b)
                continue
            if kinds[i] == IDENT and t not in ("final", "alignas", "__attribute__", "__declspec"):
                if i > a and texts[i - 1] == "::" and name:
                    name = f"{name}::{t}"
                else:
                    name = t
            i += 1
        return name

    def function_name(self, h: int, i: int) -> tuple[str, int] | None:
        """(name, index of the parameter list's ')') when [h, i) is a function definition head."""
        texts, kinds, match = self.texts, self.kinds, self.match
        if self._initializer_head(h, i):
            return None
        j = h
        while j < i:
            t = texts[j]
            if t == "template" and j + 1 < i and texts[j + 1] == "<":
                j = self._skip_angles(j + 1, i)      # template <int N = 1>
                continue
            if t == "[" and match[j] > j:            # [[attributes]], array bounds
                j = match[j] + 1
                continue
            if t == "(" and match[j] > j:
                p = j - 1
                close = match[j]
                if p < h:
                    return None
                pt = texts[p]
                if pt == "operator" and texts[j + 1] == ")" and close + 1 < i and texts[close + 1] == "(":
                    return self.qualified_before(p, h) + "()", match[close + 1]    # operator()(...)
                if kinds[p] == IDENT and p - 1 >= h and texts[p - 1] == "operator":   # operator bool()
                    return self.qualified_before(p - 1, h) + " " + pt, close
                if kinds[p] == IDENT and pt not in CONTROL and pt not in EXPR_KEYWORDS:
                    nxt = close + 1
                    # MACRO(name)(params) {  e.g. TORCH_IMPL_FUNC(add_out_mps)(...)
                    if nxt < i and texts[nxt] == "(" and pt.isupper():
                        inner = [texts[m] for m in range(j + 1, close) if kinds[m] == IDENT]
                        return (inner[0] if inner else pt), match[nxt]
                    if _ANNOTATION.match(pt) and pt.isupper() and nxt < i and "(" in texts[nxt:i]:
                        j = close + 1
                        continue   # attribute-like macro before the real declarator
                    return self.qualified_before(p, h), close
                window = texts[max(h, p - 3):p + 1]
                if "operator" in window:     # operator==(...), operator()(...)
                    op = texts.index("operator", max(h, p - 3), p + 1)
                    return self.qualified_before(op, h) + "".join(texts[op + 1:j]), close
                return None
            j += 1
        return None

    def _initializer_head(self, h: int, i: int) -> bool:
        """Whether [h, i) has a top-level '=' (not in groups, template parameters or `operator=`)."""
        texts, match = self.texts, self.match
        j = h
        while j < i:
            t = texts[j]
            if t in ("(", "[") and match[j] > j:
                j = match[j] + 1
                continue
            if t == "template" and j + 1 < i and texts[j + 1] == "<":
                j = self._skip_angles(j + 1, i)
                continue
            if t == "=" and not (j > h and texts[j - 1] == "operator"):
                return True
            j += 1
        return False

    def _skip_angles(self, a: int, b: int) -> int:
        """Index after the '>' matching the '<' at a (b if unmatched)."""
        texts, depth, j = self.texts, 0, a
        while j < b:
            depth += texts[j] == "<"
            depth -= texts[j] == ">"
            j += 1
            if depth <= 0:
                break
        return j

    def _name_index(self, h: int, params_close: int) -> int:
        """Index of the identifier before the parameter list closed at params_close."""
        open_ = self.match[params_close]
        return max(h, open_ - 1)

    def qualified_before(self, p: int, h: int) -> str:
        """`A::B::name` / `~Name` ending at token p."""
        texts = self.texts
        parts = [texts[p]]
        q = p - 1
        if q >= h and texts[q] == "~":
            parts[0] = "~" + parts[0]
            q -= 1
        while q - 1 >= h and texts[q] == "::" and self.kinds[q - 1] == IDENT:
            parts.insert(0, texts[q - 1])
            q -= 2
        return "::".join(parts)

    @staticmethod
    def adopt_initializers(parent: Scope, child: Scope, h: int, params_close: int) -> None:
        """Calls seen in a function head: constructor initializers move into the function, others drop."""
        keep = []
        while parent.calls and parent.calls[-1].token >= h:
            call = parent.calls.pop()
            if call.token > params_close:
                call.scope = child
                keep.append(call)
        if keep:
            _listed(child, "calls")[:0] = reversed(keep)

    def is_initializer(self, h: int, i: int) -> bool:
        """Whether the '{' at i (statement head [h, i)) is a braced initializer, not a statement block."""
        texts, kinds = self.texts, self.kinds
        p = i - 1
        pt, pk = texts[p], kinds[p]
        if pt in ("=", "return", "(", ",", "[", "?", ":", "<<", "+", "-", "==", "!=", "&&", "||"):
            return True
        if pk == IDENT and pt not in CONTROL and pt not in ("const", "override", "final", "noexcept",
                                                               "mutable", "try"):
            q = p - 1
            return q >= h and (kinds[q] == IDENT or texts[q] in (">", "*", "&", "::"))
        return pt == ">"

    # ---- parentheses: calls, declarations ------------------------------------------------------

    def paren(self, scope: Scope, i: int, lo: int, ctx: dict | None) -> int:
        """Handle the '(' at i: record a call or a declaration with constructor arguments."""
        texts, kinds, match = self.texts, self.kinds, self.match
        close = match[i]
        p = i - 1
        sub: dict | None = {"group": i}
        if p >= lo:
            pt, pk = texts[p], kinds[p]
            if pt in ATTRIBUTES:
                return close + 1     # __attribute__((guarded_by(m))): annotations, not calls
            if pk == IDENT and pt not in CONTROL and pt not in EXPR_KEYWORDS:
                start = self.chain_start(p, lo)
                before = start - 1
                bt = texts[before] if before >= lo else ""
                bk = kinds[before] if before >= lo else ""
                is_decl = (bk == IDENT and bt not in EXPR_KEYWORDS and bt not in CONTROL) or \
                          (bt == ">" and start == p) or (bt in ("*", "&") and before - 1 >= lo and
                                                          kinds[before - 1] == IDENT and
                                                          texts[before - 1] in ("const", "auto"))
                if ctx is None and scope.kind == "class" and self._member_function_declaration(scope, p, start, lo):
                    sub = {"decl": "", "group": i}      # `void bump();`, `T* get() const;`, `void f() ACQUIRE(mu);`
                elif is_decl and start == p:
                    if ctx is None:
                        self.guard_declaration(scope, self.head_start(p, lo), p, i)
                    sub = {"decl": self.decl_type(self.head_start(p, lo), p), "group": i}
                else:
                    call = self.make_call(scope, start, p, i)
                    sub = {"call": call, "group": i}
            elif pt == ">" and p - 1 >= lo:
                q = self.template_open(p, lo)
                if q is not None and q - 1 >= lo and kinds[q - 1] == IDENT and texts[q - 1] not in CONTROL:
                    start = self.chain_start(q - 1, lo)
                    call = self.make_call(scope, start, q - 1, i)
                    sub = {"call": call, "group": i}
        self.scan(scope, i + 1, close, sub)
        return close + 1

    def _member_function_declaration(self, scope: Scope, p: int, start: int, lo: int) -> bool:
        """Whether `name(` at p in a class body declares a member function (or annotates one), not a call.

        A call there is a statement-level macro (`C10_DISABLE_COPY(X);`) or part of an initializer
        (`int x = f();`); a declaration follows a type (`void`, `T*`, `A<B>&`), a '~', or the parameters
        it annotates (`void lock() ACQUIRE(mu);`), or is a constructor (`Name(args);`)."""
        texts, kinds = self.texts, self.kinds
        h = self.head_start(p, lo)
        if self._initializer_head(h, p):
            return False
        before = start - 1
        if before < h:
            return start == p and texts[p] == scope.name.rsplit("::", 1)[-1]
        bt = texts[before]
        return (kinds[before] == IDENT and bt not in EXPR_KEYWORDS and bt not in CONTROL) or \
            bt in (")", "~", ">", "*", "&", "&&")

    def chain_start(self, p: int, lo: int) -> int:
        """Start of the postfix expression whose last identifier is at p (a::b, x.y, p->q, f().g).

        At most MAX_CHAIN links back: every call of `a->b()->b()…` walks its chain, and each call's
        callee text is the chain, so unbounded chains cost quadratic time and memory."""
        texts, kinds, match = self.texts, self.kinds, self.match
        j = p
        links = 0
        while j - 1 >= lo and links < MAX_CHAIN:
            links += 1
            t = texts[j - 1]
            if t in ("::", ".", "->") and j - 2 >= lo:
                q = j - 2
                qt = texts[q]
                if kinds[q] == IDENT and qt not in EXPR_KEYWORDS and qt not in CONTROL:
                    j = q
                    continue
                if qt in (")", "]") and 0 <= match[q] < q and match[q] >= lo:
                    o = match[q]
                    if qt == ")" and o - 1 >= lo and kinds[o - 1] == IDENT and texts[o - 1] not in CONTROL:
                        j = o - 1
                        continue
                    if qt == "]" and o - 1 >= lo and kinds[o - 1] == IDENT:
                        j = o - 1      # subscript a[i].f
                        continue
                    j = o
                    break
                if qt == ">":
                    o = self.template_open(q, lo)
                    if o is not None and o - 1 >= lo and kinds[o - 1] == IDENT:
                        j = o - 1
                        continue
                break
            if t == "::" and j - 1 == lo:
                j -= 1
            break
        return j

    def template_open(self, p: int, lo: int) -> int | None:
        """Index of the '<' matching the '>' at p (None when it does not look like template args)."""
        texts = self.texts
        depth, q = 0, p
        while q >= lo and q >= p - 40:
            t = texts[q]
            if t == ">":
                depth += 1
            elif t == "<":
                depth -= 1
                if depth == 0:
                    return q
            elif t in (";", "{", "}", "&&", "||"):
                return None
            q -= 1
        return None

    def make_call(self, scope: Scope, start: int, p: int, open_: int) -> Call:
        """A C++ call whose callee spans [start, p] and whose arguments are the group at open_."""
        callee = self.text(start, p + 1)
        receiver = ""
        texts = self.texts
        for q in range(p - 1, start - 1, -1):
            if texts[q] in (".", "->"):
                receiver = self.text(start, q)
                break
        close = self.match[open_]
        args = [self.text(a, b) for a, b in self.split_args(open_ + 1, close)]
        tok = self.toks[start]
        call = shared_call(texts[p], callee, receiver, args, tok.line, tok.col, token=start, scope=scope)
        _listed(scope, "calls").append(call)
        self.lock_call(scope, call, open_)
        return call

    def decl_type(self, h: int, p: int) -> str:
        """Declared type of `Type var(` (head [h, p))."""
        return join_tokens([t for t in self.texts[h:p] if t not in DECL_SPECIFIERS])

    # ---- brackets: lambdas (handled at '{'), ObjC messages, subscripts -------------------------

    def bracket(self, scope: Scope, i: int, lo: int, ctx: dict | None) -> int:
        """Handle the '[' at i: an ObjC message send is recorded as a call."""
        texts, kinds = self.texts, self.kinds
        close = self.match[i]
        p = i - 1
        sub: dict | None = {"group": i}
        expr_start = p < lo or not ((kinds[p] in (IDENT, NUMBER, STRING) and texts[p] not in EXPR_KEYWORDS)
                                    or texts[p] in (")", "]"))
        if expr_start and not (close + 1 < self.n and texts[close + 1] in ("(", "{")):
            msg = self.objc_message(scope, i, close)
            if msg is not None:
                sub = msg
        self.scan(scope, i + 1, close, sub)
        return close + 1

    def objc_message(self, scope: Scope, i: int, close: int) -> dict | None:
        """`[receiver sel:arg sel2:arg]` -> call context with selector parts and their arg ranges."""
        texts, kinds, match = self.texts, self.kinds, self.match
        j = i + 1
        # receiver: one postfix expression; it ends where an identifier directly follows it
        prev_primary = False
        while j < close:
            t, k = texts[j], kinds[j]
            if prev_primary and k == IDENT:
                break
            if t in OPENERS and match[j] > j:
                j = match[j] + 1
                prev_primary = True
                continue
            prev_primary = k in WORDS or t in (")", "]")
            if k == PUNCT and t not in (".", "->", "::", "*", "&", "!"):
                prev_primary = False
            if t in (".", "->", "::"):
                prev_primary = False
            j += 1
        if j >= close or j == i + 1:
            return None
        receiver = self.text(i + 1, j)
        parts: list[tuple[str, int, int]] = []
        args: list[str] = []
        sel_start = j
        if j + 1 < close and texts[j + 1] == ":":
            q = j
            while q < close:
                name = texts[q] + ":" if kinds[q] == IDENT else ":"
                a = q + 2 if kinds[q] == IDENT else q + 1
                b = a
                pending = 0      # open `?` of a conditional expression: its ':' is not a selector
                while b < close:
                    t = texts[b]
                    if t in OPENERS and match[b] > b:
                        b = min(match[b] + 1, close)    # an unclosed group ends at the message's end
                        continue
                    if t == "?":
                        pending += 1
                    elif t == ":":
                        if not pending and b > a:
                            break        # an anonymous selector part `:arg`
                        pending = max(0, pending - 1)
                    elif kinds[b] == IDENT and b > a and not pending and b + 1 < close and texts[b + 1] == ":":
                        break            # the next selector part `name:`
                    b += 1
                parts.append((name, a, b))
                args.append(self.text(a, b))
                q = b
            selector = "".join(p for p, _, _ in parts)
        elif j + 1 == close or texts[j + 1] == ",":
            selector = texts[j]
        else:
            return None
        tok = self.toks[i]
        call = shared_call(texts[sel_start], f"{receiver}.{texts[sel_start]}", receiver, args, tok.line, tok.col,
                           objc=True, selector=selector, token=i, scope=scope)
        _listed(scope, "calls").append(call)
        return {"call": call, "parts": parts, "group": i}

    # ---- ObjC containers -----------------------------------------------------------------------

    def objc_container(self, scope: Scope, i: int, end: int) -> int | None:
        """@interface/@implementation/@protocol Name ... @end -> a class scope; returns the next index."""
        texts, kinds, match = self.texts, self.kinds, self.match
        j = i + 1
        if j >= end or kinds[j] != IDENT:
            return None
        if texts[i] == "@protocol" and j + 1 < end and texts[j + 1] in (";", ","):
            return None
        name = texts[j]
        j += 1
        if j < end and texts[j] == "(" and match[j] > j:
            j = match[j] + 1
        if j + 1 < end and texts[j] == ":" and kinds[j + 1] == IDENT:
            j += 2
        if j < end and texts[j] == "<":
            while j < end and texts[j] != ">":
                j += 1
            j += 1
        stop = j
        while stop < end and texts[stop] != "@end":
            if texts[stop] == "{" and match[stop] > stop:
                stop = match[stop] + 1
                continue
            stop += 1
        if stop >= end:
            self._diag(i, f"{texts[i]} {name} without @end")
        tok = self.toks[i]
        # ObjC classes live outside C++ namespaces: the plain class name
        child = Scope("class", name, tok.line, tok.col, self.line_of(min(stop, end)), scope,
                      first_token=j, last_token=min(stop, end), objc=True)
        _listed(scope, "children").append(child)
        self.scan(child, j, min(stop, end), None)
        return min(stop + 1, end)

    def objc_method_name(self, scope: Scope, h: int, i: int) -> str:
        """`-[Class sel:part:]` for the ObjC method head [h, i)."""
        texts, kinds, match = self.texts, self.kinds, self.match
        j = h + 1
        if j < i and texts[j] == "(" and match[j] > j:
            j = match[j] + 1
        parts: list[str] = []
        while j < i:
            if kinds[j] == IDENT and j + 1 < i and texts[j + 1] == ":":
                parts.append(texts[j] + ":")
                j += 2
                if j < i and texts[j] == "(" and match[j] > j:
                    j = match[j] + 1
                j += 1   # the parameter name
                continue
            if kinds[j] == IDENT and not parts:
                parts.append(texts[j])
                break
            j += 1
        return f"{texts[h]}[{scope.name} {''.join(parts)}]"

    # ---- locks ---------------------------------------------------------------------------------

    def guard_declaration(self, scope: Scope, h: int, var: int, open_: int) -> None:
        """`std::lock_guard<M> g(m)` / `std::unique_lock g{m}` / `std::scoped_lock g(a, b)`."""
        texts = self.texts
        kind = next((LOCK_TYPES[texts[j]] for j in range(h, var) if texts[j] in LOCK_TYPES), None)
        if kind is None and not (GUARD_TYPE.search(self._type_name(h, var)) and
                                 scope.enclosing(*CODE_KINDS, "class", "namespace", "file").kind in CODE_KINDS):
            return
        args = self.split_args(open_ + 1, self.match[open_])
        if not args:
            return
        exprs = [self.compact(a, b) for a, b in args]
        if kind is None:     # `MutexLock l(&mu_);`: a lock only when built from a mutex (not DeviceGuard g(d))
            lock = exprs[0].lstrip("&*")
            if not LOCKISH.search(re.split(r"->|\.", lock)[-1]):
                return
            kind, exprs = "guard", [lock]
        deferred = any(e.endswith("defer_lock") for e in exprs[1:])   # locked later by g.lock()
        exprs = [e for e in exprs if not e.endswith("adopt_lock")] if kind == "scoped_lock" else exprs[:1]
        guard = _Guard(scope, texts[var], kind, tuple(exprs), self.toks[var].line)
        self.guard_decls.append(guard)
        if not deferred:
            tok = self.toks[var]
            for expr in exprs:
                self._hold(scope, guard, expr, tok.line, tok.col)

    def _type_name(self, h: int, var: int) -> str:
        """The last identifier of the declared type in [h, var), outside template arguments."""
        texts, kinds = self.texts, self.kinds
        depth, name = 0, ""
        for j in range(h, var):
            t = texts[j]
            depth += (t == "<") - (t == ">")
            if depth == 0 and kinds[j] == IDENT:
                name = t
        return name

    def _hold(self, scope: Scope, guard: "_Guard", lock: str, line: int, col: int) -> None:
        """A region of `guard`'s lock from `line` to the end of the guard's scope (until g.unlock())."""
        region = LockRegion(lock, guard.kind, line, col, guard.scope.end_line, var=guard.var,
                            shared=guard.kind == "shared_lock")
        _listed(scope, "locks").append(region)
        guard.regions.append(region)

    def lock_call(self, scope: Scope, call: Call, open_: int) -> None:
        """call_once regions; lock()/unlock() are paired afterwards (pair_manual_locks)."""
        if call.name in ONCE_CALLS and call.args:
            close = self.match[open_]
            _listed(scope, "locks").append(LockRegion(call.args[0].replace(" ", "").lstrip("&"), "call_once",
                                                      call.line, call.col, self.line_of(close)))

    def pair_manual_locks(self, root: Scope) -> None:
        """Pair m.lock()/m.unlock() (and g.unlock()/g.lock() of guards) along each function body."""
        for owner in root.walk():
            if owner.kind in CODE_KINDS:
                self._pair_in(owner)

    def _pair_in(self, owner: Scope) -> None:
        """Lock/unlock calls of one function, block or lambda body (nested statements included), in order.

        A manual lock() is held until the first matching unlock() at the same or a shallower nesting
        level (`if (c) { m.lock(); } ... if (c) { m.unlock(); }`), else until the first unlock() in
        a nested statement (an early-return path), else to the end of the body (released_by 'none'). The
        region belongs to the innermost scope enclosing both calls, so `held_locks` sees it in between.
        """
        events: list[tuple[int, Scope, Call, int]] = []
        stack = [(owner, 0)]
        while stack:
            s, depth = stack.pop()
            events.extend((c.token, s, c, depth) for c in s.calls if not c.objc)
            stack.extend((ch, depth + 1) for ch in s.children if ch.kind == "compound")
        events.sort(key=lambda e: e[0])
        manual: list[tuple[str, bool, Scope, Call, int]] = []
        for _, s, c, depth in events:
            if c.name in MANUAL_LOCK and c.receiver and not c.args:
                acquire, target = MANUAL_LOCK[c.name], c.receiver
            elif c.name in PTHREAD_LOCK and c.args:
                acquire, target = PTHREAD_LOCK[c.name], c.args[0].replace(" ", "").lstrip("&")
            else:
                continue
            guard = next((g for g in reversed(self.guard_decls)
                          if g.var == target and g.line <= c.line and self._within(g.scope, s)), None)
            if guard is None:
                manual.append((target, acquire, s, c, depth))
            elif acquire:                  # g.lock() / g.unlock() on a unique_lock
                for expr in guard.locks:
                    self._hold(s, guard, expr, c.line, c.col)
            else:
                for r in guard.regions:
                    if r.released_by == "scope" and r.line <= c.line <= r.end_line:
                        r.end_line, r.released_by = c.line, "unlock"
        # per target, the open lock() calls: [scope, call, depth, first deeper unlock (scope, call) or None]
        open_: dict[str, list[list]] = {}
        for target, acquire, s, c, depth in manual:
            stack = open_.setdefault(target, [])
            if acquire:
                stack.append([s, c, depth, None])
            elif stack:
                if depth <= stack[-1][2]:
                    ls, lc, _, _ = stack.pop()
                    self._manual_region(owner, lc, ls, (s, c))
                elif stack[-1][3] is None:
                    stack[-1][3] = (s, c)
        for stack in open_.values():
            for ls, lc, _, deeper in stack:
                self._manual_region(owner, lc, ls, deeper)

    def _manual_region(self, owner: Scope, lock: Call, scope: Scope, unlock: tuple[Scope, Call] | None) -> None:
        """The region of a manual lock() call, ended by `unlock` (scope, call) or by the end of `owner`."""
        target = lock.receiver if lock.name in MANUAL_LOCK else lock.args[0].replace(" ", "").lstrip("&")
        region = LockRegion(target, "manual", lock.line, lock.col, owner.end_line, released_by="none",
                            shared=lock.name == "lock_shared")
        if unlock is not None:
            region.end_line, region.released_by = unlock[1].line, "unlock"
            scope = self._common(scope, unlock[0])
        elif scope is not owner and scope.kind == "compound" and self._returns_after(scope, lock.token):
            region.end_line = scope.end_line      # `if (!s) { m.lock(); return; }`: that path ends here
        else:
            scope = owner      # never released here: held after the statement that took it
        _listed(scope, "locks").append(region)

    def _returns_after(self, scope: Scope, token: int) -> bool:
        """Whether `scope`'s own statements (not nested ones) return or throw after `token`."""
        texts, match = self.texts, self.match
        i = token
        while i < scope.last_token:
            if texts[i] in ("return", "throw"):
                return True
            i = match[i] + 1 if texts[i] in OPENERS and match[i] > i else i + 1
        return False

    @staticmethod
    def _common(a: Scope, b: Scope) -> Scope:
        """The innermost scope enclosing both a and b."""
        outer = {id(x) for x in (a, *a.ancestors())}
        return next(x for x in (b, *b.ancestors()) if id(x) in outer)

    @staticmethod
    def _within(outer: Scope, inner: Scope) -> bool:
        node: Scope | None = inner
        while node is not None:
            if node is outer:
                return True
            node = node.parent
        return False


def _listed(scope: Scope, name: str) -> list:
    """scope.<name> (children, calls, locks) as a list to add to: a new Scope shares one empty tuple."""
    items = getattr(scope, name)
    if items.__class__ is not list:
        items = list(items)
        setattr(scope, name, items)
    return items


def decode(data: bytes, path: str) -> tuple[str, list[Diagnostic]]:
    """UTF-8 with replacement; an `encoding` diagnostic when bytes had to be replaced."""
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return data.decode("utf-8", errors="replace"), [
            Diagnostic(path, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); decoded with replacement",
                       "encoding")]


def _condensed(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Identical messages once, at their first line, with how often they occurred."""
    counts: dict[str, int] = {}
    for d in diagnostics:
        counts[d.message] = counts.get(d.message, 0) + 1
    firsts = {}
    for d in diagnostics:
        firsts.setdefault(d.message, d)
    return [d if counts[m] == 1 else Diagnostic(d.path, d.line, f"{m} ({counts[m]} times, first here)", d.kind)
            for m, d in firsts.items()]


def parse_text(text: str, rel: str) -> FileModel:
    """The code model of source text (already decoded)."""
    tokens, comments, issues = lex(text)
    builder = _Builder(rel, tokens)
    root = builder.build()
    diagnostics = [Diagnostic(rel, issue.line, issue.message, "preprocessor") for issue in issues]
    found = _condensed(sorted(builder.diagnostics, key=lambda d: d.line))
    if len(found) > MAX_DIAGNOSTICS:      # garbage input: a few examples and a count, not thousands
        more = Diagnostic(rel, found[MAX_DIAGNOSTICS].line, f"{len(found) - MAX_DIAGNOSTICS} more parse problems "
                                                             "not shown", "parse")
        found = [*found[:MAX_DIAGNOSTICS], more]
    diagnostics += found
    model = FileModel(rel, tokens, comments, root, builder.members, diagnostics)
    blockvars.resolve(model)
    _frozen(root)
    return model


def _frozen(root: Scope) -> None:
    """A finished model's lists (each scope's children, calls and lock regions) as tuples: nothing changes a
    model once parsed, and a tuple is 16 bytes smaller than a list and has no spare room (an empty one is the
    one empty tuple; at 5 MB of source the lists took 0.6 MiB more)."""
    for s in root.walk():
        s.children, s.calls, s.locks = tuple(s.children), tuple(s.calls), tuple(s.locks)


def parse_file(path: Path, rel: str, data: bytes | None = None) -> FileModel:
    """Parse one C++/ObjC++ file (read from `path` unless `data` is given) into a FileModel."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            root = Scope("file", "", 1, 1, 1)
            return FileModel(rel, [], [], root, diagnostics=[Diagnostic(rel, 1, f"cannot read: {exc.strerror}", "io")])
    text, diagnostics = decode(data, rel)
    model = parse_text(text, rel)
    model.diagnostics[:0] = diagnostics
    return model
