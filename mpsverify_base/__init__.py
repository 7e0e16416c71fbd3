"""The base every layer of mps-verify stands on; it imports nothing of ours.

Layers, each importing only those below it: runtime_tests > checks > analyzers > mpsverify_base.
"""

__version__ = "0.1.0"
