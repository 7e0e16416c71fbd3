"""Code anchors of the TLA+ models: every model names the files and functions it abstracts; check them.

`python -m checks.specs.anchors --code TREE [--tree pytorch|fork]` (also `python -m checks.specs
check-anchors ...`) reads the `code:` key of every model in specs/manifest.yaml and reports each anchored
file missing from TREE, and each anchored function no longer defined in its file, as drift (exit 1).
A model without anchors of its own uses those of the model it is a variant of (variant_of); drift is
reported once, under the model that declares the anchor.

    code:
      - {file: aten/src/ATen/mps/MPSStream.mm, functions: [MPSStream::synchronize], in: both}

`in` says which trees have the anchor: pytorch (upstream), fork (the dML stream-pool fork), both (the
default), or project (this repository: models of our own runtime code, e.g. the batching worker).
Functions are matched against the qualified names of the definitions the structural analyzer's parser
finds (Python's ast for .py files), by suffix (`MPSStream::synchronize` matches
`at::mps::MPSStream::synchronize`, `BatchQueue._run` matches the method).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks import cli
from checks.config import read_yaml
from checks.sources import REPO_ROOT
from checks.specs.manifest import ModelEntry, load_manifest

PROG = "python -m checks.specs.anchors"
TREES = ("pytorch", "fork", "project")
_IN = ("pytorch", "fork", "both", "project")
_KEYS = {"file", "functions", "in"}


@dataclass(frozen=True)
class Anchor:
    """One file a model abstracts and the functions in it."""

    file: str
    functions: tuple[str, ...]
    trees: tuple[str, ...]


@dataclass(frozen=True)
class Drift:
    """An anchor the tree no longer has."""

    model: str
    file: str
    function: str = ""       # empty: the whole file is missing

    def line(self) -> str:
        """One line for the text report."""
        what = f"function {self.function} is not defined in {self.file}" if self.function else \
            f"file {self.file} does not exist"
        return f"{self.model}: {what}"


@dataclass
class AnchorReport:
    """The result of checking every model's anchors against one tree."""

    tree: Path
    kind: str
    checked: int = 0
    models: int = 0
    unanchored: list[str] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    uncommented: list[str] = field(default_factory=list)


def _anchor(raw: Any, where: str) -> Anchor:
    if not isinstance(raw, dict):
        raise cli.UsageError(f"{where}: each code anchor is a mapping with file and functions")
    unknown = sorted(set(map(str, raw)) - _KEYS)
    if unknown:
        raise cli.UsageError(f"{where}: unknown key {unknown[0]} (allowed: file, functions, in)")
    path, functions, trees = raw.get("file"), raw.get("functions"), raw.get("in", "both")
    if not isinstance(path, str) or not path or path.startswith("/") or ".." in Path(path).parts:
        raise cli.UsageError(f"{where}: file must be a path relative to the tree's root")
    if not isinstance(functions, list) or not functions or \
            not all(isinstance(f, str) and f.strip() for f in functions):
        raise cli.UsageError(f"{where}: functions must be a non-empty list of function names")
    if trees not in _IN:
        raise cli.UsageError(f"{where}: in must be one of {', '.join(_IN)}")
    return Anchor(path, tuple(f.strip() for f in functions), ("pytorch", "fork") if trees == "both" else (trees,))


@dataclass(frozen=True)
class Anchors:
    """The anchors models declare, and which models are covered (by their own or their base's)."""

    own: dict[str, tuple[Anchor, ...]]
    covered: dict[str, tuple[Anchor, ...]]


def read_anchors(manifest: Path) -> Anchors:
    """Every model's anchors (its own, else its variant_of's); validates the manifest first."""
    entries = load_manifest(manifest)
    raw = {item["name"]: item.get("code") for item in read_yaml(manifest, "manifest")["models"]}
    own: dict[str, tuple[Anchor, ...]] = {}
    for name, code in raw.items():
        if code is None:
            continue
        where = f"{manifest}: model {name}: code"
        if not isinstance(code, list) or not code:
            raise cli.UsageError(f"{where} must be a non-empty list of anchors")
        own[name] = tuple(_anchor(item, f"{where}[{i}]") for i, item in enumerate(code))
    return Anchors(own, {e.name: _resolve(e, entries, own) for e in entries})


def _resolve(entry: ModelEntry, entries: list[ModelEntry], own: dict[str, tuple[Anchor, ...]]):
    by_name = {e.name: e for e in entries}
    seen: set[str] = set()
    current: ModelEntry | None = entry
    while current is not None and current.name not in seen:
        if current.name in own:
            return own[current.name]
        seen.add(current.name)
        current = by_name.get(current.variant_of) if current.variant_of else None
    return ()


def defined_functions(tree: Path, files: list[str]) -> dict[str, set[str]]:
    """Qualified names of the functions each existing file defines (the structural analyzer's parser)."""
    from analyzers.engine import load_models   # Lark and the grammar only when a tree is checked

    paths = [tree / f for f in files if (tree / f).is_file() and not f.endswith(".py")]
    models = load_models(paths, tree) if paths else []
    found = {m.path: {s.name for s in m.scopes("function")} for m in models}
    found.update({f: _python_functions(tree / f) for f in files if f.endswith(".py") and (tree / f).is_file()})
    return found


