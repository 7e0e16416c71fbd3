"""Analysis library: parser, code model, rules, lock graph (driven by the CLIs in checks/)."""
