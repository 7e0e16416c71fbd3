--------------------------- MODULE BatchQueueTrace ---------------------------
(***************************************************************************)
(* Trace validation of runtime_tests/batcher.py against specs/BatchQueue.tla *)
(* (Variant "graceful").  BatchQueueTraceLog, written for each log by      *)
(* runtime_tests/tracecheck.py, defines TraceLog: the batcher's events in   *)
(* logical-clock order, clients and requests renumbered as the model's     *)
(* <<c, n>>.  Each event must be one step of the model's own actions with  *)
(* the values the log recorded; l counts the events explained so far.     *)
(*                                                                         *)
(* A state where the next event is explained by no action stops TLC with   *)
(* an Assert naming that event (Unexplained; a deadlock would print the    *)
(* whole trace, one full model state per event).  TLC finishing without   *)
(* error, with one distinct state per event plus the initial one, is       *)
(* TraceMatched: the whole log was consumed along one behaviour of the    *)
(* model.                                                                  *)
(***************************************************************************)
EXTENDS BatchQueue, BatchQueueTraceLog, TLC

VARIABLES
    \* @type: Int;
    l

Ev == TraceLog[l]

\* "reject": a submit after shutdown, turned away under the queue's lock: no model step (Submit is
\* disabled once shutdown holds), so it must be a stuttering step in a state where shutdown holds.
StepSubmit == Ev.e = "submit" /\ Submit(Ev.c) /\ sent'[Ev.c] = Ev.n
StepReject == Ev.e = "reject" /\ shutdown /\ UNCHANGED vars
StepTake == Ev.e = "take" /\ Take /\ batch' = Ev.reqs
StepAnswer == Ev.e = "answer" /\ batch = Ev.reqs /\ Answer
              /\ \A i \in 1..Len(Ev.reqs) : result'[Ev.reqs[i]] = Ev.got[i]
StepReceive == Ev.e = "receive" /\ Current(Ev.c) = <<Ev.c, Ev.n>> /\ Receive(Ev.c)
StepShutdown == Ev.e = "shutdown" /\ RequestShutdown
StepStop == Ev.e = "stop" /\ Stop

Step == \/ StepSubmit \/ StepReject \/ StepTake \/ StepAnswer
        \/ StepReceive \/ StepShutdown \/ StepStop

TraceInit == Init /\ l = 1

Explain == l <= Len(TraceLog) /\ Step /\ l' = l + 1

Unexplained == l <= Len(TraceLog) /\ ~(ENABLED Step)
               /\ Assert(FALSE, <<"unexplained event", l>>) /\ UNCHANGED <<vars, l>>

Done == l > Len(TraceLog) /\ UNCHANGED <<vars, l>>

TraceNext == Explain \/ Unexplained \/ Done
=============================================================================
