"""`checks.structural --context DIR PATHS`: the whole tree analysed, only the findings in (or through) PATHS
reported, as the pre-commit hook runs on staged files. Analysed alone, a file's cross-file rules see none of
its callers, callees or lock partners: on the 2.6.0 MPS tree that missed 14 of 42 findings (the
BinaryKernel.mm lock-order cycle among them) and made 17 that the whole tree does not have."""

from __future__ import annotations

from pathlib import Path

import pytest

from checks.sources import CORPUS_DIR
from tests.corpus_tree import mps_dirs
from tests.test_structural_cli import cli as run_cli

FIX = Path(__file__).resolve().parent / "fixtures" / "structural"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))


def cli(cwd: Path, *argv: str) -> tuple[int, str, str]:
    return run_cli(*argv, cwd=cwd)


def rules(out: str) -> set[tuple[str, str]]:
    """(path:line, rule) of each finding line of a text report."""
    found = set()
    for line in out.splitlines():
        if line.endswith("]") and ": " in line and "[ST." in line:
            found.add((line.split(":")[0] + ":" + line.split(":")[1], line.rsplit("[", 1)[1][:-1]))
    return found


@pytest.mark.corpus
def test_the_tree_as_context_finds_the_cycle_and_drops_what_lacked_context():
    mps_dirs()
    ctx = ("--context", "aten/src/ATen/mps", "--context", "aten/src/ATen/native/mps", "--root", ".")
    kernel, profiler = "aten/src/ATen/native/mps/operations/BinaryKernel.mm", "aten/src/ATen/mps/MPSProfiler.mm"
    _, alone, _ = cli(CORPUS_DIR, kernel, profiler, "--root", ".")
    code, focused, err = cli(CORPUS_DIR, *ctx, kernel, profiler)
    assert code == 1 and err == ""
    assert (f"{kernel}:49", "ST.009.a") in rules(focused) and (f"{kernel}:49", "ST.009.a") not in rules(alone)
    # alone, addProfilerCompletedHandler's caller context is unknown; the tree shows it runs on the queue
    assert (f"{profiler}:458", "ST.001.a") in rules(alone) and (f"{profiler}:458", "ST.001.a") not in rules(focused)
    assert {path.split(":")[0] for path, _ in rules(focused)} == {kernel, profiler}
    _, whole, _ = cli(CORPUS_DIR, *ctx)
    assert rules(focused) == {r for r in rules(whole) if r[0].split(":")[0] in (kernel, profiler)}


def test_only_the_focused_files_decide_the_exit_code(tmp_path):
    (tmp_path / "mps").mkdir()
    (tmp_path / "mps" / "Fill.mm").write_bytes((FIX / "ST.001.a_flag.mm").read_bytes())
    (tmp_path / "mps" / "Clean.mm").write_bytes((FIX / "ST.001.a_pass.mm").read_bytes())
    code, out, _ = cli(tmp_path, "--context", "mps", "mps/Clean.mm")
    assert code == 0 and "Fill.mm" not in out
    code, out, _ = cli(tmp_path, "--context", "mps", "mps/Fill.mm")
    assert code == 1 and out.startswith("Fill.mm:8:")      # root: the common parent, mps
    code, out, _ = cli(tmp_path, "--context", "mps")        # no paths: the whole context is reported
    assert code == 1 and "Fill.mm" in out


def test_a_missing_context_folder_is_a_one_line_usage_error(tmp_path):
    (tmp_path / "a.mm").write_text("void f() {}\n")
    code, out, err = cli(tmp_path, "--context", "nowhere", "a.mm")
    assert code == 2 and out == "" and err.strip() == "error: --context nowhere: not a directory"
    code, _, err = cli(tmp_path, "--context", ".", "--torch-headers")
    assert code == 2 and "not both" in err
