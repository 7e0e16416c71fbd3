----------------------------- MODULE StreamPool -----------------------------
(***************************************************************************)
(* A pool of MPS streams handed to threads.                                *)
(*                                                                         *)
(* Abstracts the stream pool newer upstream adds (32 streams, a            *)
(* thread-local current stream chosen round-robin on first use, so threads *)
(* beyond the pool size share streams) together with 2.6.0's per-stream    *)
(* discipline in aten/src/ATen/mps/MPSStream.mm: each stream's work runs   *)
(* inside dispatch_sync(stream->queue(), ...).  Stream 0 is the default    *)
(* stream, which the allocator, event pool, hooks and profiler still use,  *)
(* so every thread can also land there.                                    *)
(*                                                                         *)
(* Variant: "queue" - every use of a stream runs on its serial queue;      *)
(* "no_queue" - threads touch their stream without the queue.              *)
(*                                                                         *)
(* Leaves out: what the critical section does (see CommandBuffer), set/    *)
(* get of an explicit stream, stream destruction, priorities.  The         *)
(* round-robin counter is an atomic fetch-add, as upstream's is.           *)
(***************************************************************************)
EXTENDS Integers, FiniteSets

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    PoolSize,
    \* @type: Int;
    Ops,
    \* @type: Str;
    Variant

ASSUME NumThreads >= 1 /\ PoolSize >= 1 /\ Ops >= 1
ASSUME Variant \in {"queue", "no_queue"}

Threads == 1..NumThreads
\* 0 is the default stream, 1..PoolSize the pool
Streams == 0..PoolSize
NoStream == -1

(* cur: a thread's thread-local current stream (-1 until first use);      *)
(* rr: the pool's round-robin counter; pc: "idle" | "in_cs"; target: the  *)
(* stream of the operation under way; done: operations done; queue: the   *)
(* holder of each stream's serial queue (0: free).                        *)
VARIABLES
    \* @type: Int -> Int;
    cur,
    \* @type: Int;
    rr,
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Int;
    target,
    \* @type: Int -> Int;
    done,
    \* @type: Int -> Int;
    queue

vars == <<cur, rr, pc, target, done, queue>>

ConstInit ==
    /\ NumThreads = 3
    /\ PoolSize = 2
    /\ Ops = 2
    /\ Variant = "queue"

ConstInitNoQueue ==
    /\ NumThreads = 3
    /\ PoolSize = 2
    /\ Ops = 2
    /\ Variant = "no_queue"

Init ==
    /\ cur = [t \in Threads |-> NoStream]
    /\ rr = 0
    /\ pc = [t \in Threads |-> "idle"]
    /\ target = [t \in Threads |-> NoStream]
    /\ done = [t \in Threads |-> 0]
    /\ queue = [s \in Streams |-> 0]

\* getCurrentMPSStream() on first use: take the next pool stream round-robin
PickStream(t) ==
    /\ cur[t] = NoStream
    /\ cur' = [cur EXCEPT ![t] = (rr % PoolSize) + 1]
    /\ rr' = rr + 1
    /\ UNCHANGED <<pc, target, done, queue>>

\* run an operation on stream s (its own, or the default one): dispatch_sync(s->queue(), ...)
Enter(t) ==
    /\ cur[t] # NoStream
    /\ pc[t] = "idle"
    /\ done[t] < Ops
    /\ \E s \in {cur[t], 0} :
          /\ Variant = "queue" => queue[s] = 0
          /\ queue' = IF Variant = "queue" THEN [queue EXCEPT ![s] = t] ELSE queue
          /\ target' = [target EXCEPT ![t] = s]
    /\ pc' = [pc EXCEPT ![t] = "in_cs"]
    /\ UNCHANGED <<cur, rr, done>>

\* the dispatch_sync block returns (the operation on the stream is done)
Leave(t) ==
    /\ pc[t] = "in_cs"
    /\ queue' = IF Variant = "queue" THEN [queue EXCEPT ![target[t]] = 0] ELSE queue
    /\ target' = [target EXCEPT ![t] = NoStream]
    /\ done' = [done EXCEPT ![t] = @ + 1]
    /\ pc' = [pc EXCEPT ![t] = "idle"]
    /\ UNCHANGED <<cur, rr>>

Finished ==
    /\ \A t \in Threads : done[t] = Ops
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : PickStream(t) \/ Enter(t) \/ Leave(t)
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Safety: a stream's critical section holds at most one thread.           *)
(***************************************************************************)
NoSharedCriticalSection ==
    \A s \in Streams : Cardinality({t \in Threads : pc[t] = "in_cs" /\ target[t] = s}) <= 1
=============================================================================
