--------------------------- MODULE AGXEncoderRace ---------------------------
(***************************************************************************)
(* The Apple AGX driver race behind multi-threaded MPS crashes.            *)
(*                                                                         *)
(* Abstracts: MPSStream::commandEncoder() / endKernelCoalescing() in       *)
(* aten/src/ATen/mps/MPSStream.mm (2.6.0).  Threads mapped round-robin     *)
(* onto streams (2.14's stream pool; 2.6.0 is NumStreams = 1) fetch their  *)
(* stream's current compute encoder, creating it when there is none, call  *)
(* methods on it, and end it.  A method call has three steps: load the     *)
(* encoder pointer, dispatch (objc_msgSend enters the method), return.  A  *)
(* thread that ends an encoder ([enc endEncoding]; [enc release]) frees it *)
(* at once, or, under retain tracking, when the last retain is dropped.    *)
(*                                                                         *)
(* Mitigation selects the fix under study:                                 *)
(*   "none"            - upstream behaviour;                               *)
(*   "retain_tracking" - a swizzled method retains the encoder on entry    *)
(*                       and releases it on return; destruction waits for  *)
(*                       the count to drop.  Entry happens after dispatch, *)
(*                       so the load->dispatch window stays open;          *)
(*   "method_mutex"    - one mutex held from the encoder accessor (pointer *)
(*                       load) to the method's return, and around ending;  *)
(*   "global_lock"     - one process-wide lock around each whole inference.*)
(*                                                                         *)
(* Leaves out: encoder kinds (compute/blit), command buffers and commits   *)
(* (see CommandBuffer), the GPU, the driver's internal allocator (freed    *)
(* encoders are never reused, so a stale pointer stays detectably stale),  *)
(* and every method's effect: only "a method is running" matters.          *)
(***************************************************************************)
EXTENDS Naturals, FiniteSets

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    NumStreams,
    \* @type: Int;
    Calls,
    \* @type: Str;
    Mitigation

ASSUME NumThreads >= 1 /\ NumStreams >= 1 /\ Calls >= 1
ASSUME Mitigation \in {"none", "retain_tracking", "method_mutex", "global_lock"}

Threads == 1..NumThreads
Streams == 1..NumStreams
\* every method call creates at most one encoder
Encoders == 1..(NumThreads * Calls)
StreamOf(t) == ((t - 1) % NumStreams) + 1

(* pc: idle -> ready -> loaded -> in_method -> (ready | ending) -> done.   *)
(* ptr: the encoder pointer a thread loaded (0: none); calls: method calls *)
(* completed; enc: "unused" | "live" | "ended" (ended, still retained) |   *)
(* "freed"; current: each stream's coalesced encoder (0: none); rc: retain *)
(* counts; mutex / glock: holder of the method mutex / global lock (0).    *)
VARIABLES
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Int;
    ptr,
    \* @type: Int -> Int;
    calls,
    \* @type: Int -> Str;
    enc,
    \* @type: Int -> Int;
    current,
    \* @type: Int -> Int;
    rc,
    \* @type: Int;
    nextEnc,
    \* @type: Int;
    mutex,
    \* @type: Int;
    glock

vars == <<pc, ptr, calls, enc, current, rc, nextEnc, mutex, glock>>

ConstInit ==
    /\ NumThreads = 3
    /\ NumStreams = 2
    /\ Calls = 2
    /\ Mitigation = "method_mutex"

ConstInitNone ==
    /\ NumThreads = 3
    /\ NumStreams = 2
    /\ Calls = 2
    /\ Mitigation = "none"

ConstInitRetainTracking ==
    /\ NumThreads = 3
    /\ NumStreams = 2
    /\ Calls = 2
    /\ Mitigation = "retain_tracking"

ConstInitGlobalLock ==
    /\ NumThreads = 3
    /\ NumStreams = 2
    /\ Calls = 2
    /\ Mitigation = "global_lock"

TypeOK ==
    /\ pc \in [Threads -> {"idle", "ready", "loaded", "in_method", "ending", "done"}]
    /\ ptr \in [Threads -> 0..(NumThreads * Calls)]
    /\ calls \in [Threads -> 0..Calls]
    /\ enc \in [Encoders -> {"unused", "live", "ended", "freed"}]
    /\ current \in [Streams -> 0..(NumThreads * Calls)]
    /\ rc \in [Encoders -> 0..NumThreads]
    /\ mutex \in 0..NumThreads
    /\ glock \in 0..NumThreads

Init ==
    /\ pc = [t \in Threads |-> "idle"]
    /\ ptr = [t \in Threads |-> 0]
    /\ calls = [t \in Threads |-> 0]
    /\ enc = [e \in Encoders |-> "unused"]
    /\ current = [s \in Streams |-> 0]
    /\ rc = [e \in Encoders |-> 0]
    /\ nextEnc = 0
    /\ mutex = 0
    /\ glock = 0

\* an inference starts; under global_lock it takes the process-wide lock
Begin(t) ==
    /\ pc[t] = "idle"
    /\ Mitigation = "global_lock" => glock = 0
    /\ glock' = IF Mitigation = "global_lock" THEN t ELSE glock
    /\ pc' = [pc EXCEPT ![t] = "ready"]
    /\ UNCHANGED <<ptr, calls, enc, current, rc, nextEnc, mutex>>

\* commandEncoder(): load the stream's encoder pointer, creating the encoder when there is none
Load(t) ==
    LET s == StreamOf(t)
        n == nextEnc + 1
    IN
    /\ pc[t] = "ready"
    /\ Mitigation = "method_mutex" => mutex = 0
    /\ mutex' = IF Mitigation = "method_mutex" THEN t ELSE mutex
    /\ IF current[s] # 0
          THEN /\ ptr' = [ptr EXCEPT ![t] = current[s]]
               /\ UNCHANGED <<enc, current, nextEnc>>
          ELSE /\ ptr' = [ptr EXCEPT ![t] = n]
               /\ enc' = [enc EXCEPT ![n] = "live"]
               /\ current' = [current EXCEPT ![s] = n]
               /\ nextEnc' = n
    /\ pc' = [pc EXCEPT ![t] = "loaded"]
    /\ UNCHANGED <<calls, rc, glock>>

\* objc_msgSend dispatches on the loaded pointer; the method body starts (and retains, if tracked)
Enter(t) ==
    LET e == ptr[t] IN
    /\ pc[t] = "loaded"
    /\ rc' = IF Mitigation = "retain_tracking" THEN [rc EXCEPT ![e] = @ + 1] ELSE rc
    /\ pc' = [pc EXCEPT ![t] = "in_method"]
    /\ UNCHANGED <<ptr, calls, enc, current, nextEnc, mutex, glock>>

\* the method returns; a tracked encoder that was ended meanwhile is freed by the last release
Return(t) ==
    LET e == ptr[t] IN
    /\ pc[t] = "in_method"
    /\ IF Mitigation = "retain_tracking"
          THEN /\ rc' = [rc EXCEPT ![e] = @ - 1]
               /\ enc' = IF enc[e] = "ended" /\ rc[e] = 1 THEN [enc EXCEPT ![e] = "freed"] ELSE enc
          ELSE UNCHANGED <<rc, enc>>
    /\ mutex' = IF Mitigation = "method_mutex" THEN 0 ELSE mutex
    /\ calls' = [calls EXCEPT ![t] = @ + 1]
    /\ ptr' = [ptr EXCEPT ![t] = 0]
    /\ pc' = [pc EXCEPT ![t] = IF calls[t] + 1 < Calls THEN "ready" ELSE "ending"]
    /\ UNCHANGED <<current, nextEnc, glock>>

\* endKernelCoalescing(): end and release the stream's encoder, whoever created it
End(t) ==
    LET s == StreamOf(t)
        e == current[s]
    IN
    /\ pc[t] = "ending"
    /\ Mitigation = "method_mutex" => mutex = 0
    /\ IF e = 0
          THEN UNCHANGED <<enc, current>>
          ELSE /\ current' = [current EXCEPT ![s] = 0]
               /\ enc' = [enc EXCEPT ![e] =
                            IF Mitigation = "retain_tracking" /\ rc[e] > 0 THEN "ended" ELSE "freed"]
    /\ glock' = IF Mitigation = "global_lock" THEN 0 ELSE glock
    /\ pc' = [pc EXCEPT ![t] = "done"]
    /\ UNCHANGED <<ptr, calls, rc, nextEnc, mutex>>

\* all inferences finished: stutter instead of reporting a deadlock
Finished ==
    /\ \A t \in Threads : pc[t] = "done"
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Begin(t) \/ Load(t) \/ Enter(t) \/ Return(t) \/ End(t)
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Safety: no method ever runs on a freed encoder.                         *)
(***************************************************************************)
NoUseAfterFree ==
    \A t \in Threads : pc[t] = "in_method" => enc[ptr[t]] # "freed"

(***************************************************************************)
(* Witness of (lost) parallelism, not a safety property: at most one       *)
(* encoder is open at a time.  Holds under global_lock (no parallel GPU    *)
(* encoding at all); fails under method_mutex (streams encode in parallel).*)
(***************************************************************************)
NoTwoEncodersInUse ==
    Cardinality({e \in Encoders : enc[e] \in {"live", "ended"}}) <= 1
=============================================================================
