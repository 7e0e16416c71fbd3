"""`python -m checks.scanner`: write analyzers/grammar.scanner (the lexer's scanner made from grammar.lark
by Lark), or (--check) say whether it is stale.

Regenerate after changing the grammar; the tests fail while the shipped text is stale. A stale or missing
file only costs time: the lexer then makes the text with Lark and keeps it in the cache folder.
"""

from __future__ import annotations

from analyzers import lexer
from checks import cli


def expected() -> str:
    """The shipped file's text for the grammar as it is."""
    return lexer.SHIPPED_HEAD.format(hash=lexer.grammar_hash()) + lexer.lark_scanner_text() + "\n"


def main(argv: list[str]) -> int:
    """Write the shipped scanner, or with --check exit 1 when it is missing or stale."""
    p = cli.parser("python -m checks.scanner", "Write analyzers/grammar.scanner from analyzers/grammar.lark.")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when the file is missing or stale")
    args = p.parse_args(argv)
    text, path = expected(), lexer.SHIPPED_SCANNER
    try:
        fresh = path.read_text(encoding="utf-8") == text
    except OSError:
        fresh = False
    if args.check:
        print(f"{path.name}: " + ("up to date" if fresh else "stale (run `make scanner`)"))
        return int(cli.Exit.CLEAN if fresh else cli.Exit.FINDINGS)
    cli.emit(text, path)
    print(f"{path.name}: written")
    return int(cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
