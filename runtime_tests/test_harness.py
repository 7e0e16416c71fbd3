"""The harness classifies real child processes: a segfault, a hang, a wrong result, an exception, a pass;
and the child sees (or does not see) a preloaded library in its own loaded images."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from runtime_tests import crashreports, images, rounds
from runtime_tests.conftest import FIXTURES

pytestmark = pytest.mark.quick

HANG_TIMEOUT_S = 6  # counted from the end of the child's set-up (torch import, model build)


@pytest.fixture(scope="module")
def outcomes(probe_library) -> dict[str, rounds.RoundResult]:
    """One child per case, three at a time to keep the wall time down."""
    base = {"mode": "round", "workload": "mlp", "size": "quick", "device": "cpu", "threads": 4, "iterations": 8}
    cases = {
        "segv": (dict(base, fault="segv"), {}),
        "hang": (dict(base, fault="hang"), {}),
        "wrong": (dict(base, fault="wrong", batched={"max_batch": 4, "max_delay_ms": 1},
                       check_images=[str(probe_library)]), {}),
        "raise": (dict(base, fault="raise", python_lock=True), {}),
        "pass": (base, {"env": {"MPS_FORCE_GRAPH_PATH": "1"}, "preload": str(probe_library)}),
        "missing": (dict(base, iterations=2, require_images=[str(probe_library)]), {}),
    }
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {name: pool.submit(rounds.spawn, spec, timeout_s=HANG_TIMEOUT_S, **kw)
                   for name, (spec, kw) in cases.items()}
        return {name: f.result() for name, f in futures.items()}


def test_segfault_is_classified_by_its_signal(outcomes):
    r = outcomes["segv"]
    assert r.outcome == "signal:SIGSEGV" and r.returncode == -11
    assert "Fatal Python error: Segmentation fault" in r.detail  # faulthandler's stack for the report


def test_a_child_that_never_finishes_is_a_hang(outcomes):
    r = outcomes["hang"]
    assert r.outcome == "hang" and r.returncode is None
    assert r.duration_s >= HANG_TIMEOUT_S and "after set-up" in r.detail


def test_a_wrong_result_is_a_mismatch_also_through_the_batcher(outcomes, probe_library):
    r = outcomes["wrong"]
    assert r.outcome == "mismatch"
    assert r.doc["mismatches"] == 1 and "max |diff| 1" in r.detail
    assert r.doc["mean_batch"] >= 1
    assert r.doc["seen"]["images"] == {str(probe_library): False}  # checked but not preloaded: absent


def test_an_exception_in_a_thread_is_an_exception(outcomes):
    r = outcomes["raise"]
    assert r.outcome == "exception" and "RuntimeError: injected fault" in r.detail


def test_a_clean_round_passes_and_records_what_the_child_saw(outcomes, probe_library):
    r = outcomes["pass"]
    assert r.outcome == "pass" and not r.failed, r.detail
    assert r.doc["ops"] == 4 * 8 and r.doc["mismatches"] == 0
    seen = r.doc["seen"]
    assert seen["env"] == {"MPS_FORCE_GRAPH_PATH": "1"}
    assert seen["images"] == {str(probe_library): True}  # preloaded: mapped into the child
    assert seen["preload_var"] == {images.preload_variable(): str(probe_library)}
    assert seen["torch"] and seen["device_kind"] == "cpu" and seen["os"]


def test_a_required_library_that_is_not_loaded_fails_the_round(outcomes):
    r = outcomes["missing"]
    assert r.outcome == "exception" and "preload library not loaded" in r.detail


def test_signal_names():
    assert rounds.signal_name(-6) == "signal:SIGABRT"
    assert rounds.signal_name(-5) == "signal:SIGTRAP"
    assert rounds.signal_name(-200) == "signal:200"


def test_loaded_images_of_this_process():
    loaded = images.loaded_images()
    assert loaded and images.is_loaded(loaded[0], loaded)
    assert not images.is_loaded("/nonexistent/libnothing.so", loaded)


def test_ips_parser_on_a_hand_written_report():
    meta, body = crashreports.parse_ips((FIXTURES / "sample.ips").read_text())
    summary = crashreports.summarise(meta, body)
    assert summary["process"] == "python3.11" and summary["pid"] == 4242
    assert (summary["exception"], summary["signal"]) == ("EXC_BAD_ACCESS", "SIGSEGV")
    assert summary["subtype"].endswith("0x0000000000000098")
    assert summary["frames"][:2] == ["libobjc.A.dylib`objc_msgSend",
                                     "AGXMetalG15X_B0`-[AGXG15XFamilyComputeContext setComputePipelineState:]"]
    assert summary["frames"][3] == "libtorch_cpu.dylib`?"


def test_ips_parser_rejects_other_text():
    with pytest.raises(ValueError):
        crashreports.parse_ips("not json\n{}")


def test_harvest_finds_only_the_childs_reports(tmp_path):
    text = (FIXTURES / "sample.ips").read_text()
    (tmp_path / "python3.11-2025-01-15-102233.ips").write_text(text)
    (tmp_path / "other.ips").write_text(text.replace('"pid" : 4242', '"pid" : 7'))
    (tmp_path / "broken.ips").write_text("garbage")
    found = crashreports.harvest(4242, since=0, wait_s=0, dirs=(tmp_path,))
    assert [f["pid"] for f in found] == [4242]
    assert crashreports.harvest(9999, since=0, wait_s=0, dirs=(tmp_path,)) == []
