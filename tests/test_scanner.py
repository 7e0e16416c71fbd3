"""The lexer's scanner is shipped with the grammar (analyzers/grammar.scanner): fresh, checked, used."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from analyzers import lexer
from checks import scanner
from checks.sources import REPO_ROOT


def test_shipped_scanner_is_what_lark_makes_of_the_grammar():
    assert lexer.SHIPPED_SCANNER.read_text(encoding="utf-8") == scanner.expected(), "run `make scanner`"
    assert lexer.shipped_scanner() == lexer.lark_scanner_text()


def test_a_scanner_for_another_grammar_is_not_used(tmp_path, monkeypatch):
    stale = tmp_path / "grammar.scanner"
    stale.write_text(lexer.SHIPPED_HEAD.format(hash="0" * 16) + "(?P<IDENT>x)", encoding="utf-8")
    monkeypatch.setattr(lexer, "SHIPPED_SCANNER", stale)
    assert lexer.shipped_scanner() is None
    assert scanner.main(["--check"]) == 1
    monkeypatch.setattr(lexer, "SHIPPED_SCANNER", tmp_path / "missing")
    assert lexer.shipped_scanner() is None


def test_a_run_with_an_empty_cache_does_not_import_lark(tmp_path):
    src = tmp_path / "a.mm"
    src.write_text("void f() { std::lock_guard<std::mutex> g(m_); }\n", encoding="utf-8")
    env = {**os.environ, "MPS_VERIFY_CACHE_DIR": str(tmp_path / "cache")}
    code = ("import runpy, sys; sys.argv = ['structural', sys.argv[1], '--format', 'json', '--output', "
            "sys.argv[2]]\ntry: runpy.run_module('checks.structural', run_name='__main__')\n"
            "except SystemExit: pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'lark'))")
    out = subprocess.run([sys.executable, "-c", code, str(src), str(tmp_path / "out.json")], env=env,
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr
    report = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert report["summary"]["files"] == 1 and report["diagnostics"] == []
