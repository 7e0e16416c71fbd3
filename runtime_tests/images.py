"""Which shared libraries this process has loaded, and the preload variable of this OS."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def preload_variable() -> str:
    """The environment variable that injects a library: DYLD_INSERT_LIBRARIES on macOS, else LD_PRELOAD."""
    return "DYLD_INSERT_LIBRARIES" if sys.platform == "darwin" else "LD_PRELOAD"


def loaded_images() -> list[str]:
    """Paths of the images mapped into this process (dyld image list on macOS, /proc/self/maps on Linux)."""
    if sys.platform == "darwin":
        import ctypes

        libc = ctypes.CDLL("/usr/lib/libSystem.B.dylib")  # dyld's API lives in libSystem
        libc._dyld_image_count.restype = ctypes.c_uint32
        libc._dyld_get_image_name.restype = ctypes.c_char_p
        libc._dyld_get_image_name.argtypes = [ctypes.c_uint32]
        return [libc._dyld_get_image_name(i).decode(errors="replace") for i in range(libc._dyld_image_count())]
    images: list[str] = []
    with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
        for line in maps:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith("/") and parts[5].strip() not in images:
                images.append(parts[5].strip())
    return images


def is_loaded(library: str, images: list[str] | None = None) -> bool:
    """Whether `library` (a path) is among the loaded images, comparing resolved paths."""
    target = os.path.realpath(library)
    for image in loaded_images() if images is None else images:
        if image == library or os.path.realpath(image) == target:
            return True
    return False


def resolve_library(path: str, base: Path) -> str:
    """An absolute path for a preload library named relative to `base` (the preload variable needs one)."""
    p = Path(os.path.expandvars(os.path.expanduser(path)))
    return str(p if p.is_absolute() else (base / p).resolve())
