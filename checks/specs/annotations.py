"""Apalache type annotations in TLA+ specs: every CONSTANT and VARIABLE typed, every annotation parses.

`python -m checks.specs.annotations [PATHS...]` (default: specs/). Apalache refuses a spec whose
constants or variables lack an `@type:` annotation between the keyword and the name, and ignores
annotations it cannot parse; this check finds both without Apalache, with the type grammar of
Apalache's Type System 1/1.2 (annotations.lark). Modules with CONSTANTS must also define the operator
that `--cinit` names (ConstInit, or what the manifest names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from analyzers.findings import Check, Finding, Report
from analyzers.reporters import render
from checks import cli, provenance
from checks.sources import REPO_ROOT
from checks.specs.manifest import load_manifest

PROG = "python -m checks.specs.annotations"
DEFAULT_CINIT = "ConstInit"
DECL_KEYWORDS = {"CONSTANT": "CONSTANT", "CONSTANTS": "CONSTANT", "VARIABLE": "VARIABLE", "VARIABLES": "VARIABLE"}
UNINTERPRETED = re.compile(r"[A-Z_][A-Z0-9_]*")

CHECKS = [
    Check("APA.001", "every CONSTANT and VARIABLE has an @type annotation", "error",
          "Apalache stops with 'Expected a type annotation' for an untyped constant or variable.",
          "write `\\* @type: T;` on the line between the keyword (or the comma) and the name"),
    Check("APA.002", "every @type / @typeAlias annotation parses", "error",
          "Apalache ignores (or rejects) an annotation it cannot parse.",
          "fix the type: Int Bool Str, UPPER_CASE uninterpreted types, Set(T) Seq(T) T1 -> T2 "
          "<<T1, T2>> {f: T} (T1, T2) => T, and end it with ';'"),
    Check("APA.003", "a module with CONSTANTS defines its --cinit operator", "error",
          "Apalache has no values for constants unless --cinit (or a TLC cfg it understands) sets them.",
          "define ConstInit == /\\ C1 = ... or name another operator as cinit in specs/manifest.yaml"),
]


class TypeSyntaxError(ValueError):
    """A type annotation that does not parse; `offset` is the character offset in the annotation text."""

    def __init__(self, message: str, offset: int = 0):
        super().__init__(message)
        self.offset = offset


@cache
def _parser() -> Lark:
    grammar = (Path(__file__).with_name("annotations.lark")).read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", start=["annotation", "alias"], maybe_placeholders=False)


def _describe(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedToken):
        return "unexpected end of type" if exc.token.type == "$END" else f"unexpected '{exc.token.value}'"
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    if isinstance(exc, UnexpectedEOF):
        return "unexpected end of type"
    return "syntax error"


def _check_names(tree: Tree) -> None:
    """The rules the grammar cannot say: uninterpreted type names, unique record fields and variant tags."""
    for node in tree.iter_subtrees():
        if node.data == "const":
            name = node.children[0]
            if not UNINTERPRETED.fullmatch(name):
                raise TypeSyntaxError(f"'{name}' is not a type (types: Int Bool Str Real, "
                                      "UPPER_CASE uninterpreted types, one-letter type variables)",
                                      name.start_pos or 0)
        labels: list[Token] = []
        if node.data in ("old_record", "rec_body", "row_body"):
            labels = _field_labels(node)
        elif node.data == "variant":
            labels = [c.children[0] for c in node.children if isinstance(c, Tree) and c.data == "tagged"]
        seen: set[str] = set()
        for label in labels:
            if str(label) in seen:
                raise TypeSyntaxError(f"'{label}' appears twice", label.start_pos or 0)
            seen.add(str(label))


def _field_labels(node: Tree) -> list[Token]:
    """The field names of a record or row node (the row variable excluded)."""
    fields = node.children
    if node.data == "old_record":
        return [f.children[0].children[0] for f in fields]
    return [c.children[0] for c in fields if isinstance(c, Tree) and c.data == "field_name"]


def _parse(text: str, start: str) -> Tree:
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as exc:
        pos = getattr(exc, "pos_in_stream", None)
        if pos is None or pos < 0:
            pos = len(text)
        raise TypeSyntaxError(_describe(exc), pos) from None
    _check_names(tree)
    return tree


def parse_type(text: str) -> Tree:
    """Parse one Apalache type (a trailing ';' is allowed); raise TypeSyntaxError when it does not parse."""
    return _parse(text, "annotation")


def parse_alias(text: str) -> Tree:
    """Parse a `@typeAlias:` body `name = T`; raise TypeSyntaxError when it does not parse."""
    return _parse(text, "alias")


# ---------------------------------------------------------------------------------------------------
# A TLA+ tokenizer just good enough to find declarations, definitions and the comments around them.

@dataclass
class Tok:
    """One TLA+ token; comments keep their body (delimiters stripped) and the line it starts on."""

    kind: str            # ident | punct | string | comment
    text: str
    line: int
    end_line: int
    line_comment: bool = False   # a `\*` comment (consecutive ones merge)


_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f]+|\n)
  | (?P<line_comment>\\\*[^\n]*)
  | (?P<block_comment>\(\*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<module_end>={4,})
  | (?P<dashes>-{4,})
  | (?P<ident>[A-Za-z0-9_]+)
  | (?P<punct>==|<<|>>|\\[A-Za-z]+|.)
""", re.VERBOSE)
_MODULE_START = re.compile(r"-{4,}[ \t]*MODULE[ \t]+[A-Za-z0-9_]+[ \t]*-{4,}")


