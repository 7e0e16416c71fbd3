"""A resident analyzer process: `python -m checks.daemon run structural PATH` answers from a server that keeps
its modules, compiled rules and last results in memory, so a re-run after an edit pays only for the edit."""
