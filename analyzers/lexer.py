"""Tokenizer for C++/ObjC++: one scanner compiled from the terminals of analyzers/grammar.lark.

Lark (LALR, contextual lexer) reads and validates the grammar once (its cache keeps start-up
small); the terminals, in Lark's own priority order, become a single `re` alternation run with
`finditer`. Measured on the 2.6.0 MPS tree (1.27 MB, 98 files): Lark's own lexer loop takes
~1.6 s, this scanner ~0.5 s for the same tokens (the island grammar accepts every terminal in every
parser state, so the contextual lexer has nothing to add). Preprocessor conditionals are applied
in the same pass: the first live branch of each #if chain is kept, `#if 0` branches are dropped.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from analyzers.cache import cache_root, mark_used, parser_version
from analyzers.model import ATKW, CHAR, COMMENT, IDENT, NUMBER, PREPROC, PUNCT, STRING, Token, Tokens

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")
# The scanner's text as Lark gives it for the grammar, shipped with it: a run with an empty cache would
# otherwise build Lark's parser only to list the terminals (0.14-0.17 s). Its first line names the grammar's
# hash; `python -m checks.scanner` writes it again and a test says when it is stale.
SHIPPED_SCANNER = GRAMMAR_PATH.with_name("grammar.scanner")
SHIPPED_HEAD = "# the scanner of grammar.lark {hash}, written by python -m checks.scanner\n"
# Lark terminal -> model token kind.
KINDS = {"IDENT": IDENT, "NUMBER": NUMBER, "STRING": STRING, "RAWSTRING": STRING, "CHAR": CHAR, "ATKW": ATKW,
         "PREPROC": PREPROC, "LINE_COMMENT": COMMENT, "BLOCK_COMMENT": COMMENT, "LBRACE": PUNCT, "RBRACE": PUNCT,
         "LPAR": PUNCT, "RPAR": PUNCT, "LSQB": PUNCT, "RSQB": PUNCT, "PUNCT": PUNCT, "OTHER": PUNCT,
         "rawdelim": STRING}
# Terminals that never span lines and are code: the scanner's fast path.
SINGLE_LINE_CODE = {name: KINDS[name] for name in ("IDENT", "PUNCT", "LBRACE", "RBRACE", "LPAR", "RPAR", "LSQB",
                                                   "RSQB", "NUMBER", "ATKW", "OTHER")}
_DIRECTIVE = re.compile(r"#\s*(\w*)\s*(.*)", re.S)
_ZERO = re.compile(r"(?:0|false)\s*(?://.*|/\*.*)?|0\s*&&.*", re.S)


class PreprocIssue(NamedTuple):
    """An unbalanced #else/#elif/#endif or an unterminated #if."""

    line: int
    message: str


class Lexed(NamedTuple):
    """What the lexer gives the parser."""

    tokens: Tokens               # code and preprocessor tokens of the kept branches
    comments: list[Token]        # comments of the kept branches
    issues: list[PreprocIssue]


def grammar_hash() -> str:
    """Hash of the grammar text (part of the parse-cache key)."""
    return hashlib.sha256(GRAMMAR_PATH.read_bytes()).hexdigest()[:16]


def _lark_terminals() -> list:
    from lark import Lark

    text = GRAMMAR_PATH.read_text(encoding="utf-8")
    cache: bool | str = True
    try:
        folder = cache_root()
        folder.mkdir(parents=True, exist_ok=True)
        cache = str(folder / f"grammar-{grammar_hash()}.lark-cache")
    except OSError:
        pass   # read-only checkout: Lark's default temp-dir cache
    parser = Lark(text, parser="lalr", lexer="contextual", cache=cache, maybe_placeholders=False)
    terminals = list(parser.terminals)
    # The order Lark's BasicLexer tries them in (first match wins, as in Lark).
    terminals.sort(key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name))
    return terminals


@lru_cache(maxsize=1)
def scanner() -> re.Pattern[str]:
    """The compiled alternation of all grammar terminals, one named group per terminal, each match taking the
    spaces and tabs after it: half the matches of code are blanks between tokens on one line, and a match
    costs a turn of lex's loop (the token is its group; its start is the match's)."""
    return re.compile(f"(?:{_scanner_text()})[ \\t]*")


@lru_cache(maxsize=1)
def _by_group() -> tuple[list[str | None], list[str | None]]:
    """Per group number of the scanner: the terminal's name, and its token kind when it is a one-line code token."""
    names: list[str | None] = [None] * (scanner().groups + 1)
    for name, number in scanner().groupindex.items():
        names[number] = name
    return names, [SINGLE_LINE_CODE.get(name) if name else None for name in names]


