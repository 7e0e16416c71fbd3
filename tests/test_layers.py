"""Imports flow one way: runtime_tests > checks > analyzers > mpsverify_base; no layer imports one above it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# lowest first; a module may import its own layer and those listed before it
LAYERS = ("mpsverify_base", "analyzers", "checks", "runtime_tests")


def imported_modules(tree: ast.AST, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `tree`, function-local ones included."""
    found = []
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:   # relative: resolve against the importing module's package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) \
                == "import_module" and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            found.append((node.lineno, node.args[0].value))
    return found


def upward_imports(root: Path, layers: tuple[str, ...] = LAYERS) -> list[str]:
    """One line per import that reaches a higher layer than the importing module's own."""
    rank = {name: n for n, name in enumerate(layers)}
    problems = []
    for layer in layers:
        for path in sorted((root / layer).rglob("*.py")):
            rel = path.relative_to(root)
            module = ".".join(rel.with_suffix("").parts)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
            for line, name in imported_modules(tree, module):
                top = name.split(".")[0]
                if top in rank and rank[top] > rank[layer]:
                    problems.append(f"{rel}:{line}: {layer} imports {name} (a higher layer)")
    return problems


def test_no_layer_imports_a_higher_one():
    assert upward_imports(ROOT) == []


def test_every_layer_has_modules():
    # a renamed layer would make the walk above pass vacuously
    for layer in LAYERS:
        assert list((ROOT / layer).rglob("*.py")), layer


def test_the_walk_flags_an_upward_import(tmp_path):
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
        (tmp_path / layer / "__init__.py").write_text("")
    (tmp_path / "analyzers" / "ok.py").write_text("from mpsverify_base.errors import UsageError\n")
    (tmp_path / "analyzers" / "bad.py").write_text("def f():\n    from checks.cli import run\n")
    (tmp_path / "mpsverify_base" / "worse.py").write_text("import analyzers.engine\n")
    (tmp_path / "checks" / "sub").mkdir()
    (tmp_path / "checks" / "sub" / "rel.py").write_text("from .. import cli\nfrom importlib import import_module\n"
                                                        "import_module('runtime_tests.db')\n")
    assert upward_imports(tmp_path) == [
        "mpsverify_base/worse.py:1: mpsverify_base imports analyzers.engine (a higher layer)",
        "analyzers/bad.py:2: analyzers imports checks.cli (a higher layer)",
        "checks/sub/rel.py:3: checks imports runtime_tests.db (a higher layer)",
    ]
