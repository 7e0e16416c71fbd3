"""Where the project's own files are: the checkout root and the pinned PyTorch 2.6.0 corpus."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("MPS_VERIFY_CORPUS", REPO_ROOT / ".mps-verify" / "corpus" / "pytorch-2.6.0"))
MPS_SUBDIRS = ("aten/src/ATen/mps", "aten/src/ATen/native/mps")
# The declared lock hierarchy lives with the specs; specs/ is not a package, so an installed copy
# (pip install, the pre-commit hook's environment) reads the one packaged here (a link to it in git).
LOCK_HIERARCHY = REPO_ROOT / "specs" / "lock_hierarchy.yaml"
if not LOCK_HIERARCHY.is_file():
    LOCK_HIERARCHY = Path(__file__).with_name("lock_hierarchy.yaml")
