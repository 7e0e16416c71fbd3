---------------------------- MODULE LockHierarchy ----------------------------
(***************************************************************************)
(* The MPS backend's locks and queues and the paths that acquire them.     *)
(*                                                                         *)
(* Lock names, kinds and levels come from specs/lock_hierarchy.yaml via    *)
(* the generated module LockHierarchyData.  Each thread runs Ops paths     *)
(* (its plan), each a sequence of steps taken from the 2.6.0 sources:      *)
(*   graph_op      LookUpOrCreateCachedGraph (graph-cache queue), then     *)
(*                 runMPSGraph: dispatch_sync(stream queue) and commit;    *)
(*   free_scalar   MPSHeapAllocatorImpl::free for the scalar pool: the     *)
(*                 allocator mutex, then addCompletedHandler on the queue  *)
(*                 with a handler that takes the allocator mutex;          *)
(*   empty_cache   emptyCache -> release_cached_buffers: drops the         *)
(*                 allocator mutex, dispatch_sync(stream queue,            *)
(*                 COMMIT_AND_WAIT), takes the mutex again;                *)
(*   record_events recordEvents: allocator mutex -> event-pool mutex       *)
(*                 (acquireEvent);                                         *)
(*   elapsed_time  MPSEventPool::elapsedTime: COMMIT_AND_WAIT on the       *)
(*                 queue, then event-pool mutex -> cpu-sync mutex and a    *)
(*                 condition-variable wait for the event's listener.       *)
(* Completion handlers and event listeners are actors of their own: a      *)
(* handler takes the allocator mutex, a listener the cpu-sync mutex.       *)
(* Waiting for the GPU is the pseudo-lock gpu_wait; as the comment in      *)
(* release_cached_buffers implies, a wait ends only after the completed    *)
(* buffers' handlers ran.                                                  *)
(*                                                                         *)
(* Variant: "documented" - the code's order; "alloc_wait" - empty_cache    *)
(* keeps the allocator mutex across the GPU wait (must DEADLOCK);          *)
(* "reverse_order" - record_events takes the event-pool mutex first        *)
(* (refutes RespectsLevels).                                               *)
(*                                                                         *)
(* Leaves out: what each path computes, several streams (one stream:       *)
(* 2.6.0), lock timeouts, try-locks, and spurious condition-variable       *)
(* wake-ups.  All committed work completes together (one serial queue).   *)
(***************************************************************************)
EXTENDS Naturals, Sequences, LockHierarchyData

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    Ops,
    \* @type: Str;
    Variant

ASSUME NumThreads >= 1 /\ Ops >= 1
ASSUME Variant \in {"documented", "alloc_wait", "reverse_order"}

Threads == 1..NumThreads

\* one step of a path
Acq(l) == <<"acq", l>>
Rel(l) == <<"rel", l>>
Do(op) == <<op, "">>
\* lock and unlock with nothing else held in between: one step, fewer interleavings
Touch(l) == <<"touch", l>>

\* plans name paths by their index here (the order serves the symmetry reduction in Init)
\* @type: Seq(Str);
PathOrder == <<"graph_op", "free_scalar", "empty_cache", "record_events", "elapsed_time">>
PathNames == {PathOrder[i] : i \in 1..Len(PathOrder)}

\* a constant function, so TLC evaluates it once
\* @type: Str -> Seq(<<Str, Str>>);
Paths == [p \in PathNames |->
    CASE p = "graph_op" ->
            <<Touch("graph_cache_queue"),
              Acq("stream_queue"), Do("commit"), Rel("stream_queue")>>
      [] p = "free_scalar" ->
            <<Touch("allocator_mutex"),
              Acq("stream_queue"), Do("handler"), Rel("stream_queue")>>
      [] p = "empty_cache" /\ Variant = "alloc_wait" ->
            <<Acq("allocator_mutex"),
              Acq("stream_queue"), Do("commit"), Do("wait"), Rel("stream_queue"),
              Rel("allocator_mutex")>>
      [] p = "empty_cache" /\ Variant # "alloc_wait" ->
            <<Touch("allocator_mutex"),
              Acq("stream_queue"), Do("commit"), Do("wait"), Rel("stream_queue"),
              Touch("allocator_mutex")>>
      [] p = "record_events" /\ Variant = "reverse_order" ->
            <<Acq("event_pool_mutex"), Acq("allocator_mutex"),
              Rel("allocator_mutex"), Rel("event_pool_mutex")>>
      [] p = "record_events" /\ Variant # "reverse_order" ->
            <<Acq("allocator_mutex"), Acq("event_pool_mutex"),
              Rel("event_pool_mutex"), Rel("allocator_mutex")>>
      [] p = "elapsed_time" ->
            <<Acq("stream_queue"), Do("record"), Do("wait"), Rel("stream_queue"),
              Acq("event_pool_mutex"), Acq("event_cpu_sync_mutex"), Do("cvwait"),
              Rel("event_cpu_sync_mutex"), Rel("event_pool_mutex")>>]

\* a renamed lock in the YAML must not silently drop out of the model
ASSUME \A p \in PathNames : \A i \in 1..Len(Paths[p]) :
          Paths[p][i][1] \in {"acq", "rel", "touch"} => Paths[p][i][2] \in Locks

(* plan: the paths each thread runs, as indices into PathOrder;           *)
(* path / step: the path a thread runs ("" when idle) and its next step;   *)
(* held: the locks it holds, in acquisition order (gpu_wait while it waits *)
(* for the GPU); waiting: in a condition-variable wait; done: paths run;   *)
(* owner / depth: each lock's holder (0: free) and recursion depth;        *)
(* pendH / flyH / runH: completion handlers added to the open buffer, to   *)
(* committed buffers, and due to run; flyE / runE: the same for event     *)
(* listeners, by the thread they wake; signalled: listener ran;            *)
(* busy: the GPU has committed work.                                       *)
VARIABLES
    \* @type: Int -> (Int -> Int);
    plan,
    \* @type: Int -> Str;
    path,
    \* @type: Int -> Int;
    step,
    \* @type: Int -> Seq(Str);
    held,
    \* @type: Int -> Bool;
    waiting,
    \* @type: Int -> Int;
    done,
    \* @type: Str -> Int;
    owner,
    \* @type: Str -> Int;
    depth,
    \* @type: Int;
    pendH,
    \* @type: Int;
    flyH,
    \* @type: Int;
    runH,
    \* @type: Set(Int);
    flyE,
    \* @type: Set(Int);
    runE,
    \* @type: Int -> Bool;
    signalled,
    \* @type: Bool;
    busy

threadVars == <<plan, path, step, held, waiting, done>>
lockVars == <<owner, depth>>
gpuVars == <<pendH, flyH, runH, flyE, runE, signalled, busy>>
vars == <<threadVars, lockVars, gpuVars>>

ConstInit ==
    /\ NumThreads = 3
    /\ Ops = 1
    /\ Variant = "documented"

ConstInitAllocWait ==
    /\ NumThreads = 3
    /\ Ops = 1
    /\ Variant = "alloc_wait"

ConstInitReverseOrder ==
    /\ NumThreads = 3
    /\ Ops = 1
    /\ Variant = "reverse_order"

(* Threads are interchangeable, so plans that differ only by a permutation *)
(* of threads behave alike: keep those whose first paths are sorted.       *)
Init ==
    /\ plan \in [Threads -> [1..Ops -> 1..Len(PathOrder)]]
    /\ \A t \in Threads : t < NumThreads => plan[t][1] <= plan[t + 1][1]
    /\ path = [t \in Threads |-> ""]
    /\ step = [t \in Threads |-> 0]
    /\ held = [t \in Threads |-> <<>>]
    /\ waiting = [t \in Threads |-> FALSE]
    /\ done = [t \in Threads |-> 0]
    /\ owner = [l \in Locks |-> 0]
    /\ depth = [l \in Locks |-> 0]
    /\ pendH = 0
    /\ flyH = 0
    /\ runH = 0
    /\ flyE = {}
    /\ runE = {}
    /\ signalled = [t \in Threads |-> FALSE]
    /\ busy = FALSE

Cur(t) == Paths[path[t]][step[t]]
Top(t) == held[t][Len(held[t])]
Pop(s) == SubSeq(s, 1, Len(s) - 1)

\* the thread moves past its current step; after the last one the path is done
Advance(t) ==
    /\ UNCHANGED plan
    /\ IF step[t] = Len(Paths[path[t]])
       THEN /\ path' = [path EXCEPT ![t] = ""]
            /\ step' = [step EXCEPT ![t] = 0]
            /\ done' = [done EXCEPT ![t] = @ + 1]
       ELSE /\ step' = [step EXCEPT ![t] = @ + 1]
            /\ UNCHANGED <<path, done>>

\* the thread starts its next path (graph_op: runMPSGraph, free_scalar: MPSHeapAllocatorImpl::free, empty_cache: emptyCache, ...)
Begin(t) ==
    /\ path[t] = ""
    /\ done[t] < Ops
    /\ path' = [path EXCEPT ![t] = PathOrder[plan[t][done[t] + 1]]]
    /\ step' = [step EXCEPT ![t] = 1]
    /\ UNCHANGED <<plan, held, waiting, done, lockVars, gpuVars>>

\* lock / dispatch_sync: blocks while another actor holds it; a queue or plain mutex
\* already held by this thread blocks forever (GCD: dispatch_sync onto the current queue)
Acquire(t) ==
    LET l == Cur(t)[2] IN
    /\ path[t] # ""
    /\ Cur(t)[1] = "acq"
    /\ \/ owner[l] = 0
       \/ owner[l] = t /\ l \in Recursive
    /\ owner' = [owner EXCEPT ![l] = t]
    /\ depth' = [depth EXCEPT ![l] = @ + 1]
    /\ held' = [held EXCEPT ![t] = Append(@, l)]
    /\ Advance(t)
    /\ UNCHANGED <<waiting, gpuVars>>

\* lock_guard / unique_lock goes out of scope, or dispatch_sync's block returns
Release(t) ==
    LET l == Cur(t)[2] IN
    /\ path[t] # ""
    /\ Cur(t)[1] = "rel"
    /\ Len(held[t]) > 0 /\ Top(t) = l
    /\ depth' = [depth EXCEPT ![l] = @ - 1]
    /\ owner' = [owner EXCEPT ![l] = IF depth[l] = 1 THEN 0 ELSE t]
    /\ held' = [held EXCEPT ![t] = Pop(@)]
    /\ Advance(t)
    /\ UNCHANGED <<waiting, gpuVars>>

\* a lock taken and dropped with nothing else held (so RespectsLevels has nothing to check)
Touch_(t) ==
    LET l == Cur(t)[2] IN
    /\ path[t] # ""
    /\ Cur(t)[1] = "touch"
    /\ held[t] = <<>>
    /\ owner[l] = 0
    /\ Advance(t)
    /\ UNCHANGED <<held, waiting, lockVars, gpuVars>>

\* [commandBuffer addCompletedHandler:] / encodeSignalEvent + notifyListener / commit
Handler(t) ==
    /\ path[t] # "" /\ Cur(t)[1] = "handler"
    /\ pendH' = pendH + 1
    /\ Advance(t)
    /\ UNCHANGED <<held, waiting, lockVars, flyH, runH, flyE, runE, signalled, busy>>

\* encodeSignalEvent for the thread's timing event, then commit (elapsedTime's COMMIT_AND_WAIT)
Record(t) ==
    /\ path[t] # "" /\ Cur(t)[1] = "record"
    /\ flyH' = flyH + pendH
    /\ pendH' = 0
    /\ flyE' = flyE \union {t}
    /\ busy' = TRUE
    /\ signalled' = [signalled EXCEPT ![t] = FALSE]
    /\ Advance(t)
    /\ UNCHANGED <<held, waiting, lockVars, runH, runE>>

\* MPSStream::commit(): the handlers added so far are committed with the buffer
Commit(t) ==
    /\ path[t] # "" /\ Cur(t)[1] = "commit"
    /\ flyH' = flyH + pendH
    /\ pendH' = 0
    /\ busy' = TRUE
    /\ Advance(t)
    /\ UNCHANGED <<held, waiting, lockVars, runH, flyE, runE, signalled>>

\* waitUntilCompleted: enter gpu_wait, leave it once the GPU is idle and its handlers ran
WaitBegin(t) ==
    /\ path[t] # "" /\ Cur(t)[1] = "wait"
    /\ Len(held[t]) = 0 \/ Top(t) # "gpu_wait"
    /\ held' = [held EXCEPT ![t] = Append(@, "gpu_wait")]
    /\ UNCHANGED <<plan, path, step, waiting, done, lockVars, gpuVars>>

\* waitUntilCompleted returns (MPSStream::commitAndWait)
WaitEnd(t) ==
    /\ path[t] # "" /\ Cur(t)[1] = "wait"
    /\ Len(held[t]) > 0 /\ Top(t) = "gpu_wait"
    /\ ~busy /\ flyH = 0 /\ runH = 0
    /\ held' = [held EXCEPT ![t] = Pop(@)]
    /\ Advance(t)
    /\ UNCHANGED <<waiting, lockVars, gpuVars>>

\* m_cpu_sync_cv.wait(lock, pred): release the mutex, sleep, re-take it once signalled
CvSleep(t) ==
    /\ path[t] # "" /\ Cur(t)[1] = "cvwait"
    /\ ~waiting[t]
    /\ Top(t) = "event_cpu_sync_mutex"
    /\ owner' = [owner EXCEPT !["event_cpu_sync_mutex"] = 0]
    /\ depth' = [depth EXCEPT !["event_cpu_sync_mutex"] = 0]
    /\ held' = [held EXCEPT ![t] = Pop(@)]
    /\ waiting' = [waiting EXCEPT ![t] = TRUE]
    /\ UNCHANGED <<plan, path, step, done, gpuVars>>

\* MPSEvent::waitForCpuSync: the condition variable's wait returns with m_cpu_sync_mutex re-taken
CvWake(t) ==
    /\ path[t] # "" /\ Cur(t)[1] = "cvwait"
    /\ waiting[t]
    /\ signalled[t]
    /\ owner["event_cpu_sync_mutex"] = 0
    /\ owner' = [owner EXCEPT !["event_cpu_sync_mutex"] = t]
    /\ depth' = [depth EXCEPT !["event_cpu_sync_mutex"] = 1]
    /\ held' = [held EXCEPT ![t] = Append(@, "event_cpu_sync_mutex")]
    /\ waiting' = [waiting EXCEPT ![t] = FALSE]
    /\ signalled' = [signalled EXCEPT ![t] = FALSE]
    /\ Advance(t)
    /\ UNCHANGED <<pendH, flyH, runH, flyE, runE, busy>>

\* the GPU finishes all committed work; its handlers and listeners become due
Complete ==
    /\ busy
    /\ busy' = FALSE
    /\ runH' = runH + flyH
    /\ flyH' = 0
    /\ runE' = runE \union flyE
    /\ flyE' = {}
    /\ UNCHANGED <<threadVars, lockVars, pendH, signalled>>

\* a completion handler: lock_guard(m_mutex); free_buffer(...)
RunHandler ==
    /\ runH > 0
    /\ owner["allocator_mutex"] = 0
    /\ runH' = runH - 1
    /\ UNCHANGED <<threadVars, lockVars, pendH, flyH, flyE, runE, signalled, busy>>

\* an event listener: notifyCpuSync() under m_cpu_sync_mutex
RunListener(t) ==
    /\ t \in runE
    /\ owner["event_cpu_sync_mutex"] = 0
    /\ runE' = runE \ {t}
    /\ signalled' = [signalled EXCEPT ![t] = TRUE]
    /\ UNCHANGED <<threadVars, lockVars, pendH, flyH, runH, flyE, busy>>

Finished ==
    /\ \A t \in Threads : path[t] = "" /\ done[t] = Ops
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads :
          \/ Begin(t) \/ Acquire(t) \/ Release(t) \/ Touch_(t)
          \/ Handler(t) \/ Record(t) \/ Commit(t)
          \/ WaitBegin(t) \/ WaitEnd(t) \/ CvSleep(t) \/ CvWake(t)
          \/ RunListener(t)
    \/ Complete
    \/ RunHandler
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Safety: every thread holds its locks in strictly decreasing level       *)
(* order, except re-entry into a recursive mutex it already holds.         *)
(* Deadlock freedom is checked by TLC itself (deadlock checking on).       *)
(***************************************************************************)
RespectsLevels ==
    \A t \in Threads :
       \A i, j \in 1..Len(held[t]) :
          i < j => \/ Level[held[t][i]] > Level[held[t][j]]
                   \/ held[t][i] = held[t][j] /\ held[t][i] \in Recursive

=============================================================================
