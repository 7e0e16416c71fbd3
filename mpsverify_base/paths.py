"""Where the project's own files are: the checkout root and the pinned PyTorch 2.6.0 corpus."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = Path(os.environ.get("MPS_VERIFY_CORPUS", REPO_ROOT / ".mps-verify" / "corpus" / "pytorch-2.6.0"))
MPS_SUBDIRS = ("aten/src/ATen/mps", "aten/src/ATen/native/mps")
