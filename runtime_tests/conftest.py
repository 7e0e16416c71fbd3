"""Shared fixtures for the runtime tests: a tiny preload library built with gcc, a CPU round spec."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).with_name("fixtures")


@pytest.fixture(scope="session")
def probe_library(tmp_path_factory) -> Path:
    """A do-nothing shared library (gcc -shared -fPIC) to preload into a child."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("gcc is needed to build the preload probe (apt-get install gcc)")
    folder = tmp_path_factory.mktemp("probe")
    source = folder / "probe.c"
    source.write_text("int mps_verify_probe(void) { return 42; }\n", encoding="utf-8")
    library = folder / "libmpsverify_probe.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


@pytest.fixture
def cpu_round() -> dict:
    """A small CPU round: 4 threads x 10 iterations of the MLP."""
    return {"mode": "round", "workload": "mlp", "size": "quick", "device": "cpu", "threads": 4, "iterations": 10}
