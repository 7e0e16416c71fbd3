"""The README and docs/ stay true: links resolve, every option a page documents exists in its command and
every option of a command is documented, and output marked verbatim is what the command prints."""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from checks import cli
from checks.sources import CORPUS_DIR, REPO_ROOT

README = REPO_ROOT / "README.md"
FENCE = re.compile(r"^(`{3,}).*?^\1\s*$", re.M | re.S)
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
VERBATIM = re.compile(r"<!-- verbatim: cd (\S+) && (.+?) -->\n(`{3,})[a-z]*\n(.*?)^\3\s*$", re.M | re.S)

# page -> the commands it is the reference of: (module with main(argv), argv that reaches its parser)
PAGES = {
    "README.md": [("checks.check", ())],
    "docs/specs.md": [("checks.specs.__main__", ()), ("checks.specs.hierarchy", ())],
    "docs/apalache.md": [("checks.specs.annotations", ())],
    "docs/structural.md": [("checks.structural", ()), ("checks.rulepages", ())],
    "docs/tsa.md": [("checks.tsa", ())],
    "docs/lockgraph.md": [("checks.lockgraph", ())],
    "docs/runtime.md": [("runtime_tests.__main__", ("run",)), ("runtime_tests.__main__", ("report",))],
    "docs/gate.md": [("checks.gate.__main__", ())],
}
# options a page may name that belong to other programs or to a command documented elsewhere
ALSO = {
    "docs/apalache.md": {"checks.specs.__main__"},
    "README.md": {module for commands in PAGES.values() for module, _ in commands},
}
FOREIGN = {
    # apalache-mc's own command line, as the backend runs it
    "docs/apalache.md": {"--init", "--next", "--inv", "--temporal", "--length", "--out-dir", "--run-dir"},
}
SHARED = {"help", "debug", "format", "output", "config"}    # README's "Conventions shared by every command"


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code (where brackets are not links)."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Anchors of every heading of a Markdown file."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def broken_links(page: Path) -> list[str]:
    """One line per relative link of `page` whose file (or heading) does not exist."""
    problems = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target):
            continue        # http(s), mailto: not ours to check offline
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            problems.append(f"{page.name}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{page.name}: {target}: no such heading")
    return problems


def pages() -> list[Path]:
    """The README and every Markdown file under docs/."""
    return [README, *sorted((REPO_ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_links_resolve(page):
    assert broken_links(page) == []


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A part (`--x`)\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md) [ok](other.md#a-part---x) [web](https://example.org/x) `[code](nope.md)`\n"
                    "[gone](missing.md) [bad anchor](other.md#nope)\n```\n[in a block](nope.md)\n```\n")
    assert broken_links(page) == ["page.md: missing.md: no such file", "page.md: other.md#nope: no such heading"]


class _Parsed(Exception):
    pass


def command_options(module: str, argv: tuple[str, ...], monkeypatch) -> list[tuple[str, ...]]:
    """The option strings of each optional argument of a command, read from its real argparse parser."""
    def stop(self, *args, **kwargs):
        raise _Parsed(self)

    monkeypatch.setattr(cli._Parser, "parse_args", stop)
    with pytest.raises(_Parsed) as got:
        importlib.import_module(module).main(list(argv))
    monkeypatch.undo()
    return [tuple(a.option_strings) for a in got.value.args[0]._actions
            if a.option_strings and a.dest not in SHARED]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_option_of_the_command_is_documented(page, monkeypatch):
    text = (REPO_ROOT / page).read_text(encoding="utf-8")
    named = set(OPTION.findall(text))
    missing = [opts[0] for module, argv in PAGES[page] for opts in command_options(module, argv, monkeypatch)
               if not named & set(opts)]
    assert missing == [], f"{page} does not document {missing}"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_documented_option_exists(page, monkeypatch):
    known = set(FOREIGN.get(page, ())) | {f"--{name}" for name in SHARED}
    for module, argv in PAGES[page] + [(m, a) for p in PAGES.values() for m, a in p if m in ALSO.get(page, ())]:
        known |= {o for opts in command_options(module, argv, monkeypatch) for o in opts}
    unknown = sorted(set(OPTION.findall((REPO_ROOT / page).read_text(encoding="utf-8"))) - known)
    assert unknown == [], f"{page} names options its commands do not have: {unknown}"


def test_the_shared_options_are_in_the_readme():
    text = README.read_text(encoding="utf-8")
    assert all(f"--{name}" in text for name in SHARED - {"help"})


def verbatim_blocks(page: Path) -> list[tuple[str, str, str]]:
    """(folder, command, expected output) of every block marked `<!-- verbatim: cd DIR && CMD -->`."""
    return [(m.group(1), m.group(2), m.group(4)) for m in VERBATIM.finditer(page.read_text(encoding="utf-8"))]


def run_documented(folder: str, command: str) -> str:
    """What `command` prints in `folder` (relative to the checkout, or {corpus}) with this checkout's code."""
    cwd = CORPUS_DIR if folder == "{corpus}" else REPO_ROOT / folder
    argv = shlex.split(command)
    assert argv[0] == "python", "verbatim commands start with python"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return proc.stdout


BLOCKS = [(page, *block) for page in pages() for block in verbatim_blocks(page)]


def test_verbatim_blocks_are_marked():
    # the README's structural example, its copy in docs/structural.md and the lock graph of 2.6.0
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("page, folder, command, expected", BLOCKS,
                         ids=[f"{p.name}:{c.split()[2]}" for p, _, c, _ in BLOCKS])
def test_verbatim_output_is_what_the_command_prints(page, folder, command, expected):
    if folder == "{corpus}" and not CORPUS_DIR.is_dir():
        if os.environ.get("MPS_VERIFY_REQUIRE_CORPUS") == "1":
            pytest.fail(f"PyTorch 2.6.0 corpus missing at {CORPUS_DIR}; run `make corpus`")
        pytest.skip("PyTorch 2.6.0 corpus not fetched (`make corpus`)")
    assert run_documented(folder, command) == expected


def test_a_stale_verbatim_block_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- verbatim: cd tests/fixtures && python -m checks.structural structural_cli/ST.000.a_flag.mm "
                    "--rules ST.000 -->\n```text\nan old output\n```\n")
    ((folder, command, expected),) = verbatim_blocks(page)
    got = run_documented(folder, command)
    assert expected == "an old output\n" and got != expected and "[ST.000.a]" in got


def test_the_readme_is_short_and_quotes_make_check_as_the_makefile_explains_it():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 150
    explained = re.search(r'1\) echo "(make check: exit 1 = [^"]+)"', (REPO_ROOT / "Makefile").read_text()).group(1)
    assert explained in text
