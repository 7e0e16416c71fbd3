"""The configuration matrix: the packaged file is valid; bad files fail with one clear error."""

import pytest

from checks.cli import UsageError
from runtime_tests import configs

pytestmark = pytest.mark.quick


def test_packaged_matrix_names_a_model_for_every_configuration():
    matrix = configs.load()
    names = [c.name for c in matrix.configurations]
    assert names[:4] == ["native_threads", "python_lock", "batched", "graph_path"]
    assert all(c.model for c in matrix.configurations)
    assert {"quick", "full"} <= set(matrix.plans)
    assert matrix.plans["full"]["rounds"] >= 29  # large enough to see a 10% crash rate (crosscheck)
    by = {c.name: c for c in matrix.configurations}
    assert by["python_lock"].python_lock and by["batched"].batched and by["graph_path"].env


def test_preload_from_an_unset_variable_skips_the_configuration(monkeypatch):
    monkeypatch.delenv("MPS_VERIFY_PRELOAD", raising=False)
    fix = {c.name: c for c in configs.load().configurations}["preload_fix"]
    assert fix.preload is None and fix.preload_unset == "MPS_VERIFY_PRELOAD"
    monkeypatch.setenv("MPS_VERIFY_PRELOAD", "/opt/fix/libfix.so")
    fix = {c.name: c for c in configs.load().configurations}["preload_fix"]
    assert fix.preload == "/opt/fix/libfix.so" and fix.preload_unset is None


@pytest.mark.parametrize("text, message", [
    ("configurations: [", "not valid YAML"),
    ("plans: {}", "needs a 'configurations' list"),
    ("configurations: [{description: x}]", "needs a name"),
    ("configurations: [{name: a, colour: red}]", "unknown keys colour"),
    ("configurations: [{name: a}, {name: a}]", "unique"),
    ("configurations: [{name: a, fault: melt}]", "fault must be one of"),
    ("configurations: [{name: a}]\nplans: {quick: {workloads: [resnet]}}", "unknown workloads resnet"),
    ("configurations: [{name: a}]\nplans: {quick: {workloads: [mlp], rounds: 0}}", "rounds must be a positive"),
    ("configurations: [{name: a}]\nplans: {quick: {workloads: [mlp], perf: {batcher_workloads: [mlp], "
     "batcher_widths: {mlp: [0]}}}}", "batcher_widths must map"),
    ("configurations: [{name: a}]\nplans: {quick: {workloads: [mlp], perf: {batcher_workloads: [mlp], "
     "batcher_widths: {linear: [64]}}}}", "batcher_widths must map"),
])
def test_bad_matrices_are_usage_errors(tmp_path, text, message):
    path = tmp_path / "configs.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        configs.load(path)


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read"):
        configs.load(tmp_path / "nope.yaml")