def tokenize(source: str) -> list[Tok]:
    """Tokens of the first module in `source` (text before its header and after its end is ignored)."""
    header = _MODULE_START.search(source)
    if header is None:
        raise cli.UsageError("no '---- MODULE Name ----' header")
    pos, line, depth = header.start(), source.count("\n", 0, header.start()) + 1, 0
    tokens: list[Tok] = []
    while pos < len(source):
        m = _MODULE_START.match(source, pos)
        if m:
            depth += 1
            tokens.append(Tok("punct", "MODULE", line, line))
            pos = m.end()
            continue
        m = _TOKEN.match(source, pos)
        kind = m.lastgroup
        text = m.group()
        if kind == "ws":
            line += text.count("\n")
        elif kind == "line_comment":
            _add_line_comment(tokens, text[2:], line)
        elif kind == "block_comment":
            end = _block_end(source, pos)
            body = source[pos + 2:end - 2]
            tokens.append(Tok("comment", body, line, line + body.count("\n")))
            line += body.count("\n")
            pos = end
            continue
        elif kind == "module_end":
            depth -= 1
            if depth <= 0:
                break
        elif kind != "dashes":
            tokens.append(Tok(kind, text, line, line))
        pos = m.end()
    return tokens


def _add_line_comment(tokens: list[Tok], body: str, line: int) -> None:
    # consecutive `\*` lines are one comment, as Apalache reads multi-line annotations
    prev = tokens[-1] if tokens else None
    if prev is not None and prev.line_comment and prev.end_line == line - 1:
        prev.text += "\n" + body
        prev.end_line = line
        return
    tokens.append(Tok("comment", body, line, line, line_comment=True))


def _block_end(source: str, start: int) -> int:
    """Offset just past the `*)` closing the (nested) block comment opened at `start`."""
    depth, pos = 0, start
    while pos < len(source):
        two = source[pos:pos + 2]
        if two == "(*":
            depth += 1
            pos += 2
        elif two == "*)":
            depth -= 1
            pos += 2
            if depth == 0:
                return pos
        else:
            pos += 1
    raise cli.UsageError(f"unterminated comment starting at line {source.count(chr(10), 0, start) + 1}")


# ---------------------------------------------------------------------------------------------------
# Annotations inside comments.

_ANNOTATION = re.compile(r"(?<![\w`'\"$@])@(typeAlias|type)\b")
_STRING_ARG = re.compile(r'\(\s*"((?:[^"\\]|\\.)*)"\s*\)')


@dataclass
class Annotation:
    """One `@type` or `@typeAlias` annotation found in a comment."""

    kind: str            # type | typeAlias
    text: str            # the type text ('' when malformed)
    line: int            # line where the type text starts
    comment: int         # index of the comment token holding it
    error: str = ""      # why it is malformed ('' when it parses)
    error_line: int = 0


def annotations_in(tokens: list[Tok]) -> list[Annotation]:
    """Every annotation in the comments, parsed; malformed ones carry `error` and `error_line`."""
    found: list[Annotation] = []
    for index, tok in enumerate(tokens):
        if tok.kind != "comment":
            continue
        for m in _ANNOTATION.finditer(tok.text):
            found.append(_read_annotation(tok, index, m))
    return found


def _line_at(tok: Tok, offset: int) -> int:
    return tok.line + tok.text.count("\n", 0, offset)


