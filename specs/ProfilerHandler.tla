-------------------------- MODULE ProfilerHandler --------------------------
(***************************************************************************)
(* A mutex held across a GPU wait whose completion handler takes the same  *)
(* mutex (the fork's profiler, dML stream-pool patch).                     *)
(*                                                                         *)
(* Code (fork bundle, aten/src/ATen/mps/MPSProfiler.mm):                   *)
(* MPSProfiler::endProfileKernel and endProfileCopy take m_profiler_mutex  *)
(* (a recursive_mutex) and call addProfilerCompletedHandler, which adds a  *)
(* completed handler to the stream and then calls                         *)
(* synchronize(COMMIT_AND_WAIT) when WAIT_UNTIL_COMPLETED is set -- still  *)
(* under the mutex.  The handler runs endProfileExecution ->               *)
(* updateCopyStats, which takes m_profiler_mutex on Metal's handler        *)
(* thread (recursion does not help: another thread owns it).               *)
(*                                                                         *)
(* Constants: Hold = "across_wait" (the fork's code) | "release_before_    *)
(* wait" (the fix: update the maps under the mutex, drop it, then wait).   *)
(* Order = "handlers_first" (the driver runs completed handlers before it  *)
(* wakes waitUntilCompleted) | "wake_first" (waiters wake first, handlers  *)
(* run later; what the fork's comments assume).  HandlerLocks = FALSE is   *)
(* the code before the fork's 32.276 fix (the handler touches the stats    *)
(* without the mutex).                                                     *)
(*                                                                         *)
(* Verdict: across_wait deadlocks exactly when the driver runs handlers    *)
(* first; with wake_first it only stalls the handler until the profiler    *)
(* call returns.  release_before_wait is deadlock-free in both orders.     *)
(* NoConcurrentStatsAccess: the stats maps are never touched by a thread   *)
(* and a handler at once (why the mutex exists).                           *)
(***************************************************************************)
EXTENDS Integers

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Str;
    Hold,
    \* @type: Str;
    Order,
    \* @type: Bool;
    HandlerLocks

ASSUME NumThreads >= 1
ASSUME Hold \in {"across_wait", "release_before_wait"}
ASSUME Order \in {"handlers_first", "wake_first"}
ASSUME HandlerLocks \in BOOLEAN

Threads == 1..NumThreads
\* the mutex owner: 0 free, t a thread, NumThreads + t the handler of thread t's buffer
Free == 0
HandlerOf(t) == NumThreads + t

(* pc: "idle" -> "stats" (mutex held, maps touched) -> "wait" -> "waited" *)
(* -> "done"; gpu: "none" | "running" | "completed" per thread's buffer;  *)
(* handler: "none" | "pending" | "running" | "done"; owner: the mutex.    *)
VARIABLES
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Str;
    gpu,
    \* @type: Int -> Str;
    handler,
    \* @type: Int;
    owner

vars == <<pc, gpu, handler, owner>>

ConstInit ==
    /\ NumThreads = 2
    /\ Hold = "release_before_wait"
    /\ Order = "handlers_first"
    /\ HandlerLocks = TRUE

ConstInitAcrossWait ==
    /\ NumThreads = 2
    /\ Hold = "across_wait"
    /\ Order = "handlers_first"
    /\ HandlerLocks = TRUE

Init ==
    /\ pc = [t \in Threads |-> "idle"]
    /\ gpu = [t \in Threads |-> "none"]
    /\ handler = [t \in Threads |-> "none"]
    /\ owner = Free

\* MPSProfiler::endProfileKernel / endProfileCopy: lock_guard(m_profiler_mutex), look up the op info
Lock(t) ==
    /\ pc[t] = "idle"
    /\ owner = Free
    /\ owner' = t
    /\ pc' = [pc EXCEPT ![t] = "stats"]
    /\ UNCHANGED <<gpu, handler>>

\* MPSProfiler::addProfilerCompletedHandler: addCompletedHandler, then synchronize(COMMIT_AND_WAIT) commits
CommitAndWait(t) ==
    /\ pc[t] = "stats"
    /\ handler' = [handler EXCEPT ![t] = "pending"]
    /\ gpu' = [gpu EXCEPT ![t] = "running"]
    /\ owner' = IF Hold = "release_before_wait" THEN Free ELSE owner
    /\ pc' = [pc EXCEPT ![t] = "wait"]

\* the GPU finishes thread t's command buffer
GpuDone(t) ==
    /\ gpu[t] = "running"
    /\ gpu' = [gpu EXCEPT ![t] = "completed"]
    /\ UNCHANGED <<pc, handler, owner>>

\* the completed handler block: endProfileExecution -> updateCopyStats takes m_profiler_mutex
HandlerStart(t) ==
    /\ gpu[t] = "completed" /\ handler[t] = "pending"
    /\ HandlerLocks => owner = Free
    /\ owner' = IF HandlerLocks THEN HandlerOf(t) ELSE owner
    /\ handler' = [handler EXCEPT ![t] = "running"]
    /\ UNCHANGED <<pc, gpu>>

\* the handler's lock_guard in updateCopyStats goes out of scope; the block returns
HandlerEnd(t) ==
    /\ handler[t] = "running"
    /\ owner' = IF HandlerLocks THEN Free ELSE owner
    /\ handler' = [handler EXCEPT ![t] = "done"]
    /\ UNCHANGED <<pc, gpu>>

\* waitUntilCompleted returns: after the handlers when the driver runs them first
WaitReturns(t) ==
    /\ pc[t] = "wait"
    /\ gpu[t] = "completed"
    /\ Order = "handlers_first" => handler[t] = "done"
    /\ pc' = [pc EXCEPT ![t] = "waited"]
    /\ UNCHANGED <<gpu, handler, owner>>

\* the lock_guard of endProfileKernel goes out of scope
Return(t) ==
    /\ pc[t] = "waited"
    /\ owner' = IF Hold = "across_wait" THEN Free ELSE owner
    /\ pc' = [pc EXCEPT ![t] = "done"]
    /\ UNCHANGED <<gpu, handler>>

Terminated ==
    /\ \A t \in Threads : pc[t] = "done" /\ handler[t] = "done"
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Lock(t) \/ CommitAndWait(t) \/ GpuDone(t) \/ HandlerStart(t) \/ HandlerEnd(t)
                          \/ WaitReturns(t) \/ Return(t)
    \/ Terminated

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* The stats maps are never touched by a profiler call and a handler at    *)
(* once.                                                                   *)
(***************************************************************************)
NoConcurrentStatsAccess ==
    ~(\E t \in Threads : pc[t] = "stats") \/ ~(\E t \in Threads : handler[t] = "running")
=============================================================================
