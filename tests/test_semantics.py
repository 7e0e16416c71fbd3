"""The code model's semantics for fork-style code: typed lock names, lock hand-offs, blocks in variables,
re-entrancy guards, self-serialising stream methods, per-thread and per-object state. Each with a fixture
that must be flagged and one that must pass (tests/fixtures/semantics, written for this project)."""

from pathlib import Path

import pytest

from analyzers import symbols
from analyzers.engine import analyze
from analyzers.parse import parse_file, parse_text
from checks.sources import REPO_ROOT

FIX = REPO_ROOT / "tests" / "fixtures" / "semantics"


def _models(*names: str):
    return [parse_file(FIX / n, n) for n in names]


def _analyze_one(tmp_path: Path, name: str, source: str, family: str):
    """The report of one family's rules on one written source file (no cache, one process)."""
    (tmp_path / name).write_text(source)
    return analyze([tmp_path / name], tmp_path, rules=[family], cache=False, jobs=1)


def _cycles(*names: str):
    report = analyze([FIX / n for n in names], FIX, rules=["ST.009"], cache=False, jobs=1)
    return [f.message for f in report.findings if f.rule == "ST.009.a"]


def test_one_lock_has_one_name_through_references_pointers_and_auto():
    models = _models("pool.h", "handoff_pass.mm")
    ts = symbols.types(models)
    model = models[1]
    fns = {f.name.split("::")[-1]: f for f in model.scopes("function")}
    alloc, free = fns["alloc_block"], fns["free_block"]
    assert symbols.member_of(model, ts, alloc, "pool.pool_mutex")[0] == "BufferPool"
    assert symbols.member_of(model, ts, free, "buffer_block->heap->pool->pool_mutex")[0] == "BufferPool"
    assert symbols.member_of(model, ts, free, "m_pool.pool_mutex")[0] == "BufferPool"
    assert symbols.member_of(model, ts, free, "no_such->pool_mutex") is None


def test_alignas_and_array_mutex_members_are_members_and_deleted_operators_are_not():
    model = parse_file(FIX / "pool.h", "pool.h")
    members = {m.name: m.type for m in model.members}
    assert members["pool_mutex"] == "std::mutex" and members["stats_mutex"] == "std::mutex"
    assert members["shard_mutexes_"].startswith("std::array<std::mutex")
    assert "operator" not in members


def test_lock_handoff_drop_and_relock_is_no_lock_order():
    assert _cycles("pool.h", "handoff_pass.mm") == []


def test_lock_handoff_kept_across_a_call_is_a_lock_order():
    assert _cycles("pool.h", "handoff_flag.mm") != []


def test_block_in_a_variable_runs_on_the_queue_it_is_dispatched_on():
    model = parse_file(FIX / "reentrant_pass.mm", "reentrant_pass.mm")
    fill = next(f for f in model.scopes("function") if f.name.endswith("::fill"))
    dispatched = [s for s in fill.walk() if s.kind == "dispatch"]
    assert [(s.queue, s.dispatch) for s in dispatched] == [("_serialQueue", "dispatch_sync")]


def test_reentrant_synchronize_on_the_same_stream_is_no_self_deadlock():
    report = analyze([FIX / "stream.h", FIX / "reentrant_pass.mm"], FIX, rules=["ST.009"], cache=False, jobs=1)
    assert [f for f in report.findings if f.rule in ("ST.009.a", "ST.009.b")] == []


def test_synchronizing_another_stream_from_inside_a_queue_is_flagged():
    report = analyze([FIX / "stream.h", FIX / "reentrant_flag.mm"], FIX, rules=["ST.009"], cache=False, jobs=1)
    hits = [f for f in report.findings if f.rule in ("ST.009.a", "ST.009.b")]
    assert hits and all("stream_queue" in f.message for f in hits)


SYNC_CALLER = """
namespace at::mps {
void waitForStream(MPSStream* stream) {
  stream->synchronize(SyncType::COMMIT_AND_WAIT);
}
}
"""


@pytest.mark.parametrize("impl, flagged", [("reentrant_pass.mm", False), (None, True)])
def test_st002_consults_the_callee(tmp_path: Path, impl, flagged):
    """A call of a stream method that enters its own queue needs no wrapping; a plain one does."""
    (tmp_path / "caller.mm").write_text(SYNC_CALLER)
    files = [tmp_path / "caller.mm"]
    if impl:
        for name in ("stream.h", impl):
            (tmp_path / name).write_text((FIX / name).read_text())
            files.append(tmp_path / name)
    report = analyze(files, tmp_path, rules=["ST.002"], cache=False, jobs=1)
    assert any(f.rule == "ST.002.a" for f in report.findings) is flagged


