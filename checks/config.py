"""Settings reading for the commands; it lives in the base (mpsverify_base.config), re-exported here."""

from mpsverify_base.config import (CONFIG_NAMES, SAFE_LOADER, find_config, load_config, read_yaml,  # noqa: F401
                                   section)
