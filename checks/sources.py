"""Where the MPS sources come from: the installed torch wheel's headers and the 2.6.0 corpus."""

from __future__ import annotations

from importlib import util
from pathlib import Path

from mpsverify_base.errors import UsageError
from mpsverify_base.paths import CORPUS_DIR, MPS_SUBDIRS, REPO_ROOT  # noqa: F401


def torch_include() -> Path:
    """The include/ folder of the installed torch wheel, found without importing torch."""
    spec = util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("torch is not installed; run `make check` (it installs the runtime extra) "
                         "or `pip install 'mps-verify[runtime]'`")
    return Path(next(iter(spec.submodule_search_locations))) / "include"


def torch_mps_headers() -> list[Path]:
    """The MPS header folders shipped in the torch wheel (ATen/mps, ATen/native/mps)."""
    inc = torch_include()
    dirs = [inc / "ATen" / "mps", inc / "ATen" / "native" / "mps"]
    found = [d for d in dirs if d.is_dir()]
    if not found:
        raise UsageError(f"no MPS headers under {inc} (expected ATen/mps and ATen/native/mps)")
    return found


def corpus_mps_dirs(root: Path = CORPUS_DIR) -> list[Path]:
    """The two MPS folders of the PyTorch 2.6.0 corpus; an error telling to run `make corpus` if absent."""
    dirs = [root / sub for sub in MPS_SUBDIRS]
    if not all(d.is_dir() for d in dirs):
        raise UsageError(f"PyTorch 2.6.0 MPS tree not found under {root}; run `make corpus`")
    return dirs
