------------------------------ MODULE Allocator ------------------------------
(***************************************************************************)
(* MPS heap allocator buffers against the GPU's use of them.               *)
(*                                                                         *)
(* Abstracts aten/src/ATen/mps/MPSAllocator.mm (2.6.0): malloc takes a     *)
(* buffer from the pool's available_buffers (get_free_buffer) under the    *)
(* allocator mutex; the op encodes GPU work that reads it into the         *)
(* stream's open command buffer; the stream commits; free() of a scalar    *)
(* (CPU-written) buffer adds a completion handler that calls free_buffer   *)
(* once the GPU is done, putting it back into available_buffers; the next  *)
(* malloc may hand it out again and the new owner writes it from the CPU.  *)
(*                                                                         *)
(* Variant: "completion_handler" - free_buffer runs in the completion      *)
(* handler (2.6.0's scalar pool); "immediate" - free_buffer at once, not   *)
(* waiting for the handler.                                                *)
(*                                                                         *)
(* Leaves out: sizes, heaps, splitting, garbage collection, watermarks,    *)
(* the allocator mutex (each step is atomic under it; see LockHierarchy),  *)
(* and private-heap buffers, which the CPU never writes and whose reuse by *)
(* later GPU work Metal's hazard tracking orders.  All committed command   *)
(* buffers complete together (one in-order queue).                         *)
(***************************************************************************)
EXTENDS Naturals

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    NumBuffers,
    \* @type: Int;
    Ops,
    \* @type: Str;
    Variant

ASSUME NumThreads >= 1 /\ NumBuffers >= 1 /\ Ops >= 1
ASSUME Variant \in {"completion_handler", "immediate"}

Threads == 1..NumThreads
Buffers == 1..NumBuffers

(* pc: "idle" | "allocated" | "encoded"; buf: the buffer a thread holds    *)
(* (0: none); done: allocations freed so far; state: "free" (in the pool)  *)
(* | "in_use" | "pending_free" (free handler not run yet); gen: how often  *)
(* the buffer was handed out; open / flight: <<buffer, gen>> GPU uses in   *)
(* the open and in committed command buffers; freeOpen / freeFlight:      *)
(* buffers whose free handler sits in the open / committed buffers.        *)
VARIABLES
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Int;
    buf,
    \* @type: Int -> Int;
    done,
    \* @type: Int -> Str;
    state,
    \* @type: Int -> Int;
    gen,
    \* @type: Set(<<Int, Int>>);
    open,
    \* @type: Set(<<Int, Int>>);
    flight,
    \* @type: Set(Int);
    freeOpen,
    \* @type: Set(Int);
    freeFlight

vars == <<pc, buf, done, state, gen, open, flight, freeOpen, freeFlight>>
gpu == <<open, flight, freeOpen, freeFlight>>

ConstInit ==
    /\ NumThreads = 3
    /\ NumBuffers = 2
    /\ Ops = 2
    /\ Variant = "completion_handler"

ConstInitImmediate ==
    /\ NumThreads = 3
    /\ NumBuffers = 2
    /\ Ops = 2
    /\ Variant = "immediate"

Init ==
    /\ pc = [t \in Threads |-> "idle"]
    /\ buf = [t \in Threads |-> 0]
    /\ done = [t \in Threads |-> 0]
    /\ state = [b \in Buffers |-> "free"]
    /\ gen = [b \in Buffers |-> 0]
    /\ open = {}
    /\ flight = {}
    /\ freeOpen = {}
    /\ freeFlight = {}

\* malloc: get_free_buffer hands out an available buffer (the caller then writes it)
Alloc(t) ==
    /\ pc[t] = "idle"
    /\ done[t] < Ops
    /\ \E b \in Buffers :
          /\ state[b] = "free"
          /\ state' = [state EXCEPT ![b] = "in_use"]
          /\ gen' = [gen EXCEPT ![b] = @ + 1]
          /\ buf' = [buf EXCEPT ![t] = b]
    /\ pc' = [pc EXCEPT ![t] = "allocated"]
    /\ UNCHANGED <<done, gpu>>

\* the op encodes GPU work that reads the buffer into the open command buffer
Encode(t) ==
    /\ pc[t] = "allocated"
    /\ open' = open \union {<<buf[t], gen[buf[t]]>>}
    /\ pc' = [pc EXCEPT ![t] = "encoded"]
    /\ UNCHANGED <<buf, done, state, gen, flight, freeOpen, freeFlight>>

\* free(): through a completion handler, or (bug) straight back into the pool
Free(t) ==
    LET b == buf[t] IN
    /\ pc[t] = "encoded"
    /\ IF Variant = "completion_handler"
          THEN /\ state' = [state EXCEPT ![b] = "pending_free"]
               /\ freeOpen' = freeOpen \union {b}
          ELSE /\ state' = [state EXCEPT ![b] = "free"]
               /\ UNCHANGED freeOpen
    /\ buf' = [buf EXCEPT ![t] = 0]
    /\ done' = [done EXCEPT ![t] = @ + 1]
    /\ pc' = [pc EXCEPT ![t] = "idle"]
    /\ UNCHANGED <<gen, open, flight, freeFlight>>

\* the stream commits its command buffer (some op's synchronize(COMMIT))
Commit ==
    /\ open # {} \/ freeOpen # {}
    /\ flight' = flight \union open
    /\ freeFlight' = freeFlight \union freeOpen
    /\ open' = {}
    /\ freeOpen' = {}
    /\ UNCHANGED <<pc, buf, done, state, gen>>

\* the GPU completes the committed buffers; their handlers run free_buffer
Complete ==
    /\ flight # {} \/ freeFlight # {}
    /\ flight' = {}
    /\ freeFlight' = {}
    /\ state' = [b \in Buffers |-> IF b \in freeFlight THEN "free" ELSE state[b]]
    /\ UNCHANGED <<pc, buf, done, gen, open, freeOpen>>

Finished ==
    /\ \A t \in Threads : done[t] = Ops
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Alloc(t) \/ Encode(t) \/ Free(t)
    \/ Commit
    \/ Complete
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Safety: GPU work still pending on a buffer belongs to its current       *)
(* allocation, i.e. no buffer was handed out again while the GPU may still *)
(* use it.                                                                 *)
(***************************************************************************)
NoReuseWhileGpuBusy ==
    \A u \in open \union flight : u[2] = gen[u[1]]
=============================================================================
