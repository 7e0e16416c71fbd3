"""The integrations, run by their real clients: our pre-commit hooks through `pre-commit try-repo`, and the
fork workflow through `actionlint`. Both tools are dev dependencies; the tests skip only when they are absent."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from checks.daemon import protocol
from checks.sources import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures"
WORKFLOW = REPO_ROOT / "ci" / "github" / "mps-verify.yml"
SCRIPTS = Path(sysconfig.get_paths()["scripts"])


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(SCRIPTS)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install 'mps-verify[dev]')")
    return found


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


@pytest.fixture(scope="module")
def fork(tmp_path_factory):
    """A tiny fork: one MPS file with an ST.001.a finding, one clean, one header, all staged."""
    repo = tmp_path_factory.mktemp("fork")
    native, mps = repo / "aten/src/ATen/native/mps", repo / "aten/src/ATen/mps"
    native.mkdir(parents=True)
    mps.mkdir(parents=True)
    shutil.copy(FIXTURES / "structural/ST.001.a_flag.mm", native / "Fill.mm")
    shutil.copy(FIXTURES / "structural/ST.001.a_pass.mm", mps / "Clean.mm")
    shutil.copy(FIXTURES / "structural/ST.014.a_pass.h", mps / "MPSEvent.h")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    return repo


def try_repo(fork: Path, hook: str, *files: str, home: Path, **extra: str) -> subprocess.CompletedProcess:
    """`pre-commit try-repo <this checkout> HOOK --files ...` in the fork, offline.

    The hook is `language: python`: pre-commit builds a virtualenv and pip-installs this checkout into it.
    Offline, pip may not fetch anything (no index, no build isolation, no dependencies); the dependencies
    come from the environment running the tests, through PYTHONPATH."""
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PIP_NO_INDEX": "1", "PIP_NO_DEPS": "1",
           "PIP_NO_BUILD_ISOLATION": "0",   # pip reads "0" as --no-build-isolation
           "PYTHONPATH": sysconfig.get_paths()["purelib"], **extra}
    return subprocess.run([_tool("pre-commit"), "try-repo", str(REPO_ROOT), hook, "--files", *files], cwd=fork,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("pre-commit-home")


def test_pre_commit_structural_hook_fails_on_a_flagged_file(fork, home):
    proc = try_repo(fork, "mps-verify-structural", "aten/src/ATen/native/mps/Fill.mm", home=home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "mps-verify structural checks (MPS C++/ObjC++)" in proc.stdout and "Failed" in proc.stdout
    assert "Fill.mm:8:42: error: stream->commandEncoder() fetches stream state outside the stream queue" in proc.stdout
    assert "[ST.001.a]" in proc.stdout


def test_pre_commit_structural_hook_passes_a_clean_file(fork, home):
    proc = try_repo(fork, "mps-verify-structural", "aten/src/ATen/mps/Clean.mm", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout


def test_pre_commit_structural_daemon_hook_answers_as_the_plain_hook(fork, home, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    try:
        proc = try_repo(fork, "mps-verify-structural-daemon", "aten/src/ATen/native/mps/Fill.mm", home=home,
                        XDG_RUNTIME_DIR=str(run_dir))
        sockets = list((run_dir / "mps-verify").glob("*.sock"))
    finally:
        for path in (run_dir / "mps-verify").glob("*.sock"):    # the hook's interpreter is pre-commit's: a
            assert protocol.ask(str(path), {"op": "stop"}) == {"stale": True}     # request of ours stops it
    assert len(sockets) == 1, proc.stdout + proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Fill.mm:8:42: error: stream->commandEncoder() fetches stream state outside the stream queue" in proc.stdout
    assert "note: mps-verify daemon unavailable" not in proc.stdout


def test_pre_commit_tsa_hook_runs_on_headers_only(fork, home):
    proc = try_repo(fork, "mps-verify-tsa", "aten/src/ATen/mps/MPSEvent.h", "aten/src/ATen/mps/Clean.mm", home=home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mps-verify thread-safety annotation inventory" in proc.stdout and "Passed" in proc.stdout


def test_actionlint_accepts_the_fork_workflow():
    proc = subprocess.run([_tool("actionlint"), "-no-color", str(WORKFLOW)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_rejects_a_broken_copy(tmp_path):
    broken = tmp_path / "mps-verify.yml"
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "runs-on: ubuntu-latest\n" in text
    broken.write_text(text.replace("runs-on: ubuntu-latest\n", "runs-on: ubuntu-latest\n    timeout-minutes: soon\n", 1))
    proc = subprocess.run([_tool("actionlint"), "-no-color", str(broken)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "timeout-minutes" in proc.stdout
