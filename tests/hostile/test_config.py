"""Config errors are specific, and config cannot make the analyzers blow up (issue #15, parts 3 and 4)."""

import time

import pytest

from analyzers.hierarchy import catastrophic, load_hierarchy
from checks import cli, structural
from checks.config import MAX_YAML_NODES, read_yaml


def _bomb(levels: int = 12) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


CASES = {   # file name, content -> what the one-line error names
    "wrong type": ("mps-verify.yaml", "gate:\n  strict: 3\n", "gate.strict must be a boolean"),
    "false as a string": ("mps-verify.yaml", "gate:\n  strict: 'false'\n", "gate.strict must be a boolean"),
    "string for a list": ("mps-verify.yaml", "structural:\n  exclude: '*.mm'\n", "structural.exclude must be a list"),
    "list of non-strings": ("mps-verify.yaml", "gate:\n  paths: [1, 2]\n", "gate.paths must be a list of strings"),
    "integer for depth": ("mps-verify.yaml", "lockgraph:\n  depth: deep\n", "lockgraph.depth must be int"),
    "section not a mapping": ("mps-verify.yaml", "structural: [a]\n", "[structural] must be a mapping"),
    "not a mapping": ("mps-verify.yaml", "- a\n- b\n", "settings must be a mapping"),
    "non-UTF-8 YAML": ("mps-verify.yaml", b"structural:\n  exclude: ['\xff']\n", "not UTF-8"),
    "deep YAML": ("mps-verify.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n", "mps-verify.yaml"),
    "deep YAML blocks": ("mps-verify.yaml", "".join(f"{' ' * i}k{i}:\n" for i in range(200)) + " " * 200 + "v\n",
                         "nested deeper than"),
    "alias bomb": ("mps-verify.yaml", _bomb(), "alias bomb"),
    "invalid pyproject": ("pyproject.toml", "[tool.mps-verify\nx = 1\n", "not valid TOML"),
    "non-UTF-8 TOML": ("pyproject.toml", b"[tool.mps-verify.gate]\npaths = ['\xfe']\n", "not UTF-8"),
    "deep TOML": ("pyproject.toml", "[tool.mps-verify]\nx = " + "[" * 100000 + "]" * 100000 + "\n", "pyproject.toml"),
    "wrong TOML type": ("pyproject.toml", "[tool.mps-verify.structural]\nrules = 'ST.001'\n",
                        "structural.rules must be a list"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_errors_are_one_line_naming_file_and_key(tmp_path, capsys, case):
    name, content, needle = CASES[case]
    config = tmp_path / name
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "a.mm").write_text("void f() {}\n")
    start = time.process_time()
    code = cli.run(structural.main, [str(tmp_path / "a.mm"), "--config", str(config), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "internal error" not in err, err
    assert needle in err and str(config) in err, err
    assert time.process_time() - start < 10


def test_unknown_keys_are_a_warning_naming_the_key(tmp_path, capsys):
    config = tmp_path / "mps-verify.yaml"
    config.write_text("structural:\n  exlude: ['*.h']\nstructral: {}\n")
    (tmp_path / "a.mm").write_text("void f() {}\n")
    assert cli.run(structural.main, [str(tmp_path / "a.mm"), "--config", str(config), "--no-cache"]) == 0
    err = capsys.readouterr().err
    assert "unknown key structural.exlude" in err and "unknown section 'structral'" in err


def test_a_billion_laughs_is_rejected_before_it_is_expanded(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text(_bomb(12))       # 10^12 values once expanded
    start = time.process_time()
    with pytest.raises(cli.UsageError, match=str(MAX_YAML_NODES)):
        read_yaml(path, "lock hierarchy")
    assert time.process_time() - start < 5


def test_a_small_alias_is_fine(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("a: &x [1, 2]\nb: *x\n")
    assert read_yaml(path, "test") == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w|\w\w)*x", r"((m_)+mutex)*", r"(.*a){12}", r"(x)\1"])
def test_catastrophic_hierarchy_patterns_are_rejected(tmp_path, pattern):
    assert catastrophic(pattern)
    path = tmp_path / "h.yaml"
    path.write_text(f"locks:\n  - name: bad\n    kind: mutex\n    level: 1\n    patterns: ['{pattern}']\n")
    with pytest.raises(cli.UsageError, match="pattern"):
        load_hierarchy(path)


def test_the_project_hierarchy_passes_the_pattern_check():
    assert load_hierarchy().locks
    assert not catastrophic(r"(?:^|->|\.)m_mutex$") and not catastrophic(r"stream->queue\(\)")


def test_a_long_lock_expression_is_matched_in_bounded_time():
    from analyzers.hierarchy import LockClass

    lock = LockClass("x", "mutex", 1, patterns=(r"a*a*b",))    # cubic, not exponential: allowed
    start = time.process_time()
    assert not lock.matches("a" * 100_000)
    assert time.process_time() - start < 1
