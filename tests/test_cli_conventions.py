"""The shared CLI conventions: exit codes, one-line errors, config discovery, provenance."""

import subprocess
import sys
from pathlib import Path

import pytest

from checks import cli, config, corpus, provenance

ROOT = Path(__file__).resolve().parent.parent


def _boom(_argv):
    raise ValueError("kaboom")


def test_usage_error_is_one_line_exit_2(capsys):
    def main(argv):
        cli.parser("prog", "d").parse_args(argv)
        return 0

    assert cli.run(main, ["--nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


def test_tool_missing_is_exit_3(capsys):
    def main(_argv):
        raise cli.ToolMissing("java not found; install it")

    assert cli.run(main, []) == 3
    assert "install" in capsys.readouterr().err


def test_internal_error_has_no_traceback_without_debug(capsys):
    assert cli.run(_boom, []) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "kaboom" in err and len(err.strip().splitlines()) == 1


def test_internal_error_traceback_with_debug(capsys):
    assert cli.run(_boom, ["--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_config_from_pyproject_and_yaml(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.mps-verify]\nstructural = {exclude = ["*.metal"]}\n')
    sub = tmp_path / "aten" / "mps"
    sub.mkdir(parents=True)
    assert config.load_config(None, sub) == {"structural": {"exclude": ["*.metal"]}}
    (tmp_path / "mps-verify.yaml").write_text("tsa:\n  prefixes: [MPS_]\n")
    assert config.load_config(None, sub) == {"tsa": {"prefixes": ["MPS_"]}}


def test_bad_config_is_usage_error(tmp_path):
    bad = tmp_path / "mps-verify.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(cli.UsageError):
        config.load_config(bad)


def test_corpus_uri_comes_from_apt_sources(tmp_path):
    src = tmp_path / "debian.sources"
    src.write_text("Types: deb\nURIs: http://mirror.example/debian-security\n\n"
                   "Types: deb\nURIs: http://mirror.example/debian/\n")
    assert corpus.archive_uri((src,)) == "http://mirror.example/debian"
    with pytest.raises(cli.UsageError):
        corpus.archive_uri((tmp_path / "missing",))


def test_provenance_has_versions():
    info = provenance.tool_info(ROOT, external=("java", "torch"))
    assert info["name"] == "mps-verify" and info["version"]
    assert "java" in info and "torch" in info


def test_corpus_cli_bad_tarball_exit_2():
    proc = subprocess.run([sys.executable, "-m", "checks.corpus", "--tarball", "/nonexistent.tar.xz",
                           "--dest", "/tmp/mps-verify-nowhere", "--force"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_ignored_path_has_no_git_hash(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "x"], check=True)
    (tmp_path / ".gitignore").write_text(".venv/\n")
    (tmp_path / ".venv" / "include").mkdir(parents=True)
    assert provenance.git_hash(tmp_path / ".venv" / "include") is None
    assert provenance.git_hash(tmp_path)


def test_git_hash_of_a_dirty_tree_and_of_a_git_that_hangs(tmp_path, monkeypatch):
    import time

    from mpsverify_base import provenance as base
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a").write_text("1\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "a"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "-m", "x"], check=True)
    head = provenance.git_hash(tmp_path)
    assert len(head) == 40
    (tmp_path / "a").write_text("2\n")
    assert provenance.git_hash(tmp_path) == head + "-dirty"
    monkeypatch.setattr(base, "_GIT", "echo started; sleep 30")
    monkeypatch.setattr(base, "GIT_TIMEOUT_S", 0.3)
    start = time.monotonic()
    assert provenance.git_hash(tmp_path) is None
    assert time.monotonic() - start < 10       # the hung git was killed, not waited for


def test_git_hash_where_posix_spawn_cannot_start_a_session(tmp_path, monkeypatch):
    import os

    from mpsverify_base import provenance as base
    spawn = os.posix_spawn

    def no_setsid(*args, **kwargs):
        if kwargs.pop("setsid", False):
            raise NotImplementedError("setsid")
        return spawn(*args, **kwargs)
    monkeypatch.setattr(os, "posix_spawn", no_setsid)
    assert provenance.git_hash(ROOT) and provenance.git_hash(tmp_path) is None
    monkeypatch.setattr(base, "_GIT", "sleep 30")
    monkeypatch.setattr(base, "GIT_TIMEOUT_S", 0.3)
    assert provenance.git_hash(ROOT) is None


def test_tlc_version_is_the_whole_banner():
    from checks import tools

    version = tools.tlc_version()
    assert version.startswith("TLC2 Version 2.") and version.count("(") == version.count(")")
