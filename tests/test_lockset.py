"""ST.015's lockset facts: one name per lock and per field however they are reached, what counts as held,
and what is left out (constructors, this thread's own objects, once-initialisation, atomics)."""

from __future__ import annotations

from pathlib import Path

from analyzers.engine import analyze
from analyzers.parse import parse_file
from analyzers.rules.lockset import ANY_LOCK, accesses, class_of_type

POOL = """
struct HeapBlock;
struct BufferPool {
  std::mutex pool_mutex;
  size_t available_size = 0;
};
struct HeapBlock {
  BufferPool* pool;
};
struct BufferBlock {
  HeapBlock* heap;
  size_t requested_size = 0;
};
class MPSHeapAllocatorImpl {
 public:
  void a(BufferPool& pool);
  void b(BufferPool* pool);
  void c(BufferBlock* buffer_block);
  void d(BufferBlock* block, std::unique_lock<std::mutex>& pool_lock);
 private:
  std::recursive_mutex m_mutex;
  std::unique_ptr<BufferPool> m_pool;
};
void MPSHeapAllocatorImpl::a(BufferPool& pool) {
  std::lock_guard<std::mutex> lock(pool.pool_mutex);
  pool.available_size = 1;
}
void MPSHeapAllocatorImpl::b(BufferPool* pool) {
  std::lock_guard<std::mutex> lock(pool->pool_mutex);
  pool->available_size = 2;
}
void MPSHeapAllocatorImpl::c(BufferBlock* buffer_block) {
  std::lock_guard<std::mutex> lock(buffer_block->heap->pool->pool_mutex);
  buffer_block->heap->pool->available_size = 3;
  std::lock_guard<std::mutex> other(m_pool->pool_mutex);
}
void MPSHeapAllocatorImpl::d(BufferBlock* block, std::unique_lock<std::mutex>& pool_lock) {
  block->requested_size = 4;
}
"""


def _accesses(tmp_path: Path, source: str, name: str = "a.mm"):
    path = tmp_path / name
    path.write_text(source, encoding="utf-8")
    return accesses([parse_file(path, name)])


def test_one_lock_and_one_field_however_reached(tmp_path):
    writes = [a for a in _accesses(tmp_path, POOL) if a.field == "BufferPool::available_size"]
    lines = [n for n, text in enumerate(POOL.splitlines(), 1) if "available_size = " in text and "->" in text
             or "pool.available_size" in text]
    assert len(lines) == 3
    assert [(a.token.line, sorted(a.locks)) for a in writes] == [(n, ["BufferPool::pool_mutex"]) for n in lines]
    assert {a.via for a in writes} == {"receiver"}


def test_a_callers_lock_handed_down_counts_as_held(tmp_path):
    (d,) = [a for a in _accesses(tmp_path, POOL) if a.field == "BufferBlock::requested_size"]
    assert d.write and d.locks == frozenset({ANY_LOCK})


def test_class_of_declared_types():
    assert class_of_type("const at::mps::BufferPool*") == "BufferPool"
    assert class_of_type("std::unique_ptr<BufferPool>") == "BufferPool"
    assert class_of_type("std::shared_ptr<const HeapBlock>&") == "HeapBlock"
    assert class_of_type("auto") == ""


def test_left_out_constructors_owned_objects_atomics_and_once(tmp_path):
    src = """
static std::mutex s_mutex;
static std::once_flag s_once;
static Table* s_table = nullptr;
static std::atomic<int> s_hits{0};
struct Params { size_t size = 0; };
class Cache {
 public:
  Cache() { entries_ = 0; }
  void fill(Params* shared);
  Table* table();
 private:
  std::mutex m_mutex;
  size_t entries_ = 0;
};
void Cache::fill(Params* shared) {
  Params mine;
  std::lock_guard<std::mutex> lock(m_mutex);
  mine.size = 1;
  shared->size = 2;
  entries_++;
  s_hits++;
}
Table* Cache::table() {
  std::call_once(s_once, []() { s_table = new Table(); });
  return s_table;
}
"""
    got = {(a.field, a.token.line) for a in _accesses(tmp_path, src)}
    assert got == {("Params::size", 20), ("Cache::entries_", 21)}