LAZY = """
namespace at::mps {
static %s std::unique_ptr<Cache> the_cache;
Cache& get_cache() {
  if (!the_cache) {
    the_cache = std::make_unique<Cache>();
  }
  return *the_cache;
}
}
"""


@pytest.mark.parametrize("qualifier, flagged", [("thread_local", False), ("", True)])
def test_thread_local_lazy_init_is_no_racy_singleton(tmp_path: Path, qualifier, flagged):
    report = _analyze_one(tmp_path, "lazy.mm", LAZY % qualifier, "ST.006")
    assert any(f.rule == "ST.006.a" for f in report.findings) is flagged


SCOPE = """
namespace at::mps {
void handler(int* counter) {
  auto guard = %s([&]() { (*counter)--; });
}
}
"""


@pytest.mark.parametrize("wrapper, flagged", [("c10::make_scope_exit", False), ("register_later", True)])
def test_scope_guard_lambdas_run_synchronously(tmp_path: Path, wrapper, flagged):
    report = _analyze_one(tmp_path, "scope.mm", SCOPE % wrapper, "ST.003")
    assert any(f.rule.startswith("ST.003") for f in report.findings) is flagged


def test_st008c_says_per_instance_for_a_member_mutex():
    text = (FIX / "stream.h").read_text() + """
namespace at::mps {
static std::mutex s_global_mutex;
void MPSStream::commit() {
  {
    std::lock_guard<std::recursive_mutex> lock(_streamMutex);
    [encoder encodeToCommandBuffer:cb];
    runMPSGraph(this, graph, feeds, results);
  }
  std::lock_guard<std::mutex> lock(s_global_mutex);
  runMPSGraph(this, graph, feeds, results);
}
}
"""
    model = parse_text(text, "s.mm")
    from analyzers.rules.queries import per_object
    assert per_object(model, "_streamMutex") and not per_object(model, "s_global_mutex")


@pytest.mark.parametrize("name, flagged", [("event_pass.mm", False), ("event_flag.mm", True)])
def test_parameter_guarded_branches_are_judged_at_the_call_sites(name, flagged):
    """m_mutex -> stream queue exists only on the needsLock == false path with syncEvent == true; the queue
    -> m_mutex edge exists on the other path. Whether they make a cycle depends on what callers pass."""
    assert bool(_cycles("stream.h", name)) is flagged


@pytest.mark.parametrize("name, flagged", [("once_pass.mm", False), ("once_flag.mm", True)])
def test_reads_after_call_once_are_published(name, flagged):
    report = analyze([FIX / name], FIX, rules=["ST.007"], cache=False, jobs=1)
    assert any(f.rule == "ST.007.a" for f in report.findings) is flagged


def test_lock_names_that_fall_back_to_heuristics_are_counted(tmp_path: Path):
    (tmp_path / "u.mm").write_text("""
namespace at::mps {
void touch(Opaque* thing) {
  std::lock_guard<std::mutex> lock(thing->inner->mutex_);
}
}
""")
    report = analyze([FIX / "pool.h", FIX / "handoff_pass.mm", tmp_path / "u.mm"], tmp_path.parent, rules=["ST.009"],
                     cache=False, jobs=1)
    assert report.extra["types"]["as_written"] == 1 and report.extra["types"]["typed"] >= 2
    from analyzers.reporters import render
    assert "1 lock expression(s) named as written" in render(report, "text")


KERNEL = """
namespace at::native::mps {
%s
void MetalKernelFunction::startEncoding() {
  encoder = getCurrentMPSStream()->commandEncoder();
}
}
"""
RUNNER = """void MetalKernelFunction::runCommandBlock(std::function<void(void)> run) {
  dispatch_sync_with_rethrow(getCurrentMPSStream()->queue(), ^() {
    run();
  });
}"""


@pytest.mark.parametrize("runner, flagged", [(RUNNER, False), ("", True)])
def test_methods_of_a_queue_scoped_callback_api_run_on_the_queue(tmp_path: Path, runner, flagged):
    """startEncoding() is meant to be called from the callable runCommandBlock() runs on the stream queue."""
    report = _analyze_one(tmp_path, "k.mm", KERNEL % runner, "ST.001")
    assert any(f.rule == "ST.001.a" for f in report.findings) is flagged


