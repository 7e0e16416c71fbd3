"""mps-verify's commands: the CLIs, the spec runner and the gate (over analyzers/, over mpsverify_base/)."""

from mpsverify_base import __version__  # noqa: F401
