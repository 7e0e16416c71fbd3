"""Runtime stress tests: multi-threaded inference on MPS, CUDA or CPU, with statistics and a report."""
