------------------------------ MODULE ForkSync ------------------------------
(***************************************************************************)
(* The fork's re-entrant MPSStream::synchronize() (dML stream-pool patch). *)
(*                                                                         *)
(* Code (fork bundle, aten/src/ATen/mps/MPSStream.mm): threads get a       *)
(* worker stream round-robin on first use (getWorkerStreamIndex, an atomic *)
(* fetch_add); each stream has a serial queue and a recursive              *)
(* _streamMutex; synchronize() asks dispatch_get_specific whether it runs  *)
(* on the stream's own queue.  Off the queue it dispatch_syncs a block     *)
(* that ends the coalesced encoder and commits, then waits outside.  On    *)
(* the queue (re-entrant: an op inside a dispatch block synchronises the   *)
(* same stream) it must not end the encoder the outer block still uses     *)
(* (the fork's Bug #045), so with an encoder open it skips the commit and  *)
(* the wait (Bug #046) and returns.                                        *)
(*                                                                         *)
(* Question: can synchronize(COMMIT_AND_WAIT) return before the caller's   *)
(* work completed?  Property WaitMeansDone: when a COMMIT_AND_WAIT        *)
(* returns normally, none of the caller's encoded work is still uncommitted*)
(* or on the GPU.  EncoderAliveWhileUsed: the outer block never encodes    *)
(* into an encoder that the nested call ended.                             *)
(*                                                                         *)
(* Variant "skip": the fork's code (re-entrant wait skipped while an       *)
(* encoder is open).  "end_and_wait": the nested call ends the encoder,    *)
(* commits and waits (the fork's earlier Bug #045 code).  "raise": the     *)
(* re-entrant COMMIT_AND_WAIT with an open encoder fails loudly (an        *)
(* exception the caller sees) instead of returning as if it had waited.    *)
(*                                                                         *)
(* Leaves out: the recursive _streamMutex (the queue already serialises    *)
(* everything these properties touch; the re-entrant path re-takes it on   *)
(* the same thread), the default stream, commitAndContinue, stream         *)
(* creation.  Committed buffers of a stream complete together.             *)
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
ASSUME Variant \in {"skip", "end_and_wait", "raise"}

Threads == 1..NumThreads
Streams == 1..PoolSize

(* cur: a thread's stream (0 until first use); rr: the round-robin       *)
(* counter; pc: where a thread is; queue: holder of each stream's serial  *)
(* queue (0: free); encoder: "none" | "open" | "ended" per stream; open:  *)
(* threads with work in the stream's uncommitted buffer; inflight:        *)
(* threads with work committed but not completed; uaf: an ended encoder   *)
(* was used.                                                              *)
VARIABLES
    \* @type: Int -> Int;
    cur,
    \* @type: Int;
    rr,
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Int;
    queue,
    \* @type: Int -> Str;
    encoder,
    \* @type: Int -> Set(Int);
    open,
    \* @type: Int -> Set(Int);
    inflight,
    \* @type: Bool;
    uaf

vars == <<cur, rr, pc, queue, encoder, open, inflight, uaf>>

ConstInit ==
    /\ NumThreads = 3
    /\ PoolSize = 2
    /\ Variant = "raise"

ConstInitSkip ==
    /\ NumThreads = 3
    /\ PoolSize = 2
    /\ Variant = "skip"

Init ==
    /\ cur = [t \in Threads |-> 0]
    /\ rr = 0
    /\ pc = [t \in Threads |-> "idle"]
    /\ queue = [s \in Streams |-> 0]
    /\ encoder = [s \in Streams |-> "none"]
    /\ open = [s \in Streams |-> {}]
    /\ inflight = [s \in Streams |-> {}]
    /\ uaf = FALSE

\* commit: the uncommitted buffer of s goes to the GPU
Commit(s) ==
    /\ inflight' = [inflight EXCEPT ![s] = @ \cup open[s]]
    /\ open' = [open EXCEPT ![s] = {}]

\* getCurrentMPSStream() -> MPSStreamPool::getCurrentStream(): first use takes getWorkerStreamIndex()
Pick(t) ==
    /\ cur[t] = 0
    /\ cur' = [cur EXCEPT ![t] = (rr % PoolSize) + 1]
    /\ rr' = rr + 1
    /\ UNCHANGED <<pc, queue, encoder, open, inflight, uaf>>

\* dispatch_sync_with_rethrow(stream->queue(), ...) (MetalKernelFunction::runCommandBlock, runMPSGraph)
Enter(t) ==
    /\ pc[t] = "idle" /\ cur[t] # 0
    /\ queue[cur[t]] = 0
    /\ queue' = [queue EXCEPT ![cur[t]] = t]
    /\ pc' = [pc EXCEPT ![t] = "in_block"]
    /\ UNCHANGED <<cur, rr, encoder, open, inflight, uaf>>

\* MPSStream::commandEncoder() inside the block, then a kernel is encoded
Encode(t) ==
    LET s == cur[t] IN
    /\ pc[t] = "in_block"
    /\ encoder' = [encoder EXCEPT ![s] = "open"]
    /\ open' = [open EXCEPT ![s] = @ \cup {t}]
    /\ pc' = [pc EXCEPT ![t] = "encoded"]
    /\ UNCHANGED <<cur, rr, queue, inflight, uaf>>

\* MPSStream::synchronize(COMMIT_AND_WAIT) called from inside the block: the dispatch_get_specific branch
NestedSync(t) ==
    LET s == cur[t]
        active == encoder[s] = "open" IN
    /\ pc[t] = "encoded"
    /\ CASE Variant = "skip" /\ active ->
              /\ pc' = [pc EXCEPT ![t] = "returned"]
              /\ UNCHANGED <<encoder, open, inflight>>
         [] Variant = "raise" /\ active ->
              /\ pc' = [pc EXCEPT ![t] = "raised"]
              /\ UNCHANGED <<encoder, open, inflight>>
         [] Variant = "end_and_wait" \/ ~active ->
              \* endKernelCoalescing(); commitAndWait() on the queue
              /\ encoder' = [encoder EXCEPT ![s] = IF active THEN "ended" ELSE @]
              /\ Commit(s)
              /\ pc' = [pc EXCEPT ![t] = "nested_wait"]
    /\ UNCHANGED <<cur, rr, queue, uaf>>

\* MPSStream::commitAndWait(): waitUntilCompleted while the block still holds the queue
NestedWait(t) ==
    /\ pc[t] = "nested_wait"
    /\ inflight[cur[t]] = {}
    /\ pc' = [pc EXCEPT ![t] = "returned"]
    /\ UNCHANGED <<cur, rr, queue, encoder, open, inflight, uaf>>

\* the outer block goes on with the encoder it fetched before the nested call
UseAfter(t) ==
    LET s == cur[t] IN
    /\ pc[t] = "returned"
    /\ uaf' = (uaf \/ encoder[s] # "open")
    /\ open' = [open EXCEPT ![s] = @ \cup {t}]
    /\ pc' = [pc EXCEPT ![t] = "leave"]
    /\ UNCHANGED <<cur, rr, queue, encoder, inflight>>

\* the block returns (normally, or by the exception dispatch_sync_with_rethrow carries out)
Leave(t) ==
    /\ pc[t] \in {"leave", "raised"}
    /\ queue' = [queue EXCEPT ![cur[t]] = 0]
    /\ pc' = [pc EXCEPT ![t] = "off"]
    /\ UNCHANGED <<cur, rr, encoder, open, inflight, uaf>>

\* MPSStream::synchronize(COMMIT_AND_WAIT) off the queue: dispatch_sync { endKernelCoalescing; commit }
OffSync(t) ==
    LET s == cur[t] IN
    /\ pc[t] = "off"
    /\ queue[s] = 0
    /\ encoder' = [encoder EXCEPT ![s] = "none"]
    /\ Commit(s)
    /\ pc' = [pc EXCEPT ![t] = "off_wait"]
    /\ UNCHANGED <<cur, rr, queue, uaf>>

\* MPSStream::synchronize: [prevToWait/currToWait waitUntilCompleted] outside the queue
OffWait(t) ==
    /\ pc[t] = "off_wait"
    /\ inflight[cur[t]] = {}
    /\ pc' = [pc EXCEPT ![t] = "done"]
    /\ UNCHANGED <<cur, rr, queue, encoder, open, inflight, uaf>>

\* the GPU completes the committed buffers of stream s
GpuComplete(s) ==
    /\ inflight[s] # {}
    /\ inflight' = [inflight EXCEPT ![s] = {}]
    /\ UNCHANGED <<cur, rr, pc, queue, encoder, open, uaf>>

Finished ==
    /\ \A t \in Threads : pc[t] = "done"
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Pick(t) \/ Enter(t) \/ Encode(t) \/ NestedSync(t) \/ NestedWait(t)
                          \/ UseAfter(t) \/ Leave(t) \/ OffSync(t) \/ OffWait(t)
    \/ \E s \in Streams : GpuComplete(s)
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* A COMMIT_AND_WAIT that returned normally left none of the caller's work *)
(* uncommitted or running.                                                 *)
(***************************************************************************)
WaitMeansDone ==
    \A t \in Threads :
        pc[t] \in {"returned", "done"} => t \notin open[cur[t]] \cup inflight[cur[t]]

EncoderAliveWhileUsed == ~uaf
=============================================================================
