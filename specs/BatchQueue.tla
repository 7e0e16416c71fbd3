------------------------------ MODULE BatchQueue ------------------------------
(***************************************************************************)
(* The batching mitigation: client threads hand requests to one worker     *)
(* thread that owns the MPS device and runs them in batches.               *)
(*                                                                         *)
(* Abstracts the runtime harness's "batched" configuration                 *)
(* (runtime_tests): clients put requests on a queue and block on their     *)
(* reply; the worker takes up to MaxBatch requests (a full batch, or a     *)
(* partial one when its timer fires - time is abstracted: the timer may    *)
(* fire whenever a partial batch waits), runs the batch (one inference;    *)
(* all MPS work on one thread, so none of the races of the other models),  *)
(* and scatters the results back.  Shutdown can be requested at any time;  *)
(* clients cannot submit after it.                                         *)
(*                                                                         *)
(* Variant:                                                                *)
(*   "graceful"            - the worker drains the queue before stopping;  *)
(*   "drop_on_shutdown"    - the worker stops at once, dropping queued     *)
(*                           requests: safety holds, LIVENESS fails        *)
(*                           (AllAnswered: a client waits forever);        *)
(*   "scatter_by_position" - results go back by position in a reordered    *)
(*                           batch (e.g. sorted for padding, not unsorted) *)
(*                           -> OwnResult fails;                           *)
(*   "client_retry"        - a client whose reply is late resubmits the    *)
(*                           same request -> AnsweredOnce fails.           *)
(*                                                                         *)
(* Leaves out: the tensors, errors inside a batch, queue capacity.         *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets

CONSTANTS
    \* @type: Int;
    NumClients,
    \* @type: Int;
    Reqs,
    \* @type: Int;
    MaxBatch,
    \* @type: Str;
    Variant

ASSUME NumClients >= 1 /\ Reqs >= 1 /\ MaxBatch >= 1
ASSUME Variant \in {"graceful", "drop_on_shutdown", "scatter_by_position", "client_retry"}

Clients == 1..NumClients
\* request <<c, n>>: client c's n-th request
Requests == Clients \X (1..Reqs)
Min(a, b) == IF a < b THEN a ELSE b

(* sent: requests each client submitted; waiting: blocked on its reply;    *)
(* retried: resubmitted its current request; queue: the request queue;    *)
(* batch: the worker's batch; wstate: "idle" | "running" | "stopped";      *)
(* shutdown: requested; answers: replies delivered per request; result:    *)
(* the result each request got (<<0, 0>>: none yet).                       *)
VARIABLES
    \* @type: Int -> Int;
    sent,
    \* @type: Int -> Bool;
    waiting,
    \* @type: Int -> Bool;
    retried,
    \* @type: Seq(<<Int, Int>>);
    queue,
    \* @type: Seq(<<Int, Int>>);
    batch,
    \* @type: Str;
    wstate,
    \* @type: Bool;
    shutdown,
    \* @type: <<Int, Int>> -> Int;
    answers,
    \* @type: <<Int, Int>> -> <<Int, Int>>;
    result

vars == <<sent, waiting, retried, queue, batch, wstate, shutdown, answers, result>>
clientVars == <<sent, waiting, retried>>

ConstInit ==
    /\ NumClients = 3
    /\ Reqs = 1
    /\ MaxBatch = 2
    /\ Variant = "graceful"

ConstInitDropOnShutdown ==
    /\ NumClients = 3
    /\ Reqs = 1
    /\ MaxBatch = 2
    /\ Variant = "drop_on_shutdown"

ConstInitScatterByPosition ==
    /\ NumClients = 3
    /\ Reqs = 1
    /\ MaxBatch = 2
    /\ Variant = "scatter_by_position"

ConstInitClientRetry ==
    /\ NumClients = 3
    /\ Reqs = 1
    /\ MaxBatch = 2
    /\ Variant = "client_retry"

Init ==
    /\ sent = [c \in Clients |-> 0]
    /\ waiting = [c \in Clients |-> FALSE]
    /\ retried = [c \in Clients |-> FALSE]
    /\ queue = <<>>
    /\ batch = <<>>
    /\ wstate = "idle"
    /\ shutdown = FALSE
    /\ answers = [r \in Requests |-> 0]
    /\ result = [r \in Requests |-> <<0, 0>>]

Current(c) == <<c, sent[c]>>

\* a client submits its next request (under the queue's lock, so never after shutdown)
Submit(c) ==
    /\ ~waiting[c] /\ ~shutdown
    /\ sent[c] < Reqs
    /\ sent' = [sent EXCEPT ![c] = @ + 1]
    /\ queue' = Append(queue, <<c, sent[c] + 1>>)
    /\ waiting' = [waiting EXCEPT ![c] = TRUE]
    /\ retried' = [retried EXCEPT ![c] = FALSE]
    /\ UNCHANGED <<batch, wstate, shutdown, answers, result>>

\* the reply arrives and the client wakes up
Receive(c) ==
    /\ waiting[c]
    /\ answers[Current(c)] > 0
    /\ waiting' = [waiting EXCEPT ![c] = FALSE]
    /\ UNCHANGED <<sent, retried, queue, batch, wstate, shutdown, answers, result>>

\* client_retry: the client's wait times out and it submits the same request again
Retry(c) ==
    /\ Variant = "client_retry"
    /\ waiting[c] /\ ~retried[c] /\ ~shutdown
    /\ answers[Current(c)] = 0
    /\ queue' = Append(queue, Current(c))
    /\ retried' = [retried EXCEPT ![c] = TRUE]
    /\ UNCHANGED <<sent, waiting, batch, wstate, shutdown, answers, result>>

\* the worker takes a full batch, or a partial one when its timer fires
Take ==
    LET k == Min(Len(queue), MaxBatch) IN
    /\ wstate = "idle"
    /\ Len(queue) > 0
    /\ batch' = SubSeq(queue, 1, k)
    /\ queue' = SubSeq(queue, k + 1, Len(queue))
    /\ wstate' = "running"
    /\ UNCHANGED <<clientVars, shutdown, answers, result>>

\* the result for batch position i, and who gets it
Slot(i) == IF Variant = "scatter_by_position" THEN batch[Len(batch) + 1 - i] ELSE batch[i]

\* one inference for the whole batch; results scattered back to the waiting clients
Answer ==
    /\ wstate = "running"
    /\ answers' = [r \in Requests |-> answers[r] + Cardinality({i \in 1..Len(batch) : batch[i] = r})]
    /\ result' = [r \in Requests |->
                    IF \E i \in 1..Len(batch) : batch[i] = r
                       THEN batch[CHOOSE i \in 1..Len(batch) : Slot(i) = r]
                       ELSE result[r]]
    /\ batch' = <<>>
    /\ wstate' = "idle"
    /\ UNCHANGED <<clientVars, queue, shutdown>>

\* BatchQueue.close(): shutdown requested (runtime_tests/batcher.py)
RequestShutdown ==
    /\ ~shutdown
    /\ shutdown' = TRUE
    /\ UNCHANGED <<clientVars, queue, batch, wstate, answers, result>>

\* the worker leaves its loop: after draining the queue, or (bug) dropping it
Stop ==
    /\ shutdown /\ wstate = "idle"
    /\ Variant # "drop_on_shutdown" => queue = <<>>
    /\ wstate' = "stopped"
    /\ queue' = <<>>
    /\ UNCHANGED <<clientVars, batch, shutdown, answers, result>>

Worker == Take \/ Answer \/ Stop

\* the worker has stopped: nothing more happens (not a deadlock)
Stopped ==
    /\ wstate = "stopped"
    /\ UNCHANGED vars

Next ==
    \/ \E c \in Clients : Submit(c) \/ Receive(c) \/ Retry(c)
    \/ Worker
    \/ RequestShutdown
    \/ Stopped

Spec == Init /\ [][Next]_vars /\ WF_vars(Worker)

(***************************************************************************)
(* Safety: a request is answered at most once, and with its own result.    *)
(* Liveness: every submitted request is eventually answered (so, with     *)
(* AnsweredOnce, exactly once).                                            *)
(***************************************************************************)
AnsweredOnce ==
    \A r \in Requests : answers[r] <= 1

OwnResult ==
    \A r \in Requests : answers[r] > 0 => result[r] = r

Submitted(r) == r[2] <= sent[r[1]]
Answered(r) == answers[r] > 0

AllAnswered ==
    \A r \in Requests : Submitted(r) ~> Answered(r)
=============================================================================
