"""Locating external tools; it lives in the base (mpsverify_base.tools), re-exported here."""

from mpsverify_base.tools import (INSTALL_HINTS, apalache, apalache_version, clang_version,  # noqa: F401
                                  clangxx, java, java_version, require, tla2tools_jar, tlc_version,
                                  torch_version)
