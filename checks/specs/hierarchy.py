"""Generate specs/LockHierarchyData.tla from specs/lock_hierarchy.yaml, and detect when it drifts."""

from __future__ import annotations

from pathlib import Path

from analyzers.hierarchy import DEFAULT_PATH as YAML_PATH
from analyzers.hierarchy import Hierarchy, load_hierarchy
from checks import cli
from checks.cli import UsageError

GENERATED_PATH = YAML_PATH.parent / "LockHierarchyData.tla"
MODULE = "LockHierarchyData"


def _tla_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _comment(text: str) -> str:
    """Text safe inside a TLA+ block comment."""
    return text.replace("(*", "( *").replace("*)", "* )")


def _table(name: str, locks, value) -> list[str]:
    """A function from lock name to `value(lock)`, as a CASE so TLC and Apalache both read it."""
    arms = [f"{_tla_string(lock.name)} -> {value(lock)}" for lock in locks]
    lines = [f"{name} == [l \\in Locks |->", f"    CASE l = {arms[0]}"]
    lines += [f"      [] l = {arm}" for arm in arms[1:]]
    lines[-1] += "]"
    return lines


def render_tla(hierarchy: Hierarchy, source: str = "specs/lock_hierarchy.yaml") -> str:
    """The TLA+ module with the lock set, each lock's level and kind (Apalache-annotated); `source` names
    the YAML it came from (ours, or a repository's own, e.g. a fork's)."""
    if not hierarchy.locks:
        raise UsageError("lock hierarchy has no locks: nothing to generate")
    locks = hierarchy.locks
    width = max(len(lock.name) for lock in locks)
    lines = [
        f"{'-' * 28} MODULE {MODULE} {'-' * 28}",
        f"(* GENERATED from {_comment(source)} by `python -m checks.specs.hierarchy --write`.",
        "   Do not edit: the spec runner fails when this file and the YAML disagree.",
        "   Rule: holding a lock of level L, a thread may only acquire locks of a strictly lower",
        "   level, or re-enter a recursive mutex it holds. *)",
        "",
        "(* The locks, outermost (highest level) first:",
        *[f"     {lock.name.ljust(width)}  {lock.kind:<15}  {lock.level:>4}  {_comment(lock.description)}".rstrip()
          for lock in locks],
        "*)",
        "",
        "\\* @type: Set(Str);",
        "Locks == {" + ", ".join(_tla_string(lock.name) for lock in locks) + "}",
        "",
        "\\* @type: Str -> Int;",
        *_table("Level", locks, lambda lock: str(lock.level)),
        "",
        "\\* @type: Str -> Str;",
        *_table("Kind", locks, lambda lock: _tla_string(lock.kind)),
        "",
        "\\* @type: Set(Str);",
        'Recursive == {l \\in Locks : Kind[l] = "recursive_mutex"}',
        "=" * 77,
        "",
    ]
    return "\n".join(lines)


def _source(yaml_path: Path) -> str:
    """How the generated module names its YAML: ours by its place in the repository, others by file name."""
    return "specs/lock_hierarchy.yaml" if yaml_path.resolve() == YAML_PATH.resolve() else yaml_path.name


def _content(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("(* GENERATED from ")]


def check_generated(path: Path = GENERATED_PATH, yaml_path: Path = YAML_PATH) -> str | None:
    """One line saying why the committed module differs from what the YAML generates, else None."""
    expected = render_tla(load_hierarchy(yaml_path), _source(yaml_path))
    try:
        actual = path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"{path}: cannot read the generated lock hierarchy ({exc.strerror}); " \
               f"run python -m checks.specs.hierarchy --write"
    old, new = actual.splitlines(), expected.splitlines()
    if _content(old) == _content(new):      # which file the module names as its source is no drift
        return None
    line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
    return f"{path}:{line + 1}: out of date with {yaml_path.name}; run python -m checks.specs.hierarchy --write"


def main(argv: list[str]) -> int:
    """Check (default) or regenerate (--write) specs/LockHierarchyData.tla."""
    p = cli.parser("python -m checks.specs.hierarchy",
                   "Check or regenerate the TLA+ lock hierarchy module from specs/lock_hierarchy.yaml.")
    p.add_argument("--write", action="store_true", help="regenerate the module instead of checking it")
    p.add_argument("--hierarchy", type=Path, default=YAML_PATH, help="the lock hierarchy YAML")
    p.add_argument("--module", type=Path, default=GENERATED_PATH, help="the generated TLA+ module")
    args = p.parse_args(argv)
    if args.write:
        text = render_tla(load_hierarchy(args.hierarchy), _source(args.hierarchy))
        try:
            args.module.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.module}: {exc.strerror}") from exc
        print(f"wrote {args.module}")
        return int(cli.Exit.CLEAN)
    problem = check_generated(args.module, args.hierarchy)
    if problem:
        print(problem)
        return int(cli.Exit.FINDINGS)
    print(f"{args.module} is up to date")
    return int(cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
