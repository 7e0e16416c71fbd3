"""The declared lock hierarchy loads, orders and rejects bad files."""

import pytest

from analyzers.hierarchy import load_hierarchy
from checks.cli import UsageError


def test_real_hierarchy_orders_outer_to_inner():
    h = load_hierarchy()
    assert h.allowed("stream_queue", "allocator_mutex")
    assert not h.allowed("allocator_mutex", "gpu_wait")       # waiting for the GPU under the allocator lock
    assert h.allowed("allocator_mutex", "allocator_mutex")    # recursive
    assert not h.allowed("event_cpu_sync_mutex", "event_cpu_sync_mutex")
    assert h.classify("m_mutex", "at::mps::HeapAllocator::MPSHeapAllocatorImpl").name == "allocator_mutex"
    assert h.classify("m_mutex", "MPSEventPool").name == "event_pool_mutex"


@pytest.mark.parametrize("text", ["locks: 3\n", "locks:\n  - {name: A, kind: mutex, level: 1}\n",
                                  "locks:\n  - {name: a, kind: spin, level: 1}\n",
                                  "locks:\n  - {name: a, kind: mutex, level: 1, colour: red}\n",
                                  "locks:\n  - {name: a, kind: mutex, level: 1}\n  - {name: a, kind: mutex, level: 2}\n"])
def test_bad_hierarchy_is_usage_error(tmp_path, text):
    path = tmp_path / "h.yaml"
    path.write_text(text)
    with pytest.raises(UsageError):
        load_hierarchy(path)
