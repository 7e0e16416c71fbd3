---------------------------- MODULE CommandBuffer ----------------------------
(***************************************************************************)
(* One MPS stream's command buffer and compute encoder.                    *)
(*                                                                         *)
(* Abstracts aten/src/ATen/mps/MPSStream.mm (2.6.0): commandBuffer() and   *)
(* commandEncoder() create lazily; kernels reuse the open encoder (kernel  *)
(* coalescing); executeMPSGraph ends coalescing, encodes into the buffer   *)
(* and commits it (flush: commit, then drop the buffer); synchronize(      *)
(* COMMIT_AND_WAIT) ends coalescing, commits and waits for the GPU;        *)
(* addCompletedHandler adds a handler to commandBuffer().  Each operation  *)
(* is a sequence of steps that other threads may interleave with unless    *)
(* the operation runs inside dispatch_sync(stream->queue()).               *)
(*                                                                         *)
(* Variant:                                                                *)
(*   "on_queue"          - every operation runs on the stream's queue;     *)
(*   "encoder_off_queue" - a kernel fetches and uses commandEncoder()      *)
(*                         outside the queue (issue 197805);               *)
(*   "sync_off_queue"    - commit-and-wait runs outside the queue, as      *)
(*                         MPSHooks::deviceSynchronize() does in 2.6.0     *)
(*                         (issue 100285: "commit an already committed     *)
(*                         command buffer").                               *)
(*                                                                         *)
(* Leaves out: commitAndContinue (a commit here always retires the buffer, *)
(* the _prevCommandBuffer path), blit encoders (fill/copy end their own    *)
(* encoder at once), profiling, what is encoded, and handler bodies.       *)
(***************************************************************************)
EXTENDS Naturals

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    Ops,
    \* @type: Str;
    Variant

ASSUME NumThreads >= 1 /\ Ops >= 1
ASSUME Variant \in {"on_queue", "encoder_off_queue", "sync_off_queue"}

Threads == 1..NumThreads
\* each operation creates at most one buffer
Buffers == 1..(NumThreads * Ops)
Kinds == {"kernel", "graph", "sync", "handler"}
FirstStep == [k \in Kinds |->
                CASE k = "kernel" -> "k_fetch"
                  [] k = "graph" -> "g_end"
                  [] k = "sync" -> "s_end"
                  [] k = "handler" -> "h_get"]
OnQueue(k) ==
    CASE Variant = "encoder_off_queue" -> k # "kernel"
      [] Variant = "sync_off_queue" -> k # "sync"
      [] OTHER -> TRUE
\* the steps during which a thread touches the buffer it holds
UsingSteps == {"k_create", "k_encoding", "g_encoding", "h_adding"}

(* pc: "idle" or the thread's next step; kind: its current operation;     *)
(* tbuf: the buffer pointer it holds (0: none); done: operations done;    *)
(* queue: holder of the stream's serial queue (0: free); cb: the stream's *)
(* _commandBuffer (0: nil); hasEnc / encBuf: whether _commandEncoder is    *)
(* set and on which buffer; bstate: "unused" | "open" | "committed" |     *)
(* "completed"; encoders / commits: encoders active on / commits of each  *)
(* buffer; nextBuf: buffers created so far.                               *)
VARIABLES
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Str;
    kind,
    \* @type: Int -> Int;
    tbuf,
    \* @type: Int -> Int;
    done,
    \* @type: Int;
    queue,
    \* @type: Int;
    cb,
    \* @type: Bool;
    hasEnc,
    \* @type: Int;
    encBuf,
    \* @type: Int -> Str;
    bstate,
    \* @type: Int -> Int;
    encoders,
    \* @type: Int -> Int;
    commits,
    \* @type: Int;
    nextBuf

vars == <<pc, kind, tbuf, done, queue, cb, hasEnc, encBuf, bstate, encoders, commits, nextBuf>>
stream == <<cb, hasEnc, encBuf, bstate, encoders, commits, nextBuf>>

ConstInit ==
    /\ NumThreads = 3
    /\ Ops = 1
    /\ Variant = "on_queue"

ConstInitEncoderOffQueue ==
    /\ NumThreads = 3
    /\ Ops = 1
    /\ Variant = "encoder_off_queue"

ConstInitSyncOffQueue ==
    /\ NumThreads = 3
    /\ Ops = 1
    /\ Variant = "sync_off_queue"

Init ==
    /\ pc = [t \in Threads |-> "idle"]
    /\ kind = [t \in Threads |-> "none"]
    /\ tbuf = [t \in Threads |-> 0]
    /\ done = [t \in Threads |-> 0]
    /\ queue = 0
    /\ cb = 0
    /\ hasEnc = FALSE
    /\ encBuf = 0
    /\ bstate = [b \in Buffers |-> "unused"]
    /\ encoders = [b \in Buffers |-> 0]
    /\ commits = [b \in Buffers |-> 0]
    /\ nextBuf = 0

\* commandBuffer(): the current buffer, created when nil; sets tbuf[t] and moves to step `to`
GetBuffer(t, to) ==
    /\ IF cb # 0
          THEN /\ tbuf' = [tbuf EXCEPT ![t] = cb]
               /\ UNCHANGED <<cb, bstate, nextBuf>>
          ELSE /\ tbuf' = [tbuf EXCEPT ![t] = nextBuf + 1]
               /\ cb' = nextBuf + 1
               /\ bstate' = [bstate EXCEPT ![nextBuf + 1] = "open"]
               /\ nextBuf' = nextBuf + 1
    /\ pc' = [pc EXCEPT ![t] = to]

\* endKernelCoalescing()
EndCoalescing ==
    /\ hasEnc' = FALSE
    /\ encoders' = IF hasEnc THEN [encoders EXCEPT ![encBuf] = @ - 1] ELSE encoders
    /\ encBuf' = 0

\* commit buffer b; the stream drops it if it is still its current buffer
Commit(b) ==
    /\ commits' = [commits EXCEPT ![b] = @ + 1]
    /\ bstate' = [bstate EXCEPT ![b] = "committed"]
    /\ cb' = IF cb = b THEN 0 ELSE cb

\* the operation ends: leave the queue, count it
Finish(t) ==
    /\ pc' = [pc EXCEPT ![t] = "idle"]
    /\ tbuf' = [tbuf EXCEPT ![t] = 0]
    /\ done' = [done EXCEPT ![t] = @ + 1]
    /\ queue' = IF queue = t THEN 0 ELSE queue

\* an operation begins (a kernel, an MPSGraph run via executeMPSGraph, synchronize or addCompletedHandler); on_queue: dispatch_sync(stream->queue()) first
Start(t) ==
    /\ pc[t] = "idle"
    /\ done[t] < Ops
    /\ \E k \in Kinds :
          /\ OnQueue(k) => queue = 0
          /\ queue' = IF OnQueue(k) THEN t ELSE queue
          /\ kind' = [kind EXCEPT ![t] = k]
          /\ pc' = [pc EXCEPT ![t] = FirstStep[k]]
    /\ UNCHANGED <<tbuf, done, stream>>

\* kernel: commandEncoder() reuses the open encoder or reads commandBuffer() to make one
KFetch(t) ==
    /\ pc[t] = "k_fetch"
    /\ IF hasEnc
          THEN /\ tbuf' = [tbuf EXCEPT ![t] = encBuf]
               /\ pc' = [pc EXCEPT ![t] = "k_encoding"]
               /\ UNCHANGED <<cb, bstate, nextBuf>>
          ELSE GetBuffer(t, "k_create")
    /\ UNCHANGED <<kind, done, queue, hasEnc, encBuf, encoders, commits>>

\* [commandBuffer() computeCommandEncoder]: a new encoder on the buffer read before
KCreate(t) ==
    /\ pc[t] = "k_create"
    /\ encoders' = [encoders EXCEPT ![tbuf[t]] = @ + 1]
    /\ hasEnc' = TRUE
    /\ encBuf' = tbuf[t]
    /\ pc' = [pc EXCEPT ![t] = "k_encoding"]
    /\ UNCHANGED <<kind, tbuf, done, queue, cb, bstate, commits, nextBuf>>

\* the kernel is encoded; the encoder stays open for the next kernel (coalescing)
KDone(t) ==
    /\ pc[t] = "k_encoding"
    /\ Finish(t)
    /\ UNCHANGED <<kind, stream>>

\* executeMPSGraph: endKernelCoalescing, then encode into commandBuffer()
GEnd(t) ==
    /\ pc[t] = "g_end"
    /\ EndCoalescing
    /\ GetBuffer(t, "g_encoding")
    /\ UNCHANGED <<kind, done, queue, commits>>

\* executeMPSGraph: [mpsGraph encodeToCommandBuffer:...] into the buffer read before
GEncoded(t) ==
    /\ pc[t] = "g_encoding"
    /\ pc' = [pc EXCEPT ![t] = "g_commit"]
    /\ UNCHANGED <<kind, tbuf, done, queue, stream>>

\* synchronize(COMMIT): flush() commits the buffer
GCommit(t) ==
    /\ pc[t] = "g_commit"
    /\ Commit(tbuf[t])
    /\ Finish(t)
    /\ UNCHANGED <<kind, hasEnc, encBuf, encoders, nextBuf>>

\* commitAndWait(): endKernelCoalescing, read _commandBuffer
SEnd(t) ==
    /\ pc[t] = "s_end"
    /\ EndCoalescing
    /\ IF cb = 0
          THEN Finish(t)
          ELSE /\ tbuf' = [tbuf EXCEPT ![t] = cb]
               /\ pc' = [pc EXCEPT ![t] = "s_commit"]
               /\ UNCHANGED <<done, queue>>
    /\ UNCHANGED <<kind, cb, bstate, commits, nextBuf>>

\* [_commandBuffer commit]; _commandBuffer = nil
SCommit(t) ==
    /\ pc[t] = "s_commit"
    /\ Commit(tbuf[t])
    /\ pc' = [pc EXCEPT ![t] = "s_wait"]
    /\ UNCHANGED <<kind, tbuf, done, queue, hasEnc, encBuf, encoders, nextBuf>>

\* [_commandBuffer waitUntilCompleted]
SWait(t) ==
    /\ pc[t] = "s_wait"
    /\ bstate[tbuf[t]] = "completed"
    /\ Finish(t)
    /\ UNCHANGED <<kind, stream>>

\* addCompletedHandler: [commandBuffer() addCompletedHandler:block]
HGet(t) ==
    /\ pc[t] = "h_get"
    /\ GetBuffer(t, "h_adding")
    /\ UNCHANGED <<kind, done, queue, hasEnc, encBuf, encoders, commits>>

HAdded(t) ==
    /\ pc[t] = "h_adding"
    /\ Finish(t)
    /\ UNCHANGED <<kind, stream>>

\* the GPU completes a committed buffer (and runs its handlers)
Complete(b) ==
    /\ bstate[b] = "committed"
    /\ bstate' = [bstate EXCEPT ![b] = "completed"]
    /\ UNCHANGED <<pc, kind, tbuf, done, queue, cb, hasEnc, encBuf, encoders, commits, nextBuf>>

Finished ==
    /\ \A t \in Threads : pc[t] = "idle" /\ done[t] = Ops
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads :
          \/ Start(t) \/ KFetch(t) \/ KCreate(t) \/ KDone(t)
          \/ GEnd(t) \/ GEncoded(t) \/ GCommit(t)
          \/ SEnd(t) \/ SCommit(t) \/ SWait(t)
          \/ HGet(t) \/ HAdded(t)
    \/ \E b \in Buffers : Complete(b)
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Safety                                                                  *)
(***************************************************************************)
\* "A command encoder is already encoding to this command buffer"
OneEncoderPerBuffer ==
    \A b \in Buffers : encoders[b] <= 1

\* no encoding into, encoder open on, or handler added to a committed buffer
NoEncodeAfterCommit ==
    /\ \A t \in Threads : pc[t] \in UsingSteps => bstate[tbuf[t]] = "open"
    /\ \A b \in Buffers : encoders[b] > 0 => bstate[b] = "open"

\* "commit an already committed command buffer"
NoDoubleCommit ==
    \A b \in Buffers : commits[b] <= 1
=============================================================================
