"""The lock graph of the real PyTorch 2.6.0 MPS tree is pinned edge by edge; the wheel's headers analyse cleanly.

Regenerate the pinned file after an intended change with `python -m tests.test_lockgraph_corpus` and review the diff.
"""

from __future__ import annotations

import os

import pytest
import yaml

from analyzers.engine import load_models
from analyzers.hierarchy import load_hierarchy
from analyzers.lockgraph import build_graph, findings
from checks.cli import UsageError
from checks.sources import CORPUS_DIR, REPO_ROOT, corpus_mps_dirs, torch_include, torch_mps_headers

PINNED = REPO_ROOT / "tests" / "fixtures" / "lockgraph" / "corpus_2.6.0_edges.yaml"
ROOT = CORPUS_DIR / "aten" / "src" / "ATen"


def corpus_graph():
    """The graph of the 2.6.0 tree; fails (not skips) without it when MPS_VERIFY_REQUIRE_CORPUS=1."""
    try:
        dirs = corpus_mps_dirs()
    except UsageError as exc:
        if os.environ.get("MPS_VERIFY_REQUIRE_CORPUS") == "1":
            pytest.fail(f"{exc} (MPS_VERIFY_REQUIRE_CORPUS=1)")
        pytest.skip(str(exc))
    return build_graph(load_models(dirs, ROOT), load_hierarchy())


def as_pinned(graph) -> dict:
    """The graph as the pinned file stores it: every edge with its first places, the cycles, the unknowns."""
    def site(s):
        return f"{s.path}:{s.line}"
    return {
        "edges": [{"from": a, "to": b, "held_at": site(d["held_site"]), "taken_at": site(d["site"]),
                   "via": [f"{site(s)} {s.function.rsplit('::', 1)[-1]}" for s in d["via"]]}
                  for a, b, d in sorted(graph.graph.edges(data=True), key=lambda e: (e[0], e[1]))],
        "cycles": [list(c.nodes) for c in graph.cycles],
        "violations": [list(v) for v in graph.violations],
        "unknown": list(graph.unknown),
    }


@pytest.mark.corpus
def test_corpus_edges_match_the_pinned_file():
    graph = corpus_graph()
    assert as_pinned(graph) == yaml.safe_load(PINNED.read_text(encoding="utf-8"))


@pytest.mark.corpus
def test_corpus_documented_nesting_and_the_queue_reentry():
    graph = corpus_graph()
    g = graph.graph
    # the nesting the MPS notes describe: allocator -> event pool -> cpu-sync; handlers take the allocator
    assert g.has_edge("allocator_mutex", "event_pool_mutex") and g.has_edge("event_pool_mutex", "event_cpu_sync_mutex")
    assert g.has_edge("gpu_wait", "allocator_mutex")
    # upstream drops the allocator mutex before waiting: no edge from it to the GPU wait or the stream queue
    assert not g.has_edge("allocator_mutex", "gpu_wait") and not g.has_edge("allocator_mutex", "stream_queue")
    # what remains: an allocation inside a stream-queue block can reach release_cached_buffers (OOM path),
    # which dispatch_syncs onto the same serial queue
    assert [c.nodes for c in graph.cycles] == [("stream_queue",)]
    assert {f.rule for f in findings(graph)} == {"ST.009.a", "ST.009.b"}


def test_torch_wheel_headers_analyse():
    try:
        dirs = torch_mps_headers()
    except UsageError as exc:
        pytest.skip(str(exc))
    graph = build_graph(load_models(dirs, torch_include()), load_hierarchy())
    assert {"stream_queue", "graph_cache_queue"} <= set(graph.graph.nodes)
    assert not graph.cycles


if __name__ == "__main__":
    PINNED.write_text("# Lock-order graph of PyTorch 2.6.0's MPS tree (python -m tests.test_lockgraph_corpus).\n"
                      + yaml.safe_dump(as_pinned(build_graph(load_models(corpus_mps_dirs(), ROOT),
                                                             load_hierarchy())), sort_keys=False, width=120),
                      encoding="utf-8")
    print(f"wrote {PINNED}")
