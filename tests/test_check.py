"""`make check` (python -m checks.check): one summary over the specs and the analyzers on the torch headers."""

from checks import check


def test_summaries_read_each_parts_json():
    assert check._specs({"summary": {"models": 2, "matched": 1},
                         "models": [{"name": "A", "match": True, "outcome": {"distinct": 10}},
                                    {"name": "B", "match": False, "outcome": {"distinct": 5}}]}) == \
        "1/2 models as the manifest expects; 15 distinct states; MISMATCH: B"
    assert "0 thread-safety annotations in 41 files (upstream PyTorch has none)" in check._tsa(
        {"totals": {"files": 41, "annotations": 0, "classes": 3, "guarded": 0, "need": 24, "coverage": 0.0}})
    assert check._lockgraph({"graph": {"nodes": [1, 2], "edges": [1], "cycles": [], "violations": [],
                                       "unknown": [1]}}) == \
        "2 lock classes, 1 edges, 0 cycles, 0 against the hierarchy, 1 unknown to it"


def test_worst_exit_code_wins(monkeypatch, capsys):
    def fake(part):
        part.exit_code = {"specs (fast tier, TLC)": 0}.get(part.name, 1)
        part.line = "x"
        return part

    monkeypatch.setattr(check, "run_part", fake)
    assert check.main([]) == 1
    assert "mps-verify check" in capsys.readouterr().out


def test_a_part_that_cannot_run_reports_its_error_line():
    part = check.run_part(check.Part("broken", ["checks.structural", "/nonexistent/path"], check._structural))
    assert part.exit_code == 2 and part.error and "nonexistent" in part.line
