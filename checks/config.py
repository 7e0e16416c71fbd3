"""Settings reading for the commands; it lives in the base (mpsverify_base.config), re-exported here."""

from mpsverify_base.config import (CONFIG_NAMES, MAX_INPUT_BYTES, MAX_NESTING, MAX_YAML_NODES,  # noqa: F401
                                   SCHEMA, STR_LIST, find_config, has_tool_table, load_config, parse_config,
                                   parse_yaml, read_input, read_text, read_yaml, section, str_list, validate)