def _read_annotation(tok: Tok, index: int, m: re.Match) -> Annotation:
    kind, body, rest = m.group(1), tok.text, m.end()
    while rest < len(body) and body[rest] in " \t":
        rest += 1
    if body.startswith(":", rest):
        start = rest + 1
        end = body.find(";", start)
        if end < 0:
            ann = Annotation(kind, body[start:].strip(), _line_at(tok, start), index)
            ann.error, ann.error_line = f"@{kind} has no terminating ';' (Apalache ignores it)", _line_at(tok, m.start())
            return ann
        text = body[start:end]
    elif body.startswith("(", rest) and (arg := _STRING_ARG.match(body, rest)):
        start, text = arg.start(1), arg.group(1)
    else:
        ann = Annotation(kind, "", _line_at(tok, m.start()), index)
        ann.error, ann.error_line = f"malformed @{kind}: expected ':' or (\"...\") after it", ann.line
        return ann
    ann = Annotation(kind, text, _line_at(tok, start), index)
    try:
        (parse_type if kind == "type" else parse_alias)(text)
    except TypeSyntaxError as exc:
        ann.error = f"@{kind} '{' '.join(text.split())}' does not parse: {exc}"
        ann.error_line = _line_at(tok, start + min(exc.offset, len(text)))
    return ann


# ---------------------------------------------------------------------------------------------------
# Declarations and definitions.

@dataclass
class Declaration:
    """One declared CONSTANT or VARIABLE name and the comments between its keyword/comma and it."""

    keyword: str
    name: str
    line: int
    comments: list[int] = field(default_factory=list)


def _next_code(tokens: list[Tok], i: int) -> tuple[list[int], int]:
    """Indices of the comments from i on, and the index of the first non-comment token (len at end)."""
    comments = []
    while i < len(tokens) and tokens[i].kind == "comment":
        comments.append(i)
        i += 1
    return comments, i


def _skip_parens(tokens: list[Tok], i: int) -> int:
    """Index just past the `)` matching the `(` at i."""
    depth = 0
    while i < len(tokens):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def declarations(tokens: list[Tok]) -> tuple[list[Declaration], list[int]]:
    """The declared names, and the token indices of the CONSTANT(S) keywords."""
    decls: list[Declaration] = []
    constant_keywords: list[int] = []
    for k, tok in enumerate(tokens):
        keyword = DECL_KEYWORDS.get(tok.text) if tok.kind == "ident" else None
        if keyword is None:
            continue
        if keyword == "CONSTANT":
            constant_keywords.append(k)
        i = k + 1
        while True:
            comments, j = _next_code(tokens, i)
            if j >= len(tokens):
                break
            head = tokens[j]
            if head.kind == "ident" and head.text not in DECL_KEYWORDS:
                name, after = head.text, j + 1
                _, p = _next_code(tokens, after)
                if p < len(tokens) and tokens[p].text == "(":
                    after = _skip_parens(tokens, p)
            elif head.text == "_" and j + 1 < len(tokens):   # infix / postfix operator constant
                name, after = tokens[j + 1].text, j + 2
                if after < len(tokens) and tokens[after].text == "_":
                    after += 1
            else:
                break
            decls.append(Declaration(keyword, name, head.line, comments))
            _, n = _next_code(tokens, after)
            if n < len(tokens) and tokens[n].text == ",":
                i = n + 1
                continue
            break
    return decls, constant_keywords


def definitions(tokens: list[Tok]) -> set[str]:
    """Names of operators and functions defined with `==` (Name ==, Name(..) ==, Name[..] ==)."""
    code = [t for t in tokens if t.kind != "comment"]
    names: set[str] = set()
    for i, tok in enumerate(code):
        if tok.kind != "ident" or i + 1 >= len(code):
            continue
        nxt = code[i + 1].text
        if nxt == "==":
            names.add(tok.text)
        elif nxt in ("(", "["):
            close = ")" if nxt == "(" else "]"
            depth, j = 0, i + 1
            while j < len(code):
                if code[j].text == nxt:
                    depth += 1
                elif code[j].text == close:
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j + 1 < len(code) and code[j + 1].text == "==":
                names.add(tok.text)
    return names


# ---------------------------------------------------------------------------------------------------
# The check.

@dataclass
class FileResult:
    """What one .tla file yielded."""

    findings: list[Finding]
    declarations: int
    operator_annotations: int