DEFAULT_WAIT = """
namespace at::mps {
MPSStream* getCurrentMPSStream() {
  %s
}
void drain() {
  getDefaultMPSStream()->synchronize(SyncType::COMMIT_AND_WAIT);
}
}
"""


@pytest.mark.parametrize("body, flagged", [("return getDefaultMPSStream();", False),
                                           ("return MPSStreamPool::instance().getCurrentStream();", True)])
def test_waiting_on_the_default_stream_matters_only_with_several_streams(tmp_path: Path, body, flagged):
    report = _analyze_one(tmp_path, "s.mm", DEFAULT_WAIT % body, "ST.002")
    assert any(f.rule == "ST.002.b" for f in report.findings) is flagged


CAPTURE = """
namespace at::mps {
class Profiler {
  bool isCaptureEnabled() const;
  mutable MTLCaptureManager* captureManager = nil;
};
bool Profiler::isCaptureEnabled() const {
  if (captureManager == nil) {
    captureManager = %s;
  }
  return [captureManager supportsDestination:MTLCaptureDestinationDeveloperTools];
}
}
"""


@pytest.mark.parametrize("value, flagged", [("[MTLCaptureManager sharedCaptureManager]", False),
                                            ("[[MTLCaptureManager alloc] init]", True)])
def test_caching_a_shared_getter_is_no_object_creation(tmp_path: Path, value, flagged):
    report = _analyze_one(tmp_path, "c.mm", CAPTURE % value, "ST.006")
    assert any(f.rule.startswith("ST.006") for f in report.findings) is flagged


HANDLER = """
namespace at::mps {
void Allocator::release(HeapBlock* heap_block, BufferBlock* block) {
  m_stream->addCompletedHandler(^(id<MTLCommandBuffer>) {
    std::lock_guard<std::recursive_mutex> lock(m_mutex);
    %s
  });
}
}
"""


@pytest.mark.parametrize("body, flagged", [
    ("if (pending.find(heap_block) != pending.end()) { heap_block->updateAvailableSize(); }", False),
    ("free_buffer(block);", False),
    ("heap_block->updateAvailableSize();", True),
])
def test_raw_pointer_captures_that_are_revalidated_or_released_by_the_handler(tmp_path: Path, body, flagged):
    report = _analyze_one(tmp_path, "h.mm", HANDLER % body, "ST.003")
    assert any(f.rule == "ST.003.b" for f in report.findings) is flagged


INFO = """
namespace at::mps {
void Profiler::addHandler(BaseInfo& info) {
  m_stream->addCompletedHandler(^(id<MTLCommandBuffer>) {
    info.completed = true;
  });
}
void Profiler::endKernel(const void* handle) {
  %s
  addHandler(info);
}
}
"""


@pytest.mark.parametrize("binding, rule", [("auto& info = *m_op_info_list[uintptr_t(handle)];", "ST.003.f"),
                                           ("BaseInfo info;", "ST.003.a")])
def test_reference_parameters_are_judged_by_what_callers_pass(tmp_path: Path, binding, rule):
    report = _analyze_one(tmp_path, "i.mm", INFO % binding, "ST.003")
    assert {f.rule for f in report.findings if f.rule in ("ST.003.a", "ST.003.f")} == {rule}


CAPTURE_STOP = """
namespace at::mps {
void Profiler::stopCapture(MPSStream* stream) {
  stream->synchronize(SyncType::COMMIT);
  [captureManager stopCapture];
}
void kernel(MPSStream* mpsStream) {
  dispatch_sync_with_rethrow(mpsStream->queue(), ^() {
    getMPSProfiler().stopCapture(mpsStream);
  });
  %s
}
}
"""


@pytest.mark.parametrize("extra, flagged", [("", False), ("getMPSProfiler().stopCapture(mpsStream);", True)])
def test_an_objc_message_of_the_same_name_is_no_call_site(tmp_path: Path, extra, flagged):
    """stopCapture() is called only on the queue; `[captureManager stopCapture]` inside it is another method."""
    report = _analyze_one(tmp_path, "q.mm", CAPTURE_STOP % extra, "ST.001")
    assert any(f.rule == "ST.001.b" for f in report.findings) is flagged


