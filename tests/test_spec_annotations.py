"""Apalache type annotations: the type grammar, and the check over the real specs and broken fixtures."""

import json
from pathlib import Path

import pytest

from checks import cli
from checks.specs import annotations
from checks.specs.annotations import TypeSyntaxError, check_source, parse_alias, parse_type

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "apalache" / "annotations"
REAL_SPECS = sorted((ROOT / "specs").glob("*.tla"))

GOOD_TYPES = [
    "Int", "Bool", "Str", "Real", "a", "PID", "Set(Int)", "Seq(Set(PROC))", "Int -> Bool",
    "Set(Int) -> Bool -> Str", "(Set(Int) -> Bool) -> Str", "<<Int, Str>>", "<| 3: Bool, 5: Int |>",
    "[]", "[a: Int, b: Bool]", "{ }", "{ a }", "{ f: Int, g: a }", "{ f: Int, g: a, x }", "(||)", "(| c |)",
    "(| f: Int | g: c | x |)", "() => Bool", "(Int) => Bool", "Int => Bool", "(Set(Int), Bool) => Str",
    "((Set(Int), Bool) => Str)", "(Set(Int) => Bool) => Str", "((a) => Bool, Seq(a)) => Int",
    "Variant()", "Variant(a)", "Tag1(Int) | Tag2({ g: Bool }) | c", "Set(Req({ ask: Int }) | Ack({ ok: Bool }))",
    "a => (Tag(a) | b)", "(Tag(a) | b, a => r, Variant(b) => r) => r", "$persons", "Str -> Set($entry)",
    "Int;", "Set([\n  // the tag\n  tag: Str,\n  value: Int\n])",
]
BAD_TYPES = [
    ("<<>>", "unexpected '>>'"), ("vc", "'vc' is not a type"), ("Integer", "'Integer' is not a type"),
    ("Set(Nat)", "'Nat' is not a type"), ("(Int, Int) -> Bool", "unexpected '->'"),
    ("() => (Bool, Bool)", "unexpected end"), ("Set(Int", "unexpected end"), ("Int Int", "unexpected 'Int'"),
    ("{ f: Int, f: Bool }", "'f' appears twice"), ("[a: Int, a: Str]", "'a' appears twice"),
    ("A(Int) | A(Str)", "'A' appears twice"), ("Set(Int)) ", "unexpected ')'"), ("", "unexpected end"),
    ("Int -> ", "unexpected end"), ("Int ? Bool", "unexpected character"),
]


@pytest.mark.parametrize("text", GOOD_TYPES)
def test_grammar_accepts(text):
    parse_type(text)


@pytest.mark.parametrize("text, why", BAD_TYPES)
def test_grammar_rejects(text, why):
    with pytest.raises(TypeSyntaxError, match=why.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        parse_type(text)


def test_alias_grammar():
    parse_alias("persons = Set(PERSON)")
    parse_alias("ENTRY = [a: Int, b: Bool];")
    with pytest.raises(TypeSyntaxError):
        parse_alias("= Int")


def test_there_are_real_specs():
    assert REAL_SPECS, "specs/*.tla is empty: the annotation check has nothing to check"
    assert annotations.check_paths(REAL_SPECS).extra["annotations"]["declarations"] > 0


@pytest.mark.parametrize("spec", REAL_SPECS, ids=lambda p: p.name)
def test_real_specs_are_annotated(spec):
    report = annotations.check_paths([spec])
    assert report.findings == [], "\n".join(f"{f.path}:{f.line}: {f.message}" for f in report.findings)


# fixture -> (rule, line) of the one finding it must produce
BROKEN = {
    "MissingVarType.tla": ("APA.001", 5),
    "AnnotationBeforeKeyword.tla": ("APA.001", 3),
    "MissingConstType.tla": ("APA.001", 4),
    "BadType.tla": ("APA.002", 5),
    "MultiLineBad.tla": ("APA.002", 5),
    "NoSemicolon.tla": ("APA.002", 3),
    "NoColon.tla": ("APA.002", 3),
    "BadOperator.tla": ("APA.002", 6),
    "LowercaseType.tla": ("APA.002", 3),
    "DuplicateField.tla": ("APA.002", 5),
    "BadAlias.tla": ("APA.002", 2),
    "NoConstInit.tla": ("APA.003", 3),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_fixture_fails_on_the_right_line(name):
    rule, line = BROKEN[name]
    report = annotations.check_paths([FIXTURES / name])
    assert [(f.rule, f.line) for f in report.findings] == [(rule, line)]


def test_every_broken_fixture_is_listed():
    on_disk = {p.name for p in FIXTURES.glob("*.tla")} - {"Good.tla"}
    assert on_disk == set(BROKEN)


def test_good_fixture_passes_with_every_form():
    report = annotations.check_paths([FIXTURES / "Good.tla"])
    assert report.findings == []
    # N, Procs, Less + queues, table, lock, msg, old; text outside the module is ignored
    assert report.extra["annotations"] == {"declarations": 8, "operator_annotations": 1}


def test_cinit_named_elsewhere_is_accepted():
    source = (FIXTURES / "NoConstInit.tla").read_text()
    assert check_source(source, "x.tla").findings
    assert not check_source(source, "x.tla", frozenset({"ConstInitialisation"})).findings


def test_cli_exit_codes(capsys):
    assert cli.run(annotations.main, [str(FIXTURES / "Good.tla")]) == 0
    assert "OK" in capsys.readouterr().out
    assert cli.run(annotations.main, [str(FIXTURES / "BadType.tla")]) == 1
    out = capsys.readouterr().out
    assert "BadType.tla:5:" in out and "APA.002" in out
    assert cli.run(annotations.main, [str(FIXTURES / "NoConstInit.tla"), "--cinit", "ConstInitialisation"]) == 0
    capsys.readouterr()


def test_cli_json(capsys):
    assert cli.run(annotations.main, [str(FIXTURES / "MissingVarType.tla"), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["findings"][0]["rule"] == "APA.001" and "tool" in data


@pytest.mark.parametrize("args, why", [(["no/such/dir"], "no such file"), (["tests/fixtures/apalache/logs"], "no .tla")])
def test_cli_bad_input_is_exit_2(args, why, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.run(annotations.main, args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and why in err[0]


def test_file_without_module_header_is_exit_2(tmp_path, capsys):
    bad = tmp_path / "Junk.tla"
    bad.write_text("VARIABLE x\n")
    assert cli.run(annotations.main, [str(bad)]) == 2
    assert "MODULE" in capsys.readouterr().err


def test_cinit_named_by_the_manifest_is_accepted(tmp_path):
    spec = tmp_path / "NoConstInit.tla"
    spec.write_text((FIXTURES / "NoConstInit.tla").read_text())
    (tmp_path / "NoConstInit.cfg").write_text("CONSTANTS N = 3\nINIT Init\nNEXT Init\n")
    assert [f.rule for f in annotations.check_paths([tmp_path]).findings] == ["APA.003"]
    (tmp_path / "manifest.yaml").write_text(
        "models:\n  - {name: M, module: NoConstInit, cfg: NoConstInit.cfg, tier: fast, expect: deadlock,\n"
        "     shows: x, apalache: {length: 1, cinit: ConstInitialisation}}\n")
    assert annotations.check_paths([tmp_path]).findings == []
