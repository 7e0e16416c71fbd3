"""The PyTorch 2.6.0 MPS tree for tests: skipped when absent, failed instead under MPS_VERIFY_REQUIRE_CORPUS=1."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from checks.sources import CORPUS_DIR, MPS_SUBDIRS


def missing(message: str) -> None:
    """Skip the test (fail it when `make test` requires the corpus)."""
    if os.environ.get("MPS_VERIFY_REQUIRE_CORPUS") == "1":
        pytest.fail(f"{message} (MPS_VERIFY_REQUIRE_CORPUS=1)")
    pytest.skip(message)


def mps_dirs() -> list[Path]:
    """The tree's two MPS folders."""
    dirs = [CORPUS_DIR / sub for sub in MPS_SUBDIRS]
    if not all(d.is_dir() for d in dirs):
        missing(f"PyTorch 2.6.0 MPS tree not found under {CORPUS_DIR}; run `make corpus`")
    return dirs


def mps_copy(tmp_path: Path, monkeypatch) -> Path:
    """A copy of the tree's two MPS folders (under aten/src/ATen, which it returns) with a cache of its own."""
    for sub, src in zip(MPS_SUBDIRS, mps_dirs()):
        shutil.copytree(src, tmp_path / sub)
    monkeypatch.setenv("MPS_VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "aten" / "src" / "ATen"


def edit_randomly(rng: random.Random, paths: list[Path]) -> None:
    """One edit of one to three of `paths`: a line dropped, doubled or moved in each."""
    for path in rng.sample(paths, rng.randint(1, min(3, len(paths)))):
        lines = path.read_text(errors="replace").split("\n")
        k = rng.randrange(len(lines))
        how = rng.choice(["drop", "double", "move"])
        if how == "drop":
            del lines[k]
        elif how == "double":
            lines.insert(k, lines[k])
        else:
            lines.insert(rng.randrange(len(lines)), lines.pop(k))
        path.write_text("\n".join(lines))

