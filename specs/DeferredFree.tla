---------------------------- MODULE DeferredFree ----------------------------
(***************************************************************************)
(* recordStream-style deferred free: a buffer used on several streams is   *)
(* reused only after every recorded use completed.                         *)
(*                                                                         *)
(* Code (fork bundle, aten/src/ATen/mps/MPSAllocator.mm):                  *)
(* MPSHeapAllocatorImpl::recordStream adds the stream to the block's       *)
(* stream_uses_ids (it returns early for the allocating stream, for a      *)
(* buffer freed or reallocated meanwhile); free_buffer records an event on *)
(* each used stream into pending_events and keeps the block out of the    *)
(* pool until they completed; get_free_buffer hands out only blocks        *)
(* without pending events.  Upstream 2.6.0 has no recordStream.            *)
(*                                                                         *)
(* Variant = "all_events" (an event per recorded stream and the            *)
(* allocating one) | "alloc_stream_only" (recordStream ignored: only the   *)
(* allocating stream is waited for) | "last_event" (one event slot: the    *)
(* last recorded stream overwrites the earlier ones).                      *)
(* NoReuseWhileInUse: the buffer is handed out again only when no stream's *)
(* GPU work still uses it.                                                 *)
(***************************************************************************)
EXTENDS Integers, FiniteSets

CONSTANTS
    \* @type: Int;
    NumStreams,
    \* @type: Str;
    Variant

ASSUME NumStreams >= 1
ASSUME Variant \in {"all_events", "alloc_stream_only", "last_event"}

Streams == 1..NumStreams
AllocStream == 1

(* state: "in_use" | "pending_free" | "reused"; busy: streams whose GPU    *)
(* work on the buffer has not completed; recorded: streams recordStream   *)
(* added; last: the stream recorded last; pending: streams whose event    *)
(* the free waits for; launched: streams that used it already.            *)
VARIABLES
    \* @type: Str;
    state,
    \* @type: Set(Int);
    busy,
    \* @type: Set(Int);
    recorded,
    \* @type: Int;
    last,
    \* @type: Set(Int);
    pending,
    \* @type: Set(Int);
    launched

vars == <<state, busy, recorded, last, pending, launched>>

ConstInit == NumStreams = 3 /\ Variant = "all_events"

Init ==
    /\ state = "in_use"
    /\ busy = {}
    /\ recorded = {}
    /\ last = AllocStream
    /\ pending = {}
    /\ launched = {}

\* a kernel on stream s reads the buffer; for s other than the allocating stream the caller
\* first calls recordStream(ptr, s) (MPSHeapAllocatorImpl::recordStream)
Launch(s) ==
    /\ state = "in_use"
    /\ s \notin launched
    /\ launched' = launched \cup {s}
    /\ busy' = busy \cup {s}
    /\ recorded' = IF s # AllocStream THEN recorded \cup {s} ELSE recorded
    /\ last' = IF s # AllocStream THEN s ELSE last
    /\ UNCHANGED <<state, pending>>

\* the GPU finishes stream s's work (its recorded event signals)
Complete(s) ==
    /\ s \in busy
    /\ busy' = busy \ {s}
    /\ pending' = pending \ {s}
    /\ UNCHANGED <<state, recorded, last, launched>>

\* the tensor dies: MPSHeapAllocatorImpl::free_buffer records events on the used streams
Free ==
    /\ state = "in_use"
    /\ state' = "pending_free"
    /\ pending' = busy \cap (CASE Variant = "all_events" -> recorded \cup {AllocStream}
                              [] Variant = "alloc_stream_only" -> {AllocStream}
                              [] Variant = "last_event" -> {last, AllocStream})
    /\ UNCHANGED <<busy, recorded, last, launched>>

\* get_free_buffer: the block goes back to the pool once pending_events is empty
Reuse ==
    /\ state = "pending_free"
    /\ pending = {}
    /\ state' = "reused"
    /\ UNCHANGED <<busy, recorded, last, pending, launched>>

Terminated ==
    /\ state = "reused" /\ busy = {}
    /\ UNCHANGED vars

Next ==
    \/ \E s \in Streams : Launch(s) \/ Complete(s)
    \/ Free \/ Reuse
    \/ Terminated

Spec == Init /\ [][Next]_vars

NoReuseWhileInUse == state = "reused" => busy = {}
=============================================================================
