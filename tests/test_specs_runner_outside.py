"""Specs nobody here wrote, through the real TLC: manifest options, cfg keywords, subfolders, libraries,
[]P and unnamed temporal properties, forged messages, tlaplus/Examples manifest.json, trace notes."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from checks.specs import messages, verdict
from checks.specs.report import shown_value, trace_lines

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "specs"
EXAMPLES = FIXTURES / "examples_repo" / "specifications" / "tiny" / "manifest.json"


def specs(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "checks.specs", "--jobs", "2", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def models(proc: subprocess.CompletedProcess) -> dict[str, dict]:
    return {m["entry"]["name"]: m for m in json.loads(proc.stdout)["models"]}


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    proc = specs("--manifest", str(FIXTURES / "features.yaml"), "--tier", "all", "--format", "json",
                 "--artifacts", str(tmp_path_factory.mktemp("art")))
    return proc


def test_outside_spec_features_all_match(features):
    assert features.returncode == 0, features.stdout[-2000:] + features.stderr
    got = {name: (m["outcome"]["result"], m["match"]) for name, m in models(features).items()}
    assert got == {"Deadlock_option": ("pass", True), "Deadlock_unchecked": ("pass", True), "Nested": ("pass", True),
                   "Box_one": ("property: AlwaysSmall", True), "Box_two": ("property: AlwaysSmall", True),
                   "Box_temporal": ("property: StaysAtZero", True), "Forge": ("invariant: Small", True)}


def test_box_and_unnamed_temporal_properties_say_how_they_were_named(features):
    found = models(features)
    assert "checked as the invariant of PROPERTY AlwaysSmall" in found["Box_two"]["outcome"]["detail"]
    assert "re-checked each PROPERTY alone: StaysAtZero fails" in found["Box_temporal"]["outcome"]["detail"]


def test_invariant_that_cannot_be_evaluated_is_eval_error(tmp_path):
    proc = specs("--manifest", str(FIXTURES / "failures.yaml"), "--only", "EvalInv", "--format", "json",
                 "--artifacts", str(tmp_path))
    outcome = models(proc)["EvalInv"]["outcome"]
    assert proc.returncode == 1 and outcome["kind"] == "eval-error" and outcome["exit_code"] == 76
    assert "Evaluating invariant Indexed failed" in outcome["detail"] and "out of domain" in outcome["detail"]


def _library_manifest(tmp_path: Path, library: str) -> Path:
    (tmp_path / "sub").mkdir()
    for name in ("Nested.tla", "Nested.cfg"):
        (tmp_path / "sub" / name).write_text((FIXTURES / "sub" / name).read_text())
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("require_refutation: false\nmodels:\n"
                        "  - {name: Nested, module: sub/Nested, cfg: sub/Nested.cfg, "
                        f"tier: fast, expect: pass, distinct: 4, total: 5, library: [{library}], shows: jar}}\n")
    return manifest


def test_library_module_from_a_jar_on_the_classpath(tmp_path):
    with zipfile.ZipFile(tmp_path / "twice.jar", "w") as jar:
        jar.write(FIXTURES / "lib" / "Twice.tla", "Twice.tla")
    proc = specs("--manifest", str(_library_manifest(tmp_path, "twice.jar")), "--artifacts", str(tmp_path / "art"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_missing_library_jar_is_a_missing_tool(tmp_path):
    proc = specs("--manifest", str(_library_manifest(tmp_path, "CommunityModules.jar")),
                 "--artifacts", str(tmp_path / "art"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "CommunityModules.jar not found" in lines[0] and "releases" in lines[0]


@pytest.mark.parametrize("tlc_option,needle", [("-continue", "-continue is not allowed"),
                                               ("-cleanup", "deletes ./states")])
def test_manifest_cannot_inject_flags(tmp_path, tlc_option, needle):
    manifest = _library_manifest(tmp_path, "x.jar")
    manifest.write_text(manifest.read_text().replace("library: [x.jar]", f"tlc_options: [{tlc_option}]"))
    proc = specs("--manifest", str(manifest))
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_examples_manifest_json(tmp_path):
    proc = specs("--manifest", str(EXAMPLES), "--tier", "all", "--format", "json", "--artifacts", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    found = models(proc)
    got = {name: (m["expected"], m["outcome"]["kind"]) for name, m in found.items()}
    assert got == {"Tiny": ("pass", "pass"), "Tiny_safety": ("invariant", "invariant"),
                   "Tiny_deadlock": ("deadlock", "deadlock"), "Tiny_nodeadlock": ("pass", "pass"),
                   "Tiny_liveness": ("property", "property"), "Tiny_assume": ("assumption", "assumption"),
                   "models.Tiny_sim": ("no violation (simulation)", "no-violation"),
                   "Tiny_boxsafety": ("invariant", "property"), "Tiny_nocounts": ("pass", "pass"),
                   "Tiny_symbolic": ("pass", "skipped")}
    assert found["Tiny_boxsafety"]["outcome"]["result"] == "property: AlwaysBelowMax"     # []P: a safety failure
    assert (found["Tiny"]["outcome"]["distinct"], found["Tiny"]["outcome"]["total"]) == (4, 5)
    assert json.loads(proc.stdout)["summary"]["skipped"] == 1


def test_examples_manifest_with_wrong_counts_mismatches(tmp_path):
    repo = tmp_path / "repo"
    import shutil
    shutil.copytree(FIXTURES / "examples_repo", repo)
    manifest = repo / "specifications" / "tiny" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"distinctStates": 4, "totalStates": 5',
                                                     '"distinctStates": 4, "totalStates": 6'))
    proc = specs("--manifest", str(manifest), "--only", "Tiny", "--artifacts", str(tmp_path / "art"))
    assert proc.returncode == 1 and "expected pass with 4 distinct / 6 total states, got 4 distinct / 5" in proc.stdout


@pytest.mark.parametrize("edit,needle", [
    (lambda t: t.replace("specifications/tiny/Tiny.tla", "nowhere/Tiny.tla"), "cannot find the repository root"),
    (lambda t: t.replace('"safety failure"', '"sort of failed"'), "result 'sort of failed' is not one of"),
    (lambda t: t.replace('"symbolic"', '"psychic"'), "unknown mode 'psychic'"),
    (lambda t: t[:-3], "not valid JSON"),
])
def test_bad_examples_manifest_is_exit_2(tmp_path, edit, needle):
    import shutil
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "examples_repo", repo)
    manifest = repo / "specifications" / "tiny" / "manifest.json"
    manifest.write_text(edit(manifest.read_text()))
    proc = specs("--manifest", str(manifest))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr


# --- traces --------------------------------------------------------------------------------------------

def _recorded_trace(name: str):
    out = messages.parse((FIXTURES / "recorded" / f"{name}.out").read_text())
    return verdict.trace(out)


def test_deadlock_trace_says_no_action_is_enabled():
    lines = [line.plain for line in trace_lines(_recorded_trace("deadlock"))]
    assert lines[-1].strip() == "...  no action is enabled in this last state (deadlock)"
    assert not any("deadlock" in line for line in (t.plain for t in trace_lines(_recorded_trace("invariant"))))


def test_lasso_loop_back_names_its_action():
    lines = [line.plain for line in trace_lines(_recorded_trace("liveness_loop"))]
    assert lines[-1].strip() == "...  back to state 1 by Next (the behaviour loops forever)"


def test_long_values_are_elided_with_a_way_to_see_them():
    value = "{" + ", ".join(str(i) for i in range(400)) + "}"
    short = shown_value(value)
    assert len(short) < 300 and "more characters: --full-values, or summary.json" in short
    assert short.startswith(value[:100]) and short.endswith(value[-100:])
    assert shown_value(value, full=True) == value and shown_value("{1, 2}") == "{1, 2}"


def test_examples_skipped_model_in_junit(tmp_path):
    import xml.etree.ElementTree as ET
    proc = specs("--manifest", str(EXAMPLES), "--only", "Tiny", "Tiny_symbolic", "--format", "junit",
                 "--artifacts", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    suite = ET.fromstring(proc.stdout).find("testsuite")
    assert suite.get("skipped") == "1" and suite.get("failures") == "0"
    skipped = [c.get("name") for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert skipped == ["Tiny_symbolic"]
