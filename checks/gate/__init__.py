"""The CI gate for pull requests of a PyTorch fork: new findings only, as SARIF, annotations and a summary."""
