"""The PyTorch 2.6.0 MPS tree for tests: skipped when absent, failed instead under MPS_VERIFY_REQUIRE_CORPUS=1."""

from __future__ import annotations

import os
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