def check_source(source: str, path: str, cinits: frozenset[str] = frozenset({DEFAULT_CINIT})) -> FileResult:
    """Check one module's text; `path` is how findings name the file."""
    try:
        tokens = tokenize(source)
    except cli.UsageError as exc:
        raise cli.UsageError(f"{path}: {exc}") from None
    anns = annotations_in(tokens)
    decls, constant_keywords = declarations(tokens)
    findings = [Finding("APA.002", "error", path, a.error_line, 1, a.error, anchor=f"{a.kind}:{a.text}")
                for a in anns if a.error]
    by_comment: dict[int, list[Annotation]] = {}
    for a in anns:
        by_comment.setdefault(a.comment, []).append(a)
    attached: set[int] = set()
    for d in decls:
        types = [a for c in d.comments for a in by_comment.get(c, []) if a.kind == "type"]
        attached.update(id(a) for a in types)
        if not types:
            findings.append(Finding(
                "APA.001", "error", path, d.line, 1,
                f"{d.keyword} {d.name} has no @type annotation "
                f"(write `\\* @type: T;` between {d.keyword} or the comma and {d.name})",
                anchor=f"{d.keyword}:{d.name}"))
        elif len(types) > 1:
            findings.append(Finding("APA.001", "error", path, d.line, 1,
                                    f"{d.keyword} {d.name} has {len(types)} @type annotations; keep one",
                                    anchor=f"{d.keyword}:{d.name}:many"))
    if constant_keywords and not (cinits & definitions(tokens)):
        wanted = " or ".join(sorted(cinits))
        findings.append(Finding(
            "APA.003", "error", path, tokens[constant_keywords[0]].line, 1,
            f"module declares CONSTANTS but defines no {wanted} operator for Apalache's --cinit "
            "(or name another cinit in specs/manifest.yaml)", anchor="cinit"))
    operator_annotations = sum(1 for a in anns if a.kind == "type" and id(a) not in attached)
    return FileResult(findings, len(decls), operator_annotations)


def tla_files(paths: list[Path]) -> list[Path]:
    """The .tla files named or found under `paths`; a missing path or no file at all is a usage error."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(p.rglob("*.tla")))
        elif p.is_file():
            files.append(p)
        else:
            raise cli.UsageError(f"{p}: no such file or folder")
    if not files:
        raise cli.UsageError(f"no .tla files under {', '.join(str(p) for p in paths)}")
    return files


def manifest_cinits(spec_dir: Path) -> dict[str, frozenset[str]]:
    """Module name -> the cinit operators the manifest names for it (empty when there is no manifest)."""
    path = spec_dir / "manifest.yaml"
    if not path.is_file():
        return {}
    result: dict[str, set[str]] = {}
    for entry in load_manifest(path):
        settings = getattr(entry, "apalache", None)
        if settings is not None and settings.cinit:
            result.setdefault(entry.module, set()).add(settings.cinit)
    return {module: frozenset(names) for module, names in result.items()}


def check_paths(paths: list[Path], extra_cinits: tuple[str, ...] = ()) -> Report:
    """Check every .tla file under `paths` and return the report."""
    files = tla_files(paths)
    findings: list[Finding] = []
    totals = {"declarations": 0, "operator_annotations": 0}
    manifests: dict[Path, dict[str, frozenset[str]]] = {}
    root = Path.cwd()
    for f in files:
        per_module = manifests.setdefault(f.parent, manifest_cinits(f.parent))
        cinits = frozenset({DEFAULT_CINIT, *extra_cinits}) | per_module.get(f.stem, frozenset())
        try:
            source = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise cli.UsageError(f"cannot read {f}: {exc}") from None
        shown = str(f.resolve().relative_to(root)) if f.resolve().is_relative_to(root) else str(f)
        result = check_source(source, shown, cinits)
        findings.extend(result.findings)
        totals["declarations"] += result.declarations
        totals["operator_annotations"] += result.operator_annotations
    return Report(tool=provenance.tool_info(paths[0]), root=str(root), checks=CHECKS, findings=findings,
                  files=len(files), extra={"annotations": totals})


def main(argv: list[str]) -> int:
    """CLI: check the Apalache annotations of the specs."""
    p = cli.parser(PROG, "Check Apalache @type annotations in TLA+ specs (no Apalache needed).",
                   formats=("text", "json", "sarif", "github"))
    p.add_argument("paths", nargs="*", type=Path, help=".tla files or folders (default: specs/)")
    p.add_argument("--cinit", action="append", default=[], help="also accept this operator as --cinit")
    args = p.parse_args(argv)
    paths = args.paths or [REPO_ROOT / "specs"]
    report = check_paths(paths, tuple(args.cinit))
    text = render(report, args.format)
    if args.format == "text":
        t = report.extra["annotations"]
        verdict = "OK" if not report.findings else f"{len(report.findings)} problem(s)"
        text += (f"annotations: {t['declarations']} declarations and {t['operator_annotations']} "
                 f"operator annotations in {report.files} files: {verdict}\n")
    cli.emit(text, args.output)
    return int(cli.Exit.FINDINGS if report.findings else cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
