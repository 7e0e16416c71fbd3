---------------------------- MODULE ForkOomSync ----------------------------
(***************************************************************************)
(* The fork's out-of-memory fallback: synchronise every stream, then free  *)
(* the cache (dML stream-pool patch).                                      *)
(*                                                                         *)
(* Code (fork bundle): MPSHeapAllocatorImpl::malloc -> alloc_buffer_block  *)
(* -> release_cached_buffers() -> MPSStreamPool::synchronizeAllStreams(),  *)
(* which calls synchronize(COMMIT_AND_WAIT) on each stream in index order: *)
(* off that stream's queue it dispatch_syncs onto the queue; on it (the    *)
(* allocation runs inside a block of the thread's own stream) it takes the *)
(* re-entrant path, which skips the wait while an encoder is open (see     *)
(* ForkSync).  Then release_buffers frees every cached block: the fork's   *)
(* own comment (32.30) requires all streams synchronised first.            *)
(*                                                                         *)
(* Questions: can two threads whose fallbacks run inside their own         *)
(* stream's block deadlock (each holds its queue and dispatch_syncs onto   *)
(* the other's)?  Property AllSyncedBeforeRelease: a fallback frees the    *)
(* cache only after a real COMMIT_AND_WAIT of every stream.                *)
(*                                                                         *)
(* Variant "sync_all": the fork's code.  "own_only": a naive fix that, on  *)
(* a stream queue, synchronises only that stream.  "fail_fast": on a       *)
(* stream queue the fallback frees nothing and raises the OOM error (the   *)
(* caller may retry outside the queue); off every queue it synchronises    *)
(* all streams as the fork does.                                           *)
(*                                                                         *)
(* Leaves out: the default stream, pool mutexes (the fork drops pool_mutex *)
(* and stream_creation_mutex_ before synchronising), which blocks are      *)
(* freed, retries.                                                         *)
(***************************************************************************)
EXTENDS Integers, FiniteSets

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    PoolSize,
    \* @type: Str;
    Variant

ASSUME NumThreads >= 1 /\ PoolSize >= 1
ASSUME Variant \in {"sync_all", "own_only", "fail_fast"}

Threads == 1..NumThreads
Streams == 1..PoolSize

(* cur: the thread's stream; rr: round-robin counter; pc: where it is;    *)
(* inq: the stream whose block the thread is in (0: none); queue: holder  *)
(* of each queue; encoder: "none" | "open"; open / inflight: streams'     *)
(* uncommitted / running work; todo, synced: streams the fallback still   *)
(* has to synchronise / has synchronised for real; waitOn: the stream a   *)
(* thread waits for.                                                      *)
VARIABLES
    \* @type: Int -> Int;
    cur,
    \* @type: Int;
    rr,
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Int;
    inq,
    \* @type: Int -> Int;
    queue,
    \* @type: Int -> Str;
    encoder,
    \* @type: Int -> Bool;
    open,
    \* @type: Int -> Bool;
    inflight,
    \* @type: Int -> Set(Int);
    todo,
    \* @type: Int -> Set(Int);
    synced,
    \* @type: Int -> Int;
    waitOn

vars == <<cur, rr, pc, inq, queue, encoder, open, inflight, todo, synced, waitOn>>

ConstInit ==
    /\ NumThreads = 2
    /\ PoolSize = 2
    /\ Variant = "fail_fast"

ConstInitSyncAll ==
    /\ NumThreads = 2
    /\ PoolSize = 2
    /\ Variant = "sync_all"

Init ==
    /\ cur = [t \in Threads |-> 0]
    /\ rr = 0
    /\ pc = [t \in Threads |-> "idle"]
    /\ inq = [t \in Threads |-> 0]
    /\ queue = [s \in Streams |-> 0]
    /\ encoder = [s \in Streams |-> "none"]
    /\ open = [s \in Streams |-> FALSE]
    /\ inflight = [s \in Streams |-> FALSE]
    /\ todo = [t \in Threads |-> {}]
    /\ synced = [t \in Threads |-> {}]
    /\ waitOn = [t \in Threads |-> 0]

\* getCurrentMPSStream() on first use: getWorkerStreamIndex() round-robin
Pick(t) ==
    /\ cur[t] = 0
    /\ cur' = [cur EXCEPT ![t] = (rr % PoolSize) + 1]
    /\ rr' = rr + 1
    /\ UNCHANGED <<pc, inq, queue, encoder, open, inflight, todo, synced, waitOn>>

\* an op either allocates inside its stream's block (dispatch_sync_with_rethrow + commandEncoder(), then
\* MPSHeapAllocatorImpl::malloc) or outside any block
EnterAndEncode(t) ==
    LET s == cur[t] IN
    /\ pc[t] = "idle" /\ cur[t] # 0
    /\ queue[s] = 0
    /\ queue' = [queue EXCEPT ![s] = t]
    /\ inq' = [inq EXCEPT ![t] = s]
    /\ encoder' = [encoder EXCEPT ![s] = "open"]
    /\ open' = [open EXCEPT ![s] = TRUE]
    /\ pc' = [pc EXCEPT ![t] = "alloc"]
    /\ UNCHANGED <<cur, rr, inflight, todo, synced, waitOn>>

\* MPSHeapAllocatorImpl::malloc called outside any stream block (e.g. tensor creation)
AllocOutside(t) ==
    /\ pc[t] = "idle" /\ cur[t] # 0
    /\ pc' = [pc EXCEPT ![t] = "alloc"]
    /\ UNCHANGED <<cur, rr, inq, queue, encoder, open, inflight, todo, synced, waitOn>>

\* alloc_buffer_block finds no block: release_cached_buffers()
OutOfMemory(t) ==
    /\ pc[t] = "alloc"
    /\ IF Variant = "fail_fast" /\ inq[t] # 0
         THEN /\ pc' = [pc EXCEPT ![t] = "raised"]
              /\ UNCHANGED todo
         ELSE /\ pc' = [pc EXCEPT ![t] = "sync"]
              /\ todo' = [todo EXCEPT ![t] =
                              IF Variant = "own_only" /\ inq[t] # 0 THEN {inq[t]} ELSE Streams]
    /\ synced' = [synced EXCEPT ![t] = {}]
    /\ UNCHANGED <<cur, rr, inq, queue, encoder, open, inflight, waitOn>>

\* MPSStreamPool::synchronizeAllStreams(): the next stream in index order, MPSStream::synchronize(COMMIT_AND_WAIT)
SyncNext(t) ==
    LET i == CHOOSE x \in todo[t] : \A y \in todo[t] : x <= y IN
    /\ pc[t] = "sync"
    /\ todo[t] # {}
    /\ IF inq[t] = i
         THEN \* re-entrant branch (dispatch_get_specific): skipped while an encoder is open
              IF encoder[i] = "open"
                THEN /\ todo' = [todo EXCEPT ![t] = @ \ {i}]
                     /\ UNCHANGED <<pc, queue, encoder, open, inflight, synced, waitOn>>
                ELSE /\ inflight' = [inflight EXCEPT ![i] = @ \/ open[i]]
                     /\ open' = [open EXCEPT ![i] = FALSE]
                     /\ waitOn' = [waitOn EXCEPT ![t] = i]
                     /\ pc' = [pc EXCEPT ![t] = "wait"]
                     /\ UNCHANGED <<todo, queue, encoder, synced>>
         ELSE \* dispatch_sync(_serialQueue, { endKernelCoalescing; commit }), wait outside
              /\ queue[i] = 0
              /\ encoder' = [encoder EXCEPT ![i] = "none"]
              /\ inflight' = [inflight EXCEPT ![i] = @ \/ open[i]]
              /\ open' = [open EXCEPT ![i] = FALSE]
              /\ waitOn' = [waitOn EXCEPT ![t] = i]
              /\ pc' = [pc EXCEPT ![t] = "wait"]
              /\ UNCHANGED <<todo, queue, synced>>
    /\ UNCHANGED <<cur, rr, inq>>

\* waitUntilCompleted on the stream's committed buffers
Waited(t) ==
    LET i == waitOn[t] IN
    /\ pc[t] = "wait"
    /\ ~inflight[i]
    /\ synced' = [synced EXCEPT ![t] = @ \cup {i}]
    /\ todo' = [todo EXCEPT ![t] = @ \ {i}]
    /\ waitOn' = [waitOn EXCEPT ![t] = 0]
    /\ pc' = [pc EXCEPT ![t] = "sync"]
    /\ UNCHANGED <<cur, rr, inq, queue, encoder, open, inflight>>

\* release_cached_buffers: release_buffers on every pool once synchronizeAllStreams returned
Release(t) ==
    /\ pc[t] = "sync"
    /\ todo[t] = {}
    /\ pc' = [pc EXCEPT ![t] = "release"]
    /\ UNCHANGED <<cur, rr, inq, queue, encoder, open, inflight, todo, synced, waitOn>>

\* the allocation returns (or the OOM error unwinds the block); the block, if any, ends
Finish(t) ==
    /\ pc[t] \in {"release", "raised"}
    /\ queue' = IF inq[t] # 0 THEN [queue EXCEPT ![inq[t]] = 0] ELSE queue
    /\ inq' = [inq EXCEPT ![t] = 0]
    /\ pc' = [pc EXCEPT ![t] = "done"]
    /\ UNCHANGED <<cur, rr, encoder, open, inflight, todo, synced, waitOn>>

\* the GPU completes a stream's committed work
GpuComplete(s) ==
    /\ inflight[s]
    /\ inflight' = [inflight EXCEPT ![s] = FALSE]
    /\ UNCHANGED <<cur, rr, pc, inq, queue, encoder, open, todo, synced, waitOn>>

Terminated ==
    /\ \A t \in Threads : pc[t] = "done"
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Pick(t) \/ EnterAndEncode(t) \/ AllocOutside(t) \/ OutOfMemory(t)
                          \/ SyncNext(t) \/ Waited(t) \/ Release(t) \/ Finish(t)
    \/ \E s \in Streams : GpuComplete(s)
    \/ Terminated

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* The cache is freed only after every stream really completed its work.   *)
(***************************************************************************)
AllSyncedBeforeRelease ==
    \A t \in Threads : pc[t] = "release" => synced[t] = Streams
=============================================================================
