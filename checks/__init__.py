"""mps-verify: verification toolkit for the thread safety of PyTorch's MPS backend."""

__version__ = "0.1.0"
