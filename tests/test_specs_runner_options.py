"""Per-model options, manifest keys for outside specs, and the TLC command line they make (no TLC run)."""

import shutil
from pathlib import Path

import pytest

from checks import tools
from checks.cli import ToolMissing, UsageError
from checks.specs import cfgfile, messages, modelopts, tlc, verdict
from checks.specs.manifest import RunOptions, load_manifest
from checks.specs.modelopts import Simulation

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "specs"
WHERE = "m.yaml: model X"


@pytest.mark.parametrize("value,expected", [
    (["-deadlock"], ("-deadlock",)),
    (["-dfid", 20, "-nowarning"], ("-dfid", "20", "-nowarning")),
    (["-fpmem", "0.5", "-lncheck", "final"], ("-fpmem", "0.5", "-lncheck", "final")),
    (None, ()),
])
def test_allowed_tlc_options(value, expected):
    assert modelopts.tlc_options(value, WHERE) == expected


@pytest.mark.parametrize("value,needle", [
    (["-continue"], "-continue is not allowed (it goes on after a violation"),
    (["-cleanup"], "deletes ./states"),
    (["-metadir", "/tmp/x"], "the runner sets it"),
    (["-dump", "dot", "x.dot"], "-dump is not allowed"),
    (["-Dtlc2.TLC.stopAfter=5"], "is not allowed (allowed: -deadlock"),
    (["-dfid"], "needs an argument matching"),
    (["-dfid", "-deadlock"], "needs an argument matching"),
    (["-lncheck", "sometimes"], "needs an argument matching"),
    ("-deadlock", "must be a list of strings"),
])
def test_refused_tlc_options(value, needle):
    with pytest.raises(UsageError) as err:
        modelopts.tlc_options(value, WHERE)
    assert needle in str(err.value) and str(err.value).startswith(WHERE)


@pytest.mark.parametrize("option", ["-Xmx8g", "-Xss4m", "-XX:+UseParallelGC", "-XX:MaxDirectMemorySize=2g",
                                    "-Dtlc2.tool.fp.FPSet.impl=tlc2.tool.fp.OffHeapDiskFPSet"])
def test_allowed_jvm_options(option):
    assert modelopts.jvm_options([option], WHERE) == (option,)


@pytest.mark.parametrize("option", ["-Xmx8g -cp /evil.jar", "-cp", "-javaagent:/x.jar", "-Dtlc2.TLC.stopAfter=3",
                                    "-XX:OnOutOfMemoryError=rm -rf /", "-Xmx"])
def test_refused_jvm_options(option):
    with pytest.raises(UsageError, match="jvm_options: .* is not allowed"):
        modelopts.jvm_options([option], WHERE)


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".", "..", "x y", "-flag"])
def test_model_names_that_would_escape_the_artifacts(name):
    with pytest.raises(UsageError, match="may use only letters"):
        modelopts.model_name(name, WHERE)


def test_simulation_settings():
    assert modelopts.simulation({"num": 10, "depth": 5, "seed": -3}, WHERE) == Simulation(10, 5, -3)
    assert Simulation(2000, 60).describe() == "no violation in 2,000 behaviours up to depth 60"
    for raw, needle in (({"num": 10}, "missing key simulate.depth"), ({"num": 0, "depth": 3}, "positive"),
                        ({"num": 1, "depth": 1, "steps": 2}, "unknown key simulate.steps"), ([1], "mapping")):
        with pytest.raises(UsageError, match=needle):
            modelopts.simulation(raw, WHERE)


def test_library_paths_resolve_against_the_manifest_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CM_JAR", "/opt/CommunityModules.jar")
    assert modelopts.library(["lib", "$CM_JAR"], tmp_path, WHERE) == ((tmp_path / "lib").resolve(),
                                                                       Path("/opt/CommunityModules.jar"))
    monkeypatch.delenv("CM_JAR")
    with pytest.raises(UsageError, match="environment variable not set"):
        modelopts.library(["$CM_JAR"], tmp_path, WHERE)


# --- manifest keys ---------------------------------------------------------------------------------

BASE = """
  - {name: Counter_pass, module: Counter, cfg: Counter_pass.cfg, tier: fast, expect: pass, distinct: 16, total: 26,
     shows: x}
"""
INV = """
  - {name: Counter_inv, module: Counter, cfg: Counter_inv.cfg, tier: fast, expect: "invariant: Bounded",
     variant_of: Counter_pass, shows: x}
"""


