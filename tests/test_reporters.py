"""Reporters render the same Report consistently; SARIF carries what code scanning needs."""

import json

from analyzers.findings import Check, Finding, Related, Report
from analyzers.reporters import render


def _report():
    checks = [Check("ST.001", "stream state off the queue", "error", "why", "fix"),
              Check("ST.008", "global serialisation", "warning")]
    findings = [Finding("ST.001.a", "error", "mps/MPSStream.mm", 12, 5, "encoder fetched off queue",
                        function="at::mps::f", anchor="commandEncoder",
                        related=(Related("mps/MPSStream.mm", 3, "queue declared"),))]
    return Report(tool={"name": "mps-verify", "version": "0.1.0"}, root="/src", checks=checks,
                  findings=findings, files=2)


def test_text_has_location_and_summary():
    out = render(_report(), "text").splitlines()
    assert out[0] == "mps/MPSStream.mm:12:5: error: encoder fetched off queue [ST.001.a]"
    assert out[-1] == "2 checks: 1 passed, 1 failed, 0 warnings"


def test_json_shape():
    doc = json.loads(render(_report(), "json"))
    assert doc["summary"]["failed"] == 1 and doc["checks"][0]["status"] == "failed"
    assert set(doc["findings"][0]) >= {"rule", "severity", "path", "line", "col", "message", "function",
                                      "fingerprint"}


def test_fingerprint_ignores_line():
    a = _report().findings[0]
    b = Finding(a.rule, a.severity, a.path, a.line + 40, 1, a.message, a.function, a.anchor)
    assert a.fingerprint == b.fingerprint
    c = Finding(a.rule, a.severity, "mps/Other.mm", a.line, 1, a.message, a.function, a.anchor)
    assert a.fingerprint != c.fingerprint


def test_sarif_fields_for_code_scanning():
    run = json.loads(render(_report(), "sarif"))["runs"][0]
    assert run["tool"]["driver"]["rules"][run["results"][0]["ruleIndex"]]["id"] == "ST.001.a"
    res = run["results"][0]
    loc = res["locations"][0]["physicalLocation"]
    assert res["level"] == "error" and loc["artifactLocation"]["uri"] == "mps/MPSStream.mm"
    assert loc["region"]["startLine"] == 12 and res["partialFingerprints"]["mpsVerify/v1"]
    assert res["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 3


def test_github_escapes():
    out = render(_report(), "github")
    assert out.startswith("::error file=mps/MPSStream.mm,line=12,col=5,title=ST.001.a::")
