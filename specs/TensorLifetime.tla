--------------------------- MODULE TensorLifetime ---------------------------
(***************************************************************************)
(* Tensor lifetime across a dispatch_sync block.                           *)
(*                                                                         *)
(* Code: an MPS op (e.g. native/mps/operations/Copy.mm copy_kernel_mps,    *)
(* OperationUtils.mm runMPSGraph via the op's lambda) takes `const Tensor&` *)
(* arguments, fetches getMTLBufferStorage(t) and runs a block through      *)
(* dispatch_sync_with_rethrow(stream->queue(), ^{...}).  The block waits   *)
(* for the queue, then encodes with the raw buffers.  Another thread (or   *)
(* Python's GC in another thread) may drop the last reference of a tensor  *)
(* meanwhile; the storage and its MTLBuffer go back to the allocator.      *)
(*                                                                         *)
(* Capture = "by_ref": the block holds raw buffers / references only.      *)
(* "owning": the op keeps an owning Tensor (a reference count) for every   *)
(* tensor until the block returned.  "partial": it owns the first tensor   *)
(* only.  NoUseAfterFree: the block never encodes a buffer whose tensor    *)
(* was freed.                                                              *)
(*                                                                         *)
(* Leaves out: the allocator reusing the buffer (see Allocator), views     *)
(* sharing a storage, the GPU reading after the block (see DeferredFree).  *)
(***************************************************************************)
EXTENDS Integers

CONSTANTS
    \* @type: Int;
    NumTensors,
    \* @type: Str;
    Capture

ASSUME NumTensors >= 1
ASSUME Capture \in {"by_ref", "owning", "partial"}

Tensors == 1..NumTensors

(* pc: the op's step; refs: each tensor's reference count; freed: its     *)
(* storage went back; used: tensors the block encoded so far; uaf: a      *)
(* freed buffer was encoded; dropped: the other thread dropped its        *)
(* reference.                                                             *)
VARIABLES
    \* @type: Str;
    pc,
    \* @type: Int -> Int;
    refs,
    \* @type: Int -> Bool;
    freed,
    \* @type: Set(Int);
    used,
    \* @type: Bool;
    uaf,
    \* @type: Int -> Bool;
    dropped

vars == <<pc, refs, freed, used, uaf, dropped>>

ConstInit == NumTensors = 2 /\ Capture = "owning"

Owned(k) == Capture = "owning" \/ (Capture = "partial" /\ k = 1)

Init ==
    /\ pc = "start"
    /\ refs = [k \in Tensors |-> 1]
    /\ freed = [k \in Tensors |-> FALSE]
    /\ used = {}
    /\ uaf = FALSE
    /\ dropped = [k \in Tensors |-> FALSE]

\* the op's entry: owning copies (Tensor, not const Tensor&) take a reference each
Capture_ ==
    /\ pc = "start"
    /\ refs' = [k \in Tensors |-> IF Owned(k) THEN refs[k] + 1 ELSE refs[k]]
    /\ pc' = "queued"
    /\ UNCHANGED <<freed, used, uaf, dropped>>

\* dispatch_sync_with_rethrow: the block starts once the stream's queue is free
Start ==
    /\ pc = "queued"
    /\ pc' = "running"
    /\ UNCHANGED <<refs, freed, used, uaf, dropped>>

\* inside the block: encode with getMTLBufferStorage(tensor k)
Use(k) ==
    /\ pc = "running"
    /\ k \notin used
    /\ used' = used \cup {k}
    /\ uaf' = (uaf \/ freed[k])
    /\ UNCHANGED <<pc, refs, freed, dropped>>

\* the block returns; the op's owning copies go out of scope
Finish ==
    /\ pc = "running"
    /\ used = Tensors
    /\ refs' = [k \in Tensors |-> IF Owned(k) THEN refs[k] - 1 ELSE refs[k]]
    /\ freed' = [k \in Tensors |-> freed[k] \/ (Owned(k) /\ refs[k] = 1)]
    /\ pc' = "done"
    /\ UNCHANGED <<used, uaf, dropped>>

\* another thread drops the Python reference (c10::intrusive_ptr release -> MPSHeapAllocatorImpl::free)
Drop(k) ==
    /\ pc # "start"      \* the caller's reference keeps the arguments alive until the op runs
    /\ ~dropped[k]
    /\ dropped' = [dropped EXCEPT ![k] = TRUE]
    /\ refs' = [refs EXCEPT ![k] = @ - 1]
    /\ freed' = [freed EXCEPT ![k] = (refs[k] = 1)]
    /\ UNCHANGED <<pc, used, uaf>>

Terminated ==
    /\ pc = "done" /\ \A k \in Tensors : dropped[k]
    /\ UNCHANGED vars

Next ==
    \/ Capture_ \/ Start \/ Finish
    \/ \E k \in Tensors : Use(k) \/ Drop(k)
    \/ Terminated

Spec == Init /\ [][Next]_vars

NoUseAfterFree == ~uaf
=============================================================================