@pytest.fixture
def folder(tmp_path):
    for name in ("Counter.tla", "Counter_pass.cfg", "Counter_inv.cfg"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "manifest.yaml"
    path.write_text(text)
    return path


def test_refutation_rule_on_by_default_and_off_per_manifest(folder):
    with pytest.raises(UsageError, match="never refuted.*require_refutation: false"):
        load_manifest(write(folder, "models:" + BASE))
    entries = load_manifest(write(folder, "require_refutation: false\nmodels:" + BASE))
    assert [e.name for e in entries] == ["Counter_pass"]
    with pytest.raises(UsageError, match="require_refutation must be true or false"):
        load_manifest(write(folder, "require_refutation: maybe\nmodels:" + BASE))


def test_refutation_rule_stays_on_for_the_project_specs(monkeypatch, tmp_path):
    from checks.specs import manifest
    monkeypatch.setattr(manifest, "REPO_ROOT", tmp_path)
    (tmp_path / "specs").mkdir()
    with pytest.raises(UsageError, match="stays on for the project's own specs"):
        manifest._require_refutation({"require_refutation": False}, tmp_path / "specs" / "manifest.yaml")


def test_only_validates_just_the_chosen_models(folder):
    broken = "\n  - {name: Ghost, module: Nope, cfg: Nope.cfg, tier: fast, expect: pass, shows: x}\n"
    path = write(folder, "models:" + BASE + INV + broken)
    with pytest.raises(UsageError, match="model Ghost"):
        load_manifest(path)
    assert [e.name for e in load_manifest(path, only=["Counter_inv"])] == ["Counter_pass", "Counter_inv"]
    with pytest.raises(UsageError, match="model Ghost"):
        load_manifest(path, only=["Ghost"])
    with pytest.raises(UsageError, match="--only: no model named Phantom"):
        load_manifest(path, only=["Phantom"])


def test_new_keys_load(folder):
    extra = BASE.replace("shows: x}", "shows: x, tlc_options: [-deadlock], jvm_options: [-Xmx1g], library: [lib],"
                                      " workers: 3}")
    sim = INV.replace("shows: x}", "shows: x, simulate: {num: 100, depth: 20, seed: 3}}")
    first, second = load_manifest(write(folder, "models:" + extra + sim))
    assert first.tlc_options == ("-deadlock",) and first.jvm_options == ("-Xmx1g",)
    assert first.library == ((folder / "lib").resolve(),) and first.workers == 3 and second.workers is None
    jar = tools.tla2tools_jar()
    assert tlc.launch_for(first, RunOptions(timeout=5), jar).workers == 3          # the model's own
    assert tlc.launch_for(first, RunOptions(timeout=5, workers=2), jar).workers == 2   # --workers wins
    with pytest.raises(UsageError, match="workers must be a positive integer"):
        load_manifest(write(folder, "models:" + extra.replace("workers: 3", "workers: auto") + sim))
    assert second.simulate == Simulation(100, 20, 3)


def test_bad_name_and_simulated_counts(folder):
    with pytest.raises(UsageError, match="model ../x: name '../x' may use only"):
        load_manifest(write(folder, "models:" + BASE.replace("name: Counter_pass", "name: ../x")))
    counted = BASE.replace("shows: x}", "shows: x, simulate: {num: 1, depth: 1}}")
    with pytest.raises(UsageError, match="simulated model has no exact state counts"):
        load_manifest(write(folder, "require_refutation: false\nmodels:" + counted))


# --- command line -----------------------------------------------------------------------------------

def _cmd(tmp_path, launch, opts=None):
    java, jar = tools.java(), tools.tla2tools_jar()
    return tlc.command(java, jar, "Spec", "Spec.cfg", tmp_path / "meta", opts or RunOptions(timeout=5), (), launch)


def test_command_carries_options_library_and_simulation(tmp_path):
    lib, jar = tmp_path / "modules", tmp_path / "CommunityModules.jar"
    launch = tlc.Launch(tlc=("-deadlock",), jvm=("-Xmx1g",), library=(lib, jar), simulate=Simulation(50, 10, 4))
    cmd = _cmd(tmp_path, launch, RunOptions(timeout=5, workers=2))
    assert "-Xmx1g" in cmd and f"-DTLA-Library={lib}" in cmd
    assert cmd[cmd.index("-cp") + 1].endswith(f":{jar}")
    joined = " ".join(cmd)
    assert "-workers 2" in joined and "-simulate num=50 -depth 10 -seed 4" in joined and "-deadlock" in joined
    assert cmd[-1] == "Spec.tla" and "-coverage" not in cmd


def test_server_command_has_no_workers_switch(tmp_path):
    cmd = _cmd(tmp_path, tlc.Launch(main="tlc2.tool.distributed.TLCServer"))
    assert "tlc2.tool.distributed.TLCServer" in cmd and "-workers" not in cmd


def test_cfg_keywords_are_read_from_the_jar():
    known = tlc.cfg_keywords(tools.tla2tools_jar())
    assert {"INVARIANT", "PROPERTY", "CONSTANT", "SYMMETRY"} <= known
    if "TLC2 Version 2.15" in (tools.tlc_version() or ""):
        assert not {"CHECK_DEADLOCK", "ALIAS", "POSTCONDITION"} & known


def test_check_deadlock_false_becomes_the_deadlock_switch(folder):
    cfg = folder / "NoDeadlock.cfg"
    cfg.write_text("CONSTANTS Max = 3 Limit = 3\nINIT Init \\* start\nNEXT Next\nCHECK_DEADLOCK FALSE\n")
    names = cfgfile.read_cfg(cfg)
    assert names.check_deadlock is False and "CHECK_DEADLOCK" in names.keywords
    assert "CHECK_DEADLOCK" not in cfgfile.without_keyword(cfg, "CHECK_DEADLOCK")
    path = write(folder, "require_refutation: false\nmodels:" + BASE.replace("Counter_pass.cfg", "NoDeadlock.cfg"))
    launch = tlc.launch_for(load_manifest(path)[0], RunOptions(timeout=5), tools.tla2tools_jar())
    if "CHECK_DEADLOCK" not in tlc.cfg_keywords(tools.tla2tools_jar()):
        assert launch.tlc == ("-deadlock",) and "CHECK_DEADLOCK" not in launch.cfg_text


def test_alias_needs_a_newer_tlc_at_validation(folder):
    if "ALIAS" in tlc.cfg_keywords(tools.tla2tools_jar()):
        pytest.skip("this TLC knows ALIAS")
    (folder / "Alias.cfg").write_text("CONSTANTS Max = 3 Limit = 3\nINIT Init\nNEXT Next\nALIAS Vars\n")
    path = write(folder, "require_refutation: false\nmodels:" + BASE.replace("Counter_pass.cfg", "Alias.cfg"))
    with pytest.raises(ToolMissing, match="uses ALIAS, which needs TLC >= 2.16.*TLA2TOOLS_JAR"):
        tlc.check_features(load_manifest(path))


def test_only_property_keeps_everything_else(tmp_path):
    cfg = tmp_path / "p.cfg"
    cfg.write_text("CONSTANT N = 2\nSPECIFICATION Spec\nPROPERTIES A B\n  C\nINVARIANT Inv\n")
    text = cfgfile.only_property(cfg, "B")
    assert cfgfile.read_cfg(Path(_write(tmp_path, text))).properties == ("B",)
    assert "INVARIANT Inv" in text and "CONSTANT N = 2" in text


def _write(folder: Path, text: str) -> str:
    path = folder / "rewritten.cfg"
    path.write_text(text)
    return str(path)


def test_box_properties_map_the_reported_name(tmp_path):
    spec = tmp_path / "S.tla"
    spec.write_text("AlwaysSmall == []Small\nInline == [](x < 3)\n(* Hidden == []Nope *)\nLive == <>[]P\n")
    assert tlc.box_properties(spec, ("AlwaysSmall", "Inline", "Live")) == {"Small": "AlwaysSmall", "Inline": "Inline"}


# --- messages and exit codes ---------------------------------------------------------------------------

def test_markers_count_only_at_line_start():
    text = ('@!@!@STARTMSG 2110:1 @!@!@\nInvariant Small is violated.\n@!@!@ENDMSG 2110 @!@!@\n'
            '"@!@!@STARTMSG 2193:0 @!@!@"\nx @!@!@STARTMSG 2193:0 @!@!@\n: @!@!@STARTMSG 2193:0 @!@!@\n')
    out = messages.parse(text)
    assert out.codes() == {2110}
    assert any("STARTMSG 2193" in line for line in out.plain)


def test_nested_marker_after_colon_inside_an_exception_message():
    text = ("@!@!@STARTMSG 1000:1 @!@!@\nThe exception was a tlc2.tool.EvalException\n"
            ": @!@!@STARTMSG 2132:0 @!@!@\nAssert failed\n@!@!@ENDMSG 2132 @!@!@\n@!@!@ENDMSG 1000 @!@!@\n")
    out = messages.parse(text)
    assert [m.code for m in out.walk()] == [1000, 2132]


def test_every_exit_code_of_the_jar_is_known():
    """TLC's own list (tlc2.output.EC$ExitStatus): a new code fails here until the verdict knows it."""
    javap = shutil.which("javap")
    if javap is None:
        pytest.skip("javap (JDK) not installed: cannot read TLC's exit codes from the jar")
    import subprocess
    proc = subprocess.run([javap, "-constants", "-cp", tools.tla2tools_jar(), "tlc2.output.EC$ExitStatus"],
                          capture_output=True, text=True, timeout=60)
    import re
    codes = {int(v) for v in re.findall(r"static final int \w+ = (\d+);", proc.stdout)}
    assert codes and codes <= set(verdict.EXIT_CODES), sorted(codes - set(verdict.EXIT_CODES))
    ruled = {rule.rc for rule in verdict.RULES}
    # every exit code that announces a result has a rule; the rest are crashes with their meaning
    assert {0, 10, 11, 12, 13, 14, 75, 76, 77, 150, 151} <= ruled


@pytest.mark.parametrize("rc,meaning", [(152, "state space too large"), (153, "TLC system error"),
                                        (1, "bad command line")])
def test_exit_codes_without_a_result_are_crashes_with_their_meaning(rc, meaning):
    outcome = verdict.judge(messages.parse("Error: something\n"), rc)
    assert outcome.kind == "crash" and f"TLC exited {rc} ({meaning})" in outcome.detail


def test_simulation_without_violation_is_never_a_pass():
    text = ("@!@!@STARTMSG 2188:0 @!@!@\nRunning Random Simulation with seed 7\n@!@!@ENDMSG 2188 @!@!@\n"
            "@!@!@STARTMSG 2209:0 @!@!@\nProgress(-1) at x: 1001 states generated, -1 distinct states found, "
            "-1 states left on queue.\n@!@!@ENDMSG 2209 @!@!@\n")
    outcome = verdict.judge(messages.parse(text), 0, simulation=Simulation(50, 20).describe())
    assert outcome.kind == "no-violation" and outcome.result == "no violation in 50 behaviours up to depth 20"
    assert outcome.total == 1001 and outcome.distinct is None


def test_worker_commands_for_other_hosts_are_printed_not_run(folder):
    from checks.specs import distributed
    entry = load_manifest(write(folder, "models:" + BASE + INV))[0]
    lines = distributed.plan(entry, {"server": "10.0.0.1", "hosts": ["10.0.0.2"], "port": 12000, "threads": 4})
    assert lines[0].startswith("# on 10.0.0.1") and "TLCServer" in lines[1] and "Counter.tla" in lines[1]
    assert "-Djava.rmi.server.hostname=10.0.0.1" in lines[1] and "TLCServer.port=12000" in lines[1]
    assert lines[2] == "# on 10.0.0.2:" and lines[3].endswith("TLCWorker 10.0.0.1") and "threadCount=4" in lines[3]
    for bad, needle in (({"hosts": ["h"]}, "needs specs.distributed.server"),
                        ({"server": "a; rm -rf /", "hosts": ["h"]}, "a host name or address"),
                        ({"server": "s", "hosts": ["h"], "port": 0}, "port must be a positive integer")):
        with pytest.raises(UsageError, match=needle):
            distributed.plan(entry, bad)


def test_distributed_runs_only_on_loopback():
    from checks.specs import distributed
    assert distributed.LOOPBACK == "127.0.0.1"
    assert distributed.rmi_options(4000) == ("-Djava.rmi.server.hostname=127.0.0.1",
                                             "-Dtlc2.tool.distributed.TLCServer.port=4000")
    assert 0 < distributed.free_port() < 65536


# --- tlaplus/Examples manifest.json --------------------------------------------------------------------

EXAMPLES = FIXTURES / "examples_repo" / "specifications" / "tiny" / "manifest.json"


def test_examples_entries_map_results_modes_and_tiers(tmp_path):
    from checks.specs.examples import load_examples_manifest
    from checks.specs.runner import select
    entries = {e.name: e for e in load_examples_manifest(EXAMPLES)}
    assert entries["Tiny"].expect == "pass" and (entries["Tiny"].distinct, entries["Tiny"].total) == (4, 5)
    assert entries["Tiny"].spec_path == EXAMPLES.parent / "Tiny.tla" and entries["Tiny"].tier == "fast"
    assert entries["Tiny_safety"].expect == "invariant" and entries["Tiny_liveness"].expect == "property"
    assert entries["models.Tiny_sim"].simulate == Simulation(50, 100)
    symbolic = entries["Tiny_symbolic"]
    assert symbolic.skip and symbolic.apalache is not None and symbolic.apalache.inv == ("InRange",)
    assert [e.name for e in select(list(entries.values()), "all", None, "apalache")] == ["Tiny_symbolic"]


def test_examples_generate_unknown_and_slow_models(tmp_path):
    import json
    from checks.specs.examples import load_examples_manifest
    shutil.copytree(FIXTURES / "examples_repo", tmp_path / "repo")
    path = tmp_path / "repo" / "specifications" / "tiny" / "manifest.json"
    data = json.loads(path.read_text())
    models = data["modules"][0]["models"]
    models[0].update(mode="generate", runtime="00:05:00")
    models[1].update(result="unknown")
    path.write_text(json.dumps(data))
    entries = {e.name: e for e in load_examples_manifest(path)}
    assert entries["Tiny"].simulate == Simulation(100, 100) and entries["Tiny"].tier == "slow"
    assert entries["Tiny"].distinct is None          # counts belong to exhaustive runs only
    assert entries["Tiny_safety"].skip == "result unknown in manifest.json"
