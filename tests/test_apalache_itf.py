"""The ITF reader: hand-written traces in the documented format (ADR-015) -> Trace with TLA+ text."""

from pathlib import Path

import pytest

from checks.cli import UsageError
from checks.specs.itf import ItfError, read_itf, render

ITF = Path(__file__).resolve().parent / "fixtures" / "apalache" / "itf"


@pytest.mark.parametrize("value, text", [
    (True, "TRUE"), (False, "FALSE"), (7, "7"), (-3, "-3"), ({"#bigint": "-12345678901234567890"}, "-12345678901234567890"),
    ("p1_OF_PROC", '"p1_OF_PROC"'), ('a"b\\c', '"a\\"b\\\\c"'),
    ({"#set": []}, "{}"), ({"#set": [1, 2]}, "{1, 2}"), ({"#tup": [1, "x"]}, '<<1, "x">>'), ([], "<<>>"),
    (["a", "b"], '<<"a", "b">>'), ({"held": True, "by": 2}, "[held |-> TRUE, by |-> 2]"), ({}, "<<>>"),
    ({"#map": []}, "<<>>"), ({"#map": [[1, {"#set": [2]}], [3, {"#set": []}]]}, "(1 :> {2} @@ 3 :> {})"),
    ({"#map": [[{"#tup": [1, 2]}, True]]}, "(<<1, 2>> :> TRUE)"), ({"tag": "Req", "value": 7}, 'Variant("Req", 7)'),
    ({"#unserializable": "Nat"}, "Nat"), ({"#set": [{"#set": [{"#tup": []}]}]}, "{{<<>>}}"),
])
def test_render(value, text):
    assert render(value) == text


@pytest.mark.parametrize("value, why", [
    (1.5, "float"), (None, "NoneType"), ({"#bigint": "1e3"}, "#bigint"), ({"#bigint": 5}, "#bigint"),
    ({"#set": {}}, "#set must hold"), ({"#map": [[1]]}, "pair"), ({"#set": [1], "x": 2}, "only key"),
    ({"#weird": 1}, "unknown ITF form"), ({"r": {"#tup": 3}}, "value.r"),
])
def test_render_rejects(value, why):
    with pytest.raises(ItfError, match=why):
        render(value)


def test_read_violation():
    trace = read_itf(ITF / "violation1.itf.json")
    assert [s.index for s in trace.states] == [1, 2]
    assert all(s.action is None for s in trace.states)
    assert trace.loop_to is None
    first, second = (s.values for s in trace.states)
    assert list(first) == ["x", "seen", "owner", "last", "log", "lock", "big", "msg"]
    assert first["owner"] == "<<>>" and first["seen"] == "{}" and first["msg"] == 'Variant("Ack", <<>>)'
    assert second == {
        "x": "1", "seen": "{0, 1}", "owner": '("p1_OF_PROC" :> 1 @@ "p2_OF_PROC" :> 2)',
        "last": '<<1, "say \\"hi\\"\\\\">>', "log": '<<"a", "b">>', "lock": '[held |-> TRUE, by |-> "p2_OF_PROC"]',
        "big": "12345678901234567890", "msg": 'Variant("Req", 7)',
    }


def test_read_lasso_loop_is_one_based():
    trace = read_itf(ITF / "lasso.itf.json")
    assert len(trace.states) == 3 and trace.loop_to == 2


@pytest.mark.parametrize("name, why", [
    ("bad_json.itf.json", "not JSON"), ("bad_states.itf.json", "'states' must be an array"),
    ("missing_var.itf.json", "no value for 'y'"), ("bad_bigint.itf.json", "#bigint"),
    ("bad_loop.itf.json", "'loop'"), ("bad_float.itf.json", "float"), ("bad_two_keys.itf.json", "only key"),
    ("bad_top.itf.json", "JSON object"), ("absent.itf.json", "cannot read"),
])
def test_bad_itf_is_one_line_usage_error(name, why):
    with pytest.raises(UsageError, match=why) as info:
        read_itf(ITF / name)
    assert "\n" not in str(info.value) and name in str(info.value)
