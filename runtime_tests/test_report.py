"""The report from a hand-filled database: failures with crash reports, comparisons, the CUDA targets."""

import pytest

from runtime_tests import db, report
from runtime_tests.crosscheck import CrossCheck
from runtime_tests.rounds import RoundResult

pytestmark = pytest.mark.quick


def batcher_rows(threads, batcher, offline, floor=None):
    rows = []
    modes = (("threads", threads), ("batcher", batcher), ("offline", offline))
    for mode, value in modes + ((("floor", floor),) if floor is not None else ()):
        rows += [{"kind": "batcher", "param": mode, "rep": r, "metric": "requests_per_s", "value": value}
                 for r in range(5)]
        rows += [{"kind": "batcher", "param": mode, "rep": -1, "metric": m, "value": 1.0} for m in ("p50_ms", "p99_ms")]
    return rows


@pytest.fixture
def conn(tmp_path):
    conn = db.connect(tmp_path / "r.db")
    run = db.start_run(conn, "full", "cuda", {"device": "cuda", "device_name": "NVIDIA H100",
                                             "settings": {"rounds": 20, "perf": {"clients": 8, "max_delay_ms": 2}}})
    for i in range(20):
        db.add_round(conn, run, "native_threads", "mlp", 8, 50, RoundResult("pass", 0, 1.0, i))
        crashed = i < 8
        db.add_round(conn, run, "no_fix", "mlp", 8, 50, RoundResult(
            "signal:SIGSEGV" if crashed else "pass", -11 if crashed else 0, 1.0, 100 + i, "Fatal Python error",
            {}, [{"exception": "EXC_BAD_ACCESS", "signal": "SIGSEGV", "frames": ["libobjc`objc_msgSend"]}]
            if crashed else []))
    db.add_crosscheck(conn, run, CrossCheck("no_fix", "AGXEncoderRace_none", "invariant: NoUseAfterFree",
                                            "not applicable", "no AGX driver on cuda"))
    db.add_measurements(conn, run, "linear", batcher_rows(1000, 3500, 4000))  # meets both targets
    db.add_measurements(conn, run, "mlp", batcher_rows(1000, 2000, 4000))     # 2x only: misses
    db.finish_run(conn, run)
    return conn


def test_report_states_failures_comparisons_and_targets(conn, tmp_path):
    text = report.write(conn, 1, tmp_path / "out").read_text()
    assert "**FAIL**: 40 child processes, 8 failed" in text
    assert "| no_fix | - | 20 | pass 12, signal:SIGSEGV 8 |" in text
    assert "8/20 failures: rate 40.0%" in text
    assert "| no_fix | 8/20 vs 0/20 | 0.00" in text  # Fisher: clearly different from native_threads
    assert "EXC_BAD_ACCESS SIGSEGV in libobjc`objc_msgSend" in text
    assert "linear: target met (3.50x plain threads" in text
    assert "mlp: target NOT met (2.00x plain threads" in text
    assert "max batch 8, max delay 2 ms" in text
    assert "NVIDIA H100" in text
    assert (tmp_path / "out" / "crash_rates.png").exists() and not (tmp_path / "out" / "scaling.png").exists()


def test_targets_are_only_judged_on_cuda(conn, tmp_path):
    conn.execute("UPDATE runs SET device = 'cpu'")
    text = report.markdown(conn, 1, {})
    assert "target met" not in text and "target NOT met" not in text


def test_widths_get_a_verdict_each_and_the_floor_says_when_offline_is_out_of_reach(conn):
    run = 1
    db.add_measurements(conn, run, "linear@512", batcher_rows(7000, 13000, 180000, floor=35000))   # floor 19%
    db.add_measurements(conn, run, "linear@32768", batcher_rows(700, 2700, 3200, floor=35000))     # meets
    db.add_measurements(conn, run, "mlp@4096", batcher_rows(5000, 10000, 20000, floor=35000))      # floor 175%
    text = report.markdown(conn, run, {})
    assert "- linear@32768: target met (3.86x plain threads" in text
    unreachable = [line for line in text.splitlines() if "unreachable here" in line]
    assert len(unreachable) == 1 and unreachable[0].startswith("- linear@512: target NOT met")
    assert "hand-off floor (no model at all) is 35,000 requests/s, 19% of offline" in unreachable[0]
    assert "- mlp@4096: target NOT met (2.00x plain threads" in text
    assert "- linear: targets met from width 32768 (measured 512, 32768; met at 32768)" in text
    assert "- mlp: targets met at no measured width (4096)" in text
    assert "| linear@512 | floor | 35,000" in text


def test_between_run_spread_per_process_and_no_ratio_for_the_floor(conn):
    run = 1
    for proc, batcher in ((0, 3000), (1, 3600), (2, 2400)):
        db.add_measurements(conn, run, "linear@32768", batcher_rows(1000, batcher, 4000, floor=40000), proc=proc)
        db.add_measurements(conn, run, "linear", [
            {"kind": "scaling", "param": n, "rep": r, "metric": "ops_per_s", "value": v * (1 + 0.01 * r)}
            for r in range(5) for n, v in ((1, 1000), (8, 800 * (1 + proc)))], proc=proc)
    text = report.markdown(conn, run, {})
    assert "| linear@32768 | batcher | 3,000 [2,400-3,600] | 1 | 1 | 3.00x | 2.40x-3.60x | 75% | 60%-90% |" in text
    assert "| linear@32768 | floor | 40,000 [40,000-40,000] | 1 | 1 | - | - | - | - |" in text
    assert "between runs 2.40x-3.60x and 60%-90%" in text
    row = next(line for line in text.splitlines() if line.startswith("| linear | 8 |"))
    assert "0.10 [" in row and "0.20 [" in row and "0.30 [" in row and row.endswith("| 0.10-0.30 |")


def test_per_inference_counts_versions_and_trace_validations(conn):
    run = 1
    db.extend_run(conn, run, {"versions": {"CUDA runtime": "13.0", "CUDA driver": "580.159.04"}})
    db.add_round(conn, run, "shared", "mine", 8, 50, RoundResult(
        "mismatch", 0, 1.0, 7, doc={"inferences": 400, "wrong": 300, "max_error": 2.5}))
    db.add_round(conn, run, "shared", "mine", 8, 50, RoundResult("signal:SIGSEGV", -11, 1.0, 8))
    db.add_trace_validation(conn, run, "batched round 1", 900, "matched", None, 4.5, "r1.jsonl.gz: whole log")
    db.add_trace_validation(conn, run, "broken", 40, "unexplained", "event 12 of 40: stop (clock 12, line 13)",
                            1.5, "b.jsonl: whole log")
    text = report.markdown(conn, run, {})
    assert "| CUDA runtime | 13.0 |" in text and "| CUDA driver | 580.159.04 |" in text
    assert "| shared | all | 2/2 | 400 | 300 | 75% | 70.5-79.2% | 2.5 | 1 |" in text
    assert "1 batcher log(s) the model cannot explain" in text and "**FAIL**" in text
    assert "2 log(s): 1 matched, 1 unexplained; 940 events checked in 6 s of TLC" in text
    assert "| broken | 40 | UNEXPLAINED | event 12 of 40: stop (clock 12, line 13) | 1.5 s | 37.50 s |" in text
