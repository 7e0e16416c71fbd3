---------------------------- MODULE LockHierarchyData ----------------------------
(* GENERATED from specs/lock_hierarchy.yaml by `python -m checks.specs.hierarchy --write`.
   Do not edit: the spec runner fails when this file and the YAML disagree.
   Rule: holding a lock of level L, a thread may only acquire locks of a strictly lower
   level, or re-enter a recursive mutex it holds. *)

(* The locks, outermost (highest level) first:
     graph_cache_queue     queue              60  MPSGraphCache's serial queue; graph builders run on it.
     kernel_cache_queue    queue              55  MPSKernelCache's serial queue (torch 2.7+, not in 2.6.0); kernel pipelines are created on it.
     stream_queue          queue              50  the per-stream GCD serial queue; every MPSGraph run and encoder access goes through it.
     generator_mutex       mutex              45  c10 generator mutex taken around random-number state in Distributions.mm.
     gpu_wait              gpu                40  pseudo-lock for waiting on the GPU (waitUntilCompleted / COMMIT_AND_WAIT); completion handlers run inside it.
     allocator_mutex       recursive_mutex    30  MPSHeapAllocatorImpl::m_mutex; completion handlers take it, so never hold it while waiting for the GPU.
     event_pool_mutex      recursive_mutex    20  MPSEventPool::m_mutex; taken while recording events under the allocator mutex.
     event_cpu_sync_mutex  mutex              10  MPSEvent::m_cpu_sync_mutex with m_cpu_sync_cv; the CPU waits on the condition variable under it.
*)

\* @type: Set(Str);
Locks == {"graph_cache_queue", "kernel_cache_queue", "stream_queue", "generator_mutex", "gpu_wait", "allocator_mutex", "event_pool_mutex", "event_cpu_sync_mutex"}

\* @type: Str -> Int;
Level == [l \in Locks |->
    CASE l = "graph_cache_queue" -> 60
      [] l = "kernel_cache_queue" -> 55
      [] l = "stream_queue" -> 50
      [] l = "generator_mutex" -> 45
      [] l = "gpu_wait" -> 40
      [] l = "allocator_mutex" -> 30
      [] l = "event_pool_mutex" -> 20
      [] l = "event_cpu_sync_mutex" -> 10]

\* @type: Str -> Str;
Kind == [l \in Locks |->
    CASE l = "graph_cache_queue" -> "queue"
      [] l = "kernel_cache_queue" -> "queue"
      [] l = "stream_queue" -> "queue"
      [] l = "generator_mutex" -> "mutex"
      [] l = "gpu_wait" -> "gpu"
      [] l = "allocator_mutex" -> "recursive_mutex"
      [] l = "event_pool_mutex" -> "recursive_mutex"
      [] l = "event_cpu_sync_mutex" -> "mutex"]

\* @type: Set(Str);
Recursive == {l \in Locks : Kind[l] = "recursive_mutex"}
=============================================================================
