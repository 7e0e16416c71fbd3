--------------------------- MODULE AtForkBinding ---------------------------
(***************************************************************************)
(* Thread-local stream binding, pthread_atfork and thread exit.            *)
(*                                                                         *)
(* Code (fork bundle, aten/src/ATen/mps/MPSStream.mm): a thread_local      *)
(* tls_current_stream bound on first use by MPSStreamPool::                *)
(* getCurrentStream (round-robin worker stream); mps_child_atfork_handler  *)
(* (registered with pthread_atfork) sets g_in_forked_child, clears         *)
(* g_pool_alive and the forking thread's tls_current_stream;               *)
(* getCurrentStream TORCH_CHECKs g_in_forked_child; releaseCurrentThread-  *)
(* Slot clears the binding when a thread is done.  Upstream 2.6.0 has one  *)
(* stream and no fork handler.                                             *)
(*                                                                         *)
(* A forked child has one thread (a copy of the forking thread, its TLS    *)
(* included) and none of the parent's Metal queues or streams.             *)
(* ChildUsesNoParentObject: the child never encodes on a parent stream     *)
(* (its inherited binding or a pool stream).  BoundThreadsAlive: a         *)
(* thread's exit releases its binding.                                     *)
(*                                                                         *)
(* Handler = "flag" (the fork's code) | "clear_tls" (clears the binding    *)
(* only: the child binds a pool stream anew) | "none" (no handler).        *)
(* ExitRelease = FALSE: exit leaves the binding behind.                    *)
(***************************************************************************)
EXTENDS Integers

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    PoolSize,
    \* @type: Str;
    Handler,
    \* @type: Bool;
    ExitRelease

ASSUME NumThreads >= 1 /\ PoolSize >= 1
ASSUME Handler \in {"flag", "clear_tls", "none"}
ASSUME ExitRelease \in BOOLEAN

Threads == 1..NumThreads

(* tls: each parent thread's bound stream (0: none); rr: round-robin      *)
(* counter; alive: the thread has not exited; child: "none" | "running" | *)
(* "refused" | "used"; childTls: the child's copy of the forking thread's *)
(* binding; inChild: g_in_forked_child as the child sees it; bad: the     *)
(* child encoded on a parent stream.                                      *)
VARIABLES
    \* @type: Int -> Int;
    tls,
    \* @type: Int;
    rr,
    \* @type: Int -> Bool;
    alive,
    \* @type: Str;
    child,
    \* @type: Int;
    childTls,
    \* @type: Bool;
    inChild,
    \* @type: Bool;
    bad

vars == <<tls, rr, alive, child, childTls, inChild, bad>>

ConstInit == NumThreads = 2 /\ PoolSize = 2 /\ Handler = "flag" /\ ExitRelease = TRUE

Init ==
    /\ tls = [t \in Threads |-> 0]
    /\ rr = 0
    /\ alive = [t \in Threads |-> TRUE]
    /\ child = "none"
    /\ childTls = 0
    /\ inChild = FALSE
    /\ bad = FALSE

\* MPSStreamPool::getCurrentStream on first use: getWorkerStreamIndex()
Bind(t) ==
    /\ alive[t] /\ tls[t] = 0
    /\ rr < NumThreads + 1
    /\ tls' = [tls EXCEPT ![t] = (rr % PoolSize) + 1]
    /\ rr' = rr + 1
    /\ UNCHANGED <<alive, child, childTls, inChild, bad>>

\* thread exit: the thread_local destructor / MPSStreamPool::releaseCurrentThreadSlot
Exit(t) ==
    /\ alive[t]
    /\ alive' = [alive EXCEPT ![t] = FALSE]
    /\ tls' = IF ExitRelease THEN [tls EXCEPT ![t] = 0] ELSE tls
    /\ UNCHANGED <<rr, child, childTls, inChild, bad>>

\* fork() from thread t: the child copies t's TLS; pthread_atfork runs mps_child_atfork_handler in the child
Fork(t) ==
    /\ alive[t] /\ child = "none"
    /\ child' = "running"
    /\ childTls' = IF Handler = "none" THEN tls[t] ELSE 0
    /\ inChild' = (Handler = "flag")
    /\ UNCHANGED <<tls, rr, alive, bad>>

\* the child runs an MPS op: getCurrentMPSStream()
ChildUse ==
    /\ child = "running"
    /\ IF inChild
         THEN /\ child' = "refused"            \* TORCH_CHECK(!g_in_forked_child)
              /\ UNCHANGED bad
         ELSE /\ child' = "used"               \* inherited binding, or a pool stream bound anew
              /\ bad' = TRUE
    /\ UNCHANGED <<tls, rr, alive, childTls, inChild>>

Terminated ==
    /\ \A t \in Threads : ~alive[t]
    /\ child \in {"none", "refused", "used"}
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Bind(t) \/ Exit(t) \/ Fork(t)
    \/ ChildUse
    \/ Terminated

Spec == Init /\ [][Next]_vars

ChildUsesNoParentObject == ~bad

BoundThreadsAlive == \A t \in Threads : tls[t] # 0 => alive[t]
=============================================================================
