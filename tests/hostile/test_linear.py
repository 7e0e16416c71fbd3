"""Nothing grows faster than its input (issue #15, part 3): 16 KB and 64 KB of each pattern, CPU time.

A linear stage takes about 4x as long on 4x the input; the test fails above 6x. CPU time of this process
(`time.process_time`, the analysis runs in-process with one job) and the best of up to 3 tries keep it
steady on a loaded machine; runs shorter than FLOOR seconds are compared as FLOOR (timer noise).
"""

import time
import tracemalloc

import pytest

from checks.hostile import PATTERNS, growth, measure

SMALL, LARGE = 16 * 1024, 64 * 1024
LIMIT = 6.0
FLOOR = 0.02


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """Imports and compiled scanners out of the way before anything is timed."""
    folder = tmp_path_factory.mktemp("warm")
    (folder / "w.mm").write_text("std::mutex m;\nvoid f() { std::lock_guard<std::mutex> g(m); }\n")
    measure(folder / "w.mm", folder)
    return folder


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_each_pattern_scales_linearly(tmp_path, warm, name):
    best_small, best_large, ratio = growth(PATTERNS[name], SMALL, LARGE, tmp_path, LIMIT, FLOOR)
    assert ratio <= LIMIT, f"{name}: {best_small:.3f} s at 16 KB, {best_large:.3f} s at 64 KB (x{ratio:.1f})"


def test_call_chains_take_linear_memory():
    from analyzers.parse import parse_text

    peaks = []
    for size in (SMALL, LARGE):
        text = PATTERNS["call-chain"](size)
        tracemalloc.start()
        model = parse_text(text, "chain.mm")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del model
    assert peaks[1] <= LIMIT * peaks[0], peaks


def test_a_function_calling_itself_twelve_times_is_quick(tmp_path):
    """The 126-byte input that took 12.8 s and 1.4 GB in the lock graph's call walk."""
    from analyzers.engine import load_models
    from analyzers.hierarchy import load_hierarchy
    from analyzers.lockgraph import build_graph

    src = tmp_path / "self.mm"
    src.write_text("std::mutex m;\nvoid f() { std::lock_guard<std::mutex> g(m); " + "f(); " * 12 + "}\n")
    start = time.process_time()
    build_graph(load_models([src], tmp_path, cache=False, jobs=1), load_hierarchy(), depth=12)
    assert time.process_time() - start < 2
