-------------------------- MODULE QueueReentrancy --------------------------
(***************************************************************************)
(* dispatch_sync re-entrancy and exception propagation.                    *)
(*                                                                         *)
(* Code: dispatch_sync_with_rethrow (native/mps/OperationUtils.mm) runs a  *)
(* block on a stream's serial queue, catches any C++ exception inside the  *)
(* block and rethrows it on the caller after dispatch_sync returned.  In   *)
(* 2.6.0 it always dispatch_syncs; the fork first asks                     *)
(* dispatch_get_specific whether the caller already runs on that queue     *)
(* and then runs the block inline.  Plain dispatch_sync(stream->queue(),   *)
(* ^{...}) sites (MPSStream.mm, e.g. MPSStream::fill, copy) carry no       *)
(* catch: a C++ exception unwinding through libdispatch's frame ends in    *)
(* std::terminate.                                                         *)
(*                                                                         *)
(* Guard = TRUE: the re-entrancy check (the fork); FALSE: 2.6.0 (a nested  *)
(* call on the same queue waits for itself: deadlock).  Wrap = "rethrow"   *)
(* (dispatch_sync_with_rethrow) | "plain" (dispatch_sync, no catch) |      *)
(* "swallow" (catches and drops the exception).                           *)
(* NoTerminate: no exception escapes a GCD block.  ExceptionOnce: a call   *)
(* that raised reaches its caller with the exception exactly once.         *)
(***************************************************************************)
EXTENDS Integers

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Bool;
    Guard,
    \* @type: Str;
    Wrap

ASSUME NumThreads >= 1
ASSUME Guard \in BOOLEAN
ASSUME Wrap \in {"rethrow", "plain", "swallow"}

Threads == 1..NumThreads

(* pc: "idle" -> "in_block" -> ("nested" ->) "leaving" -> "done"; queue:   *)
(* the holder of the serial queue (0: free); raised / delivered: times an *)
(* exception was thrown in the thread's call / reached its caller;        *)
(* terminated: std::terminate ran.                                        *)
VARIABLES
    \* @type: Int -> Str;
    pc,
    \* @type: Int;
    queue,
    \* @type: Int -> Int;
    raised,
    \* @type: Int -> Int;
    delivered,
    \* @type: Bool;
    terminated

vars == <<pc, queue, raised, delivered, terminated>>

ConstInit == NumThreads = 2 /\ Guard = TRUE /\ Wrap = "rethrow"

Init ==
    /\ pc = [t \in Threads |-> "idle"]
    /\ queue = 0
    /\ raised = [t \in Threads |-> 0]
    /\ delivered = [t \in Threads |-> 0]
    /\ terminated = FALSE

\* dispatch_sync_with_rethrow(queue, block): the block starts once the queue is free
Enter(t) ==
    /\ pc[t] = "idle" /\ queue = 0
    /\ queue' = t
    /\ pc' = [pc EXCEPT ![t] = "in_block"]
    /\ UNCHANGED <<raised, delivered, terminated>>

\* the block's body ends normally, throws (TORCH_CHECK), or calls an op that dispatches onto the same queue
Body(t) ==
    /\ pc[t] = "in_block"
    /\ \/ pc' = [pc EXCEPT ![t] = "leaving"] /\ UNCHANGED raised
       \/ pc' = [pc EXCEPT ![t] = "throwing"] /\ raised' = [raised EXCEPT ![t] = @ + 1]
       \/ pc' = [pc EXCEPT ![t] = "nested"] /\ UNCHANGED raised
    /\ UNCHANGED <<queue, delivered, terminated>>

\* the nested dispatch_sync_with_rethrow: inline when guarded (dispatch_get_specific), else it waits for the queue
Nested(t) ==
    /\ pc[t] = "nested"
    /\ Guard \/ queue = 0            \* unguarded: the queue is held by t itself, so this never fires
    /\ \/ pc' = [pc EXCEPT ![t] = "leaving"] /\ UNCHANGED raised
       \/ pc' = [pc EXCEPT ![t] = "throwing"] /\ raised' = [raised EXCEPT ![t] = @ + 1]
    /\ UNCHANGED <<queue, delivered, terminated>>

\* the exception reaches the outer block's frame: caught (rethrow/swallow) or through libdispatch (plain)
Unwind(t) ==
    /\ pc[t] = "throwing"
    /\ CASE Wrap = "rethrow" -> /\ delivered' = [delivered EXCEPT ![t] = @ + 1]
                                /\ UNCHANGED terminated
         [] Wrap = "swallow" -> UNCHANGED <<delivered, terminated>>
         [] Wrap = "plain" -> /\ terminated' = TRUE
                              /\ UNCHANGED delivered
    /\ queue' = 0
    /\ pc' = [pc EXCEPT ![t] = "done"]
    /\ UNCHANGED raised

\* the block returns normally; dispatch_sync returns
Leave(t) ==
    /\ pc[t] = "leaving"
    /\ queue' = 0
    /\ pc' = [pc EXCEPT ![t] = "done"]
    /\ UNCHANGED <<raised, delivered, terminated>>

Terminated ==
    /\ \A t \in Threads : pc[t] = "done"
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Enter(t) \/ Body(t) \/ Nested(t) \/ Unwind(t) \/ Leave(t)
    \/ Terminated

Spec == Init /\ [][Next]_vars

NoTerminate == ~terminated

ExceptionOnce ==
    \A t \in Threads : /\ delivered[t] <= raised[t]
                       /\ pc[t] = "done" => delivered[t] = raised[t]
=============================================================================