def _python_functions(path: Path) -> set[str]:
    """Dotted names of the functions and methods a Python file defines."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, SyntaxError, UnicodeDecodeError) as exc:
        raise cli.UsageError(f"{path}: cannot parse: {exc}") from exc
    names: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    names.add(name)
                visit(child, name + ".")
    visit(tree, "")
    return names


def _defines(names: set[str], function: str) -> bool:
    return any(n == function or n.endswith("::" + function) or n.endswith("." + function) for n in names)


def check_tree(anchors: Anchors, tree: Path, kind: str) -> AnchorReport:
    """Check every declared anchor that applies to a tree of this kind; missing files and functions are drift
    (reported once, under the model that declares the anchor)."""
    report = AnchorReport(tree=tree, kind=kind)
    applicable = {model: [a for a in found if kind in a.trees] for model, found in anchors.own.items()}
    report.unanchored = sorted(model for model, found in anchors.covered.items() if not found)
    report.models = sum(1 for found in anchors.covered.values() if any(kind in a.trees for a in found))
    defined = defined_functions(tree, sorted({a.file for found in applicable.values() for a in found}))
    for model, found in applicable.items():
        for anchor in found:
            report.checked += 1
            names = defined.get(anchor.file)
            if names is None:
                report.drift.append(Drift(model, anchor.file))
                continue
            report.drift += [Drift(model, anchor.file, f) for f in anchor.functions if not _defines(names, f)]
    return report


_DEFINITION = re.compile(r"^([A-Z][A-Za-z0-9_]*)(\(.*\))?\s*==")


def uncommented_actions(spec: Path) -> list[str]:
    """Actions (definitions whose body primes a variable) with no `\\*` or `(* *)` comment line just above."""
    try:
        lines = spec.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise cli.UsageError(f"cannot read {spec}: {exc.strerror}") from exc
    missing = []
    for i, line in enumerate(lines):
        match = _DEFINITION.match(line)
        if not match:
            continue
        body = [line] + [l for l in _body(lines, i + 1)]
        if not any("'" in part.split("\\*")[0] for part in body):
            continue
        above = lines[i - 1].strip() if i else ""
        if not (above.startswith("\\*") or above.endswith("*)")):
            missing.append(f"{spec.name}:{i + 1}: action {match.group(1)} has no comment naming the code it abstracts")
    return missing


def _body(lines: list[str], start: int):
    for line in lines[start:]:
        if not line.startswith((" ", "\t")):
            return
        yield line


def render_text(report: AnchorReport) -> str:
    """The drift lines and a one-line summary."""
    lines = [d.line() for d in report.drift]
    lines += report.uncommented
    lines += [f"{m}: no code anchors (add code: to the model or to the model it is a variant of)"
              for m in report.unanchored]
    state = "OK" if not failed(report) else \
        f"{len(report.drift)} drifted, {len(report.unanchored)} unanchored, " \
        f"{len(report.uncommented)} actions without a comment"
    lines.append(f"anchors: {report.checked} anchors covering {report.models} models checked against the "
                 f"{report.kind} tree {report.tree}: {state}")
    return "\n".join(lines) + "\n"


def render_json(report: AnchorReport) -> str:
    """The report as JSON."""
    return cli.dump_json({"tree": str(report.tree), "kind": report.kind, "checked": report.checked,
                          "models": report.models, "unanchored": report.unanchored,
                          "uncommented_actions": report.uncommented,
                          "drift": [{"model": d.model, "file": d.file, "function": d.function or None}
                                    for d in report.drift]})


def build_parser():
    """The command line."""
    p = cli.parser(PROG, "Check that the files and functions each TLA+ model abstracts still exist in a "
                         "source tree (drift: exit 1).", formats=("text", "json"))
    p.add_argument("--code", type=Path, required=True, metavar="TREE",
                   help="root of the source tree (the folder holding aten/)")
    p.add_argument("--tree", choices=TREES, default="pytorch",
                   help="which anchors apply: upstream PyTorch's (default) or the fork's")
    p.add_argument("--manifest", type=Path, default=REPO_ROOT / "specs" / "manifest.yaml", help="default specs/manifest.yaml")
    return p


def main(argv: list[str]) -> int:
    """Exit 0 when every anchor is found, 1 on drift, a model without anchors or an action without a
    comment, 2 on bad input."""
    args = build_parser().parse_args(argv)
    if not args.code.is_dir():
        raise cli.UsageError(f"--code {args.code}: no such directory")
    report = check_tree(read_anchors(args.manifest), args.code.resolve(), args.tree)
    modules = sorted({e.spec_path for e in load_manifest(args.manifest)})
    report.uncommented = [line for spec in modules for line in uncommented_actions(spec)]
    cli.emit(render_json(report) if args.format == "json" else render_text(report), args.output)
    return int(cli.Exit.FINDINGS if failed(report) else cli.Exit.CLEAN)


def failed(report: AnchorReport) -> bool:
    """Whether anything drifted, a model has no anchors, or an action has no comment."""
    return bool(report.drift or report.unanchored or report.uncommented)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