NEEDS_LOCK = """
namespace at::mps {
void MPSEvent::waitLocked(bool syncEvent) {
  m_stream->synchronize(SyncType::COMMIT);
}
bool MPSEvent::wait(bool needsLock, bool syncEvent) {
  if (!needsLock) {
    return waitLocked(syncEvent);
  }
  dispatch_sync(m_stream->queue(), ^() {
    waitLocked(syncEvent);
  });
  return true;
}
void MPSEventPool::waitForEvent(MPSEvent* event, bool syncEvent) {
  event->wait(%s, syncEvent);
}
}
"""


@pytest.mark.parametrize("needs_lock, flagged", [("true", False), ("false", True)])
def test_a_branch_on_a_needs_lock_parameter_is_judged_at_the_call_sites(tmp_path: Path, needs_lock, flagged):
    report = _analyze_one(tmp_path, "w.mm", NEEDS_LOCK % needs_lock, "ST.001")
    assert any(f.rule == "ST.001.c" for f in report.findings) is flagged


DEFAULTS = """
namespace at::mps {
class MPSEvent {
 public:
  void record(MPSStream* stream, bool needsLock, bool syncEvent = false);
 private:
  std::mutex m_mutex;
};
void MPSEvent::record(MPSStream* stream, bool needsLock, bool syncEvent) {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (syncEvent) {
    dispatch_sync(stream->queue(), ^() { stream->commit(); });
  }
}
void onQueue(MPSStream* stream, MPSEvent* event) {
  dispatch_sync(stream->queue(), ^() {
    std::lock_guard<std::mutex> lock(event->m_mutex);
  });
  event->record(stream, false%s);
}
}
"""


@pytest.mark.parametrize("extra, flagged", [("", False), (", true", True)])
def test_default_arguments_from_the_declaration_decide_a_branch(tmp_path: Path, extra, flagged):
    report = _analyze_one(tmp_path, "d.mm", DEFAULTS % extra, "ST.009")
    assert any(f.rule == "ST.009.a" for f in report.findings) is flagged


CURRENT_STREAM = """
namespace at::mps {
void helper(MPSStream* other) {
  %s
}
void kernel(MPSStream* other) {
  MPSStream* mpsStream = getCurrentMPSStream();
  dispatch_sync(mpsStream->queue(), ^() {
    helper(other);
  });
}
}
"""


@pytest.mark.parametrize("body, flagged", [
    ("MPSStream* s = getCurrentMPSStream(); s->synchronize(SyncType::COMMIT);", False),
    ("std::array<MPSStream*, 2> all{other, other}; all[1]->synchronize(SyncType::COMMIT);", True),
])
def test_the_current_stream_is_the_queue_it_runs_on(tmp_path: Path, body, flagged):
    """On a stream's queue getCurrentMPSStream() is that stream: its re-entrant synchronize runs inline; another
    stream's (an element of a local std::array<MPSStream*, N>) is a nested acquisition of two queues."""
    flag = (FIX / "reentrant_flag.mm").read_text()
    synchronize = flag[flag.index("void MPSStream::synchronize"):flag.index("void MPSStream::syncPeers")]
    (tmp_path / "c.mm").write_text((FIX / "stream.h").read_text() + CURRENT_STREAM % body
                                   + "namespace at::mps {\n" + synchronize + "}\n")
    report = analyze([tmp_path / "c.mm"], tmp_path, rules=["ST.009"], cache=False, jobs=1)
    assert any(f.rule in ("ST.009.a", "ST.009.b") for f in report.findings) is flagged


INTERFACE = """
namespace at::mps {
class IMPSAllocator {
 public:
  virtual void* allocate(size_t n) = 0;
};
IMPSAllocator* getIMPSAllocator();
static std::condition_variable m_cv;
class MPSAllocator : public IMPSAllocator {
 public:
  void* allocate(size_t n) override;
  std::recursive_mutex m_mutex;
};
void* MPSAllocator::allocate(size_t n) {
  std::lock_guard<std::recursive_mutex> lock(m_mutex);
  return nullptr;
}
void kernel(MPSStream* stream) {
  dispatch_sync(stream->queue(), ^() {
    getIMPSAllocator()->allocate(16);
    m_cv.wait(lk);
  });
}
void MPSEvent::wait(bool needsLock) {
  std::lock_guard<std::mutex> lock(event_mutex_);
}
}
"""