def test_flags_a_read_under_another_lock_and_reports_both_sites(tmp_path):
    src = """
struct Pool { std::mutex pool_mutex; size_t used = 0; };
class Allocator {
 public:
  void grow(Pool& pool);
  size_t used(Pool& pool);
 private:
  std::mutex m_mutex;
};
void Allocator::grow(Pool& pool) {
  std::lock_guard<std::mutex> l(pool.pool_mutex);
  pool.used++;
}
size_t Allocator::used(Pool& pool) {
  std::lock_guard<std::mutex> l(m_mutex);
  return pool.used;
}
"""
    path = tmp_path / "a.mm"
    path.write_text(src, encoding="utf-8")
    (f,) = [f for f in analyze([path], tmp_path, rules=["ST.015"], cache=False, jobs=1).findings]
    assert (f.rule, f.line, f.severity) == ("ST.015.a", 16, "warning")
    assert "Pool::used is read under Allocator::m_mutex, not Pool::pool_mutex" in f.message
    assert [(r.line, "written under Pool::pool_mutex" in r.message) for r in f.related] == [(12, True)]
    assert f.anchor == "Pool::used | not under Pool::pool_mutex"


def test_renaming_the_receiver_keeps_the_fingerprint(tmp_path):
    flag = Path(__file__).parent / "fixtures" / "structural" / "ST.015.c_flag.mm"
    text = flag.read_text(encoding="utf-8")
    renamed = tmp_path / "renamed" / flag.name
    renamed.parent.mkdir()
    renamed.write_text(text.replace("BufferPool* pool", "BufferPool* p").replace("pool->", "p->"), encoding="utf-8")
    before = {f.fingerprint for f in analyze([flag], flag.parent, rules=["ST.015"], cache=False, jobs=1).findings}
    after = {f.fingerprint for f in analyze([renamed], renamed.parent, rules=["ST.015"], cache=False, jobs=1).findings}
    assert len(before) == 2 and before == after


def _st015(tmp_path: Path, src: str):
    path = tmp_path / "e.mm"
    path.write_text(src, encoding="utf-8")
    return analyze([path], tmp_path, rules=["ST.015"], cache=False, jobs=1).findings


EVENTS = """
class Event {
 public:
  void notifyDone();
  void reset();
 private:
  std::mutex m_sync_mutex;
  bool m_done = false;
};
class EventPool {
 public:
  Event* acquire();
 private:
  std::mutex m_pool_mutex;
  std::unique_ptr<Event> m_spare;
};
void Event::notifyDone() {
  std::lock_guard<std::mutex> lock(m_sync_mutex);
  m_done = true;
}
void Event::reset() {
  m_done = false;
}
Event* EventPool::acquire() {
  std::lock_guard<std::mutex> lock(m_pool_mutex);
  Event* event = m_spare.get();
  event->reset();
  return event;
}
"""


def test_the_locks_every_caller_holds_count_by_name(tmp_path):
    (f,) = _st015(tmp_path, EVENTS)
    assert (f.rule, f.function) == ("ST.015.a", "Event::reset")
    assert "Event::m_done is written under EventPool::m_pool_mutex (held by every caller), not Event::m_sync_mutex" \
        in f.message


def test_namesakes_are_not_callers(tmp_path):
    # `m_spare.reset()` is unique_ptr's reset and `reset(x)` a free function: neither enters Event::reset
    # with a lock, so neither may stand for a caller that holds one (the finding stays, naming no lock)
    src = EVENTS.replace("  event->reset();\n", "  m_spare.reset();\n") + "void reset(int);\nvoid g() { reset(1); }\n"
    (f,) = _st015(tmp_path, src)
    assert f.rule == "ST.015.c" and "Event::m_done is written with no lock in reset" in f.message
