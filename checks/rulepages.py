"""`python -m checks.rulepages`: write docs/rules/ from analyzers/catalogue.yaml, or (--check) say what is stale.

Regenerate after changing the catalogue, a rule's message or its fixtures; the tests fail while a page
is missing, stale or left over from a removed rule.
"""

from __future__ import annotations

from pathlib import Path

from analyzers.catalogue import load_catalogue
from analyzers.rulepages import PAGES_DIR, render_all
from checks import cli
from checks.sources import REPO_ROOT


def stale_pages(pages: dict[str, str], folder: Path) -> list[str]:
    """One line per page that is missing, differs from `pages`, or is not generated from the catalogue."""
    problems = [f"{folder / name}: {'missing' if not (folder / name).is_file() else 'stale'}"
                for name, text in pages.items()
                if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text]
    extra = sorted(p.name for p in folder.glob("*.md") if p.name not in pages) if folder.is_dir() else []
    return problems + [f"{folder / name}: no such rule in the catalogue" for name in extra]


def main(argv: list[str]) -> int:
    """Write the rule pages, or with --check exit 1 listing the stale ones."""
    p = cli.parser("python -m checks.rulepages", "Generate docs/rules/ (one page per ST rule) from the catalogue.")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page is missing or stale")
    p.add_argument("--catalogue", type=Path, help="another catalogue (default analyzers/catalogue.yaml)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / PAGES_DIR, help="folder of the pages (default docs/rules)")
    args = p.parse_args(argv)
    entries = load_catalogue(args.catalogue) if args.catalogue else load_catalogue()
    pages = render_all(entries)
    problems = stale_pages(pages, args.out)
    if args.check:
        for line in problems:
            print(line)
        print(f"{len(pages)} rule pages: {len(problems)} to regenerate"
              + (" (run `make rulepages`)" if problems else ""))
        return int(cli.Exit.FINDINGS if problems else cli.Exit.CLEAN)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, text in pages.items():
            (args.out / name).write_text(text, encoding="utf-8")
        for line in problems:
            if line.endswith("no such rule in the catalogue"):
                Path(line.split(": ")[0]).unlink()
    except OSError as exc:
        raise cli.UsageError(f"cannot write {args.out}: {exc.strerror}") from exc
    print(f"{len(pages)} rule pages written to {args.out} ({len(problems)} changed)")
    return int(cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