def test_calls_through_an_interface_reach_its_implementations_and_std_types_reach_nothing(tmp_path: Path):
    (tmp_path / "a.mm").write_text(INTERFACE)
    from analyzers.hierarchy import load_hierarchy
    from analyzers.lockgraph import build_graph
    graph = build_graph([parse_file(tmp_path / "a.mm", "a.mm")], load_hierarchy())
    assert graph.graph.has_edge("stream_queue", "MPSAllocator::m_mutex")
    assert not any("event_mutex" in b for _, b in graph.graph.edges)      # m_cv.wait is no MPSEvent::wait


FRESH_BLOCK = """
namespace at::mps {
id<MTLBuffer> Allocator::scalar(size_t size) {
  BufferBlock* buffer_block = nullptr;
  {
    std::lock_guard<std::recursive_mutex> lock(m_mutex);
    buffer_block = %s(size);
  }
  memcpy(buffer_block->cpu_ptr, value, size);
  return buffer_block->buffer;
}
}
"""


@pytest.mark.parametrize("getter, flagged", [("alloc_buffer_block", False), ("get_allocated_buffer_block", True)])
def test_a_block_allocated_under_the_lock_is_the_callers(tmp_path: Path, getter, flagged):
    report = _analyze_one(tmp_path, "f.mm", FRESH_BLOCK % getter, "ST.013")
    assert any(f.rule == "ST.013.b" for f in report.findings) is flagged


FILL_ONCE = """
namespace at::mps {
class Profiler {
 public:
  Profiler();
  void initialize();
  void StartTrace();
  std::unordered_map<int, int> m_stats;
};
static Profiler s_profiler;
Profiler::Profiler() { %s }
void Profiler::initialize() {
  if (m_stats.empty()) {
    m_stats.emplace(1, 1);
    m_stats.emplace(2, 2);
  }
}
void Profiler::StartTrace() { initialize(); %s }
}
"""


@pytest.mark.parametrize("ctor, extra, flagged", [("initialize();", "", False), ("", "", True),
                                                   ("initialize();", "m_stats.clear();", True)])
def test_a_container_filled_once_by_the_constructor(tmp_path: Path, ctor, extra, flagged):
    report = _analyze_one(tmp_path, "p.mm", FILL_ONCE % (ctor, extra), "ST.007")
    assert any(f.rule == "ST.007.b" for f in report.findings) is flagged


SMART = """
namespace at::mps {
class MPSEvent {
 public:
  void reset(bool timing);
  std::mutex m_mutex;
};
void MPSEvent::reset(bool timing) { std::lock_guard<std::mutex> lock(m_mutex); }
struct Block { std::unique_ptr<MPSEvent> event; };
void release(MPSStream* stream, Block* block) {
  dispatch_sync(stream->queue(), ^() {
    block->event%sreset(%s);
  });
}
}
"""


@pytest.mark.parametrize("access, arg, flagged", [(".", "nullptr", False), ("->", "true", True)])
def test_a_smart_pointers_own_methods_are_not_the_pointees(tmp_path: Path, access, arg, flagged):
    (tmp_path / "s.mm").write_text(SMART % (access, arg))
    from analyzers.hierarchy import load_hierarchy
    from analyzers.lockgraph import build_graph
    graph = build_graph([parse_file(tmp_path / "s.mm", "s.mm")], load_hierarchy())
    assert graph.graph.has_edge("stream_queue", "MPSEvent::m_mutex") is flagged


def test_a_method_declared_after_an_inline_one_keeps_its_return_type():
    # a declaration statement once ran on through the inline bodies before it, and took their name
    model = parse_text("struct Pool;\nclass Alloc {\n public:\n  int size() const { return n_; }\n"
                       "  Alloc() : n_(0) {}\n  Pool* pool(int shard = 0);\n  int n_;\n};\n", "alloc.h")
    ts = symbols.types([model])
    assert ts.returns_of("Alloc", "pool") == "Pool *"
    assert ts.defaults.get("Alloc::pool") == {0: "0"}
    assert ts.returns_of("Alloc", "size") == "int"


def test_an_auto_local_is_typed_again_with_another_run_s_type_tables():
    # the gate's base and head runs share the models of unchanged files; a header's return type may change
    use = parse_text("void use(Pool& p) {\n  auto x = p.get();\n  x->m = 1;\n}\n", "use.mm")
    fn = next(use.scopes("function"))
    for cls in ("Alpha", "Beta"):
        header = parse_text(f"class {cls} {{ public: int m; }};\nclass Pool {{ public: {cls}* get(); }};\n", "pool.h")
        ts = symbols.types([header, use])
        assert symbols.local_type(use, ts, fn, symbols.find_local(use, fn, "x")) == f"{cls} *"
