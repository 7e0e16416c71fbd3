"""docs/rules/ is generated from the catalogue: every entry has a page, no page is stale, SARIF links to them."""

from __future__ import annotations

import json

import pytest

from analyzers.catalogue import PAGES_DIR, load_catalogue, page_path
from analyzers.findings import Check, Finding, Report
from analyzers.reporters import render
from analyzers.rulepages import render_all
from checks import rulepages
from checks.sources import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures"


@pytest.fixture(scope="module")
def pages():
    return render_all(load_catalogue())


def test_every_catalogue_entry_has_a_fresh_page(pages):
    assert {f"{e.check.id}.md" for e in load_catalogue()} <= set(pages)
    assert rulepages.stale_pages(pages, REPO_ROOT / PAGES_DIR) == [], "run `make rulepages`"


def test_a_page_shows_the_rule_its_fixtures_and_the_suppression(pages):
    page = pages["ST.001.a.md"]
    for part in ("# ST.001.a: ", "## Why it is a hazard on MPS", "(../../tests/fixtures/structural/ST.001.a_flag.mm)",
                 "(../../tests/fixtures/structural/ST.001.a_pass.mm)", "// mps-verify: ignore[ST.001.a] <why",
                 "ST.001.a_flag.mm:8:42: error: stream->commandEncoder() fetches stream state"):
        assert part in page, part
    assert "| [ST.014.c](ST.014.c.md) |" in pages["README.md"]


def test_staleness_is_found_missing_changed_and_left_over(tmp_path, pages):
    for name, text in pages.items():
        (tmp_path / name).write_text(text)
    assert rulepages.stale_pages(pages, tmp_path) == []
    (tmp_path / "ST.001.a.md").write_text(pages["ST.001.a.md"].replace("error", "warning", 1))
    (tmp_path / "ST.002.b.md").unlink()
    (tmp_path / "ST.099.z.md").write_text("a rule that is gone\n")
    assert rulepages.stale_pages(pages, tmp_path) == [
        f"{tmp_path}/ST.001.a.md: stale", f"{tmp_path}/ST.002.b.md: missing",
        f"{tmp_path}/ST.099.z.md: no such rule in the catalogue"]


def test_the_command_writes_and_checks(tmp_path, capsys):
    out = tmp_path / "rules"
    assert rulepages.main(["--out", str(out), "--check"]) == 1
    assert "to regenerate (run `make rulepages`)" in capsys.readouterr().out
    assert rulepages.main(["--out", str(out)]) == 0
    (out / "ST.099.z.md").write_text("left over\n")
    assert rulepages.main(["--out", str(out)]) == 0 and not (out / "ST.099.z.md").exists()
    assert rulepages.main(["--out", str(out), "--check"]) == 0


def _sarif_rules():
    checks = [Check("ST.001.a", "t", "error"), Check("ST.001", "family", "error"),
              Check("TSA.thread-safety-analysis", "t", "warning")]
    report = Report(tool={}, root="/src", checks=checks,
                    findings=[Finding("ST.001.a", "error", "a.mm", 3, 1, "m", anchor="x")])
    rules = {r["id"]: r for r in json.loads(render(report, "sarif"))["runs"][0]["tool"]["driver"]["rules"]}
    return report, rules


def test_sarif_rules_link_their_page_and_text_names_the_rule(monkeypatch):
    monkeypatch.delenv("MPS_VERIFY_DOCS_URL", raising=False)
    report, rules = _sarif_rules()
    assert rules["ST.001.a"]["helpUri"] == (REPO_ROOT / "docs/rules/ST.001.a.md").as_uri()   # absolute, as SARIF wants
    assert "helpUri" not in rules["ST.001"] and "helpUri" not in rules["TSA.thread-safety-analysis"]   # no page
    assert render(report, "text").splitlines()[0].endswith("[ST.001.a]")
    assert page_path("ST.001.a") == "docs/rules/ST.001.a.md" and page_path("TSA.x") is None


def test_sarif_help_links_go_where_the_fork_publishes_mps_verify(monkeypatch):
    monkeypatch.setenv("MPS_VERIFY_DOCS_URL", "https://github.com/someone/mps-verify/blob/v0.1.0")
    _, rules = _sarif_rules()
    assert rules["ST.001.a"]["helpUri"] == "https://github.com/someone/mps-verify/blob/v0.1.0/docs/rules/ST.001.a.md"
    workflow = (REPO_ROOT / "ci/github/mps-verify.yml").read_text()
    assert "MPS_VERIFY_DOCS_URL:" in workflow
