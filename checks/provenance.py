"""What produced a result; it lives in the base (mpsverify_base.provenance), re-exported here."""

from mpsverify_base.provenance import git_hash, started_tool_info, tool_info  # noqa: F401