def lark_scanner_text() -> str:
    """The alternation of the grammar's terminals, as Lark orders them (made with Lark)."""
    return "|".join(f"(?P<{t.name}>{t.pattern.to_regexp()})" for t in _lark_terminals())


def shipped_scanner() -> str | None:
    """The shipped scanner text when it was written for this grammar, else None."""
    try:
        head, _, text = SHIPPED_SCANNER.read_text(encoding="utf-8").partition("\n")
    except OSError:
        return None
    return text.rstrip("\n") if head + "\n" == SHIPPED_HEAD.format(hash=grammar_hash()) else None


def _scanner_text() -> str:
    """The alternation's text: shipped with the grammar, else kept in the cache folder by the parser's
    version (grammar and lexer), else made with Lark, whose import and reading of the grammar were ~35 ms
    of every run that parses a file (a run with an empty cache: 0.14-0.17 s)."""
    shipped = shipped_scanner()
    if shipped is not None:
        return shipped
    kept = cache_root() / f"scanner-{parser_version()}.txt"
    try:
        with open(kept, encoding="utf-8") as fh:
            text = fh.read()
            mark_used(kept, fh)
        return text
    except OSError:
        pass
    text = lark_scanner_text()
    try:
        fresh = kept.with_suffix(f".{os.getpid()}.tmp")
        fresh.write_text(text, encoding="utf-8")
        fresh.replace(kept)           # whole or not at all, for a concurrent run
    except OSError:
        pass    # read-only: made again next time
    return text


def _is_zero(expr: str) -> bool:
    return bool(_ZERO.fullmatch(expr.strip()))


class _Conditionals:
    """#if / #elif / #else / #endif state: which branch is live, what is unbalanced."""

    def __init__(self) -> None:
        self.stack: list[list] = []     # per open #if: [parent active, a branch was taken, line]
        self.active = True
        self.issues: list[PreprocIssue] = []

    def directive(self, text: str, line: int) -> bool:
        """Update the state for one preprocessor line; whether the line itself is kept."""
        d = _DIRECTIVE.match(text)
        name = d.group(1) if d else ""
        if name in ("if", "ifdef", "ifndef"):
            kept = self.active
            live = kept and not (name == "if" and _is_zero(d.group(2)))
            self.stack.append([kept, live, line])
            self.active = live
            return kept
        if name in ("elif", "else", "endif", "elifdef", "elifndef"):
            if not self.stack:
                self.issues.append(PreprocIssue(line, f"#{name} without #if"))
                return False
            state = self.stack[-1]
            if name == "endif":
                self.stack.pop()
                self.active = state[0]
            else:
                self.active = state[0] and not state[1] and not (name == "elif" and _is_zero(d.group(2)))
                state[1] = state[1] or self.active
            return state[0]
        return self.active

    def finish(self) -> list[PreprocIssue]:
        """Issues, including every #if left open at the end of the file."""
        return self.issues + [PreprocIssue(state[2], "#if without #endif") for state in self.stack]


def lex(text: str) -> Lexed:
    """Tokens and comments of `text`, with the preprocessor branches not kept removed."""
    tokens = Tokens()
    comments: list[Token] = []
    cond = _Conditionals()
    active = True
    line, line_start = 1, 0
    terminal, simple = _by_group()
    kind_of, new = KINDS, tuple.__new__
    # Columns appended directly; texts interned for the process, so a name is one string in every file's model.
    add_kind, add_text, add_line, add_col = tokens.kinds.append, tokens.texts.append, tokens.lines.append, \
        tokens.cols.append
    share = sys.intern
    for m in scanner().finditer(text):
        group = m.lastindex
        k = simple[group]
        if k is not None:          # the common case: one-line code tokens
            if active:
                value = m[group]
                add_kind(k)
                add_text(share(value))
                add_line(line)
                add_col(m.start() - line_start + 1)
            continue
        kind = terminal[group]
        value = m[group]
        start = m.start()
        if kind == "PREPROC":
            if cond.directive(value, line):
                tokens.append(Token(PREPROC, value, line, start - line_start + 1))
            active = cond.active
        elif kind != "WS" and active:
            k = kind_of[kind]
            if k == COMMENT:
                comments.append(new(Token, (k, value, line, start - line_start + 1)))
            else:
                tokens.append(Token(k, share(value), line, start - line_start + 1))
        if "\n" in value:
            line += value.count("\n")
            line_start = start + value.rindex("\n") + 1
    return Lexed(tokens.compact(), comments, cond.finish())
