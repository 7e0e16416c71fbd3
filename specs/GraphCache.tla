------------------------------ MODULE GraphCache ------------------------------
(***************************************************************************)
(* MPSGraphCache: concurrent lookup and creation of compiled graphs.       *)
(*                                                                         *)
(* Abstracts aten/src/ATen/native/mps/OperationUtils.h (2.6.0):            *)
(* LookUpOrCreateCachedGraph calls LookUp(key) - dispatch_sync onto the    *)
(* cache's serialQueue_, find - and on a miss CreateCachedGraph(key,       *)
(* block), which on the same queue checks again, runs the builder block    *)
(* (new graph, instantiate) and emplaces the finished entry.  The builder  *)
(* takes several steps, so other threads can interleave with it unless it  *)
(* runs on the queue.                                                      *)
(*                                                                         *)
(* Variant:                                                                *)
(*   "serial_queue"      - 2.6.0: lookup and create on the serial queue;   *)
(*   "no_queue"          - the same steps without the queue;               *)
(*   "insert_then_build" - create inserts a placeholder on the queue and   *)
(*                         builds it off the queue (to keep compiles off   *)
(*                         the queue), as racy pipeline caches did         *)
(*                         (PR 167541).                                    *)
(*                                                                         *)
(* Leaves out: hashing and key collisions, the graph contents, eviction    *)
(* (2.6.0 never evicts), profiling, exceptions in the builder (rethrown by *)
(* dispatch_sync_with_rethrow).                                            *)
(***************************************************************************)
EXTENDS Naturals

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    NumKeys,
    \* @type: Int;
    Ops,
    \* @type: Str;
    Variant

ASSUME NumThreads >= 1 /\ NumKeys >= 1 /\ Ops >= 1
ASSUME Variant \in {"serial_queue", "no_queue", "insert_then_build"}

Threads == 1..NumThreads
Keys == 1..NumKeys
Queued == Variant # "no_queue"

(* pc: "idle" | "create" (missed, about to create) | "building" |          *)
(* "using"; key: the key a thread works on; done: lookups done; entry:     *)
(* "absent" | "building" (placeholder) | "complete"; builds: builder runs  *)
(* started per key; queue: holder of serialQueue_ (0: free).              *)
VARIABLES
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Int;
    key,
    \* @type: Int -> Int;
    done,
    \* @type: Int -> Str;
    entry,
    \* @type: Int -> Int;
    builds,
    \* @type: Int;
    queue

vars == <<pc, key, done, entry, builds, queue>>

ConstInit ==
    /\ NumThreads = 3
    /\ NumKeys = 2
    /\ Ops = 1
    /\ Variant = "serial_queue"

ConstInitNoQueue ==
    /\ NumThreads = 3
    /\ NumKeys = 2
    /\ Ops = 1
    /\ Variant = "no_queue"

ConstInitInsertThenBuild ==
    /\ NumThreads = 3
    /\ NumKeys = 2
    /\ Ops = 1
    /\ Variant = "insert_then_build"

Init ==
    /\ pc = [t \in Threads |-> "idle"]
    /\ key = [t \in Threads |-> 0]
    /\ done = [t \in Threads |-> 0]
    /\ entry = [k \in Keys |-> "absent"]
    /\ builds = [k \in Keys |-> 0]
    /\ queue = 0

\* the entry is visible to a lookup: only a finished one, except with a placeholder
Found(k) == IF Variant = "insert_then_build" THEN entry[k] # "absent" ELSE entry[k] = "complete"

\* LookUp(key): one step on the queue (or without it)
LookUp(t) ==
    /\ pc[t] = "idle" /\ done[t] < Ops
    /\ Queued => queue = 0
    /\ \E k \in Keys :
          /\ key' = [key EXCEPT ![t] = k]
          /\ pc' = [pc EXCEPT ![t] = IF Found(k) THEN "using" ELSE "create"]
    /\ UNCHANGED <<done, entry, builds, queue>>

\* CreateCachedGraph: enter the queue, check again, start the builder on a miss
CreateBegin(t) ==
    LET k == key[t] IN
    /\ pc[t] = "create"
    /\ Queued => queue = 0
    /\ IF Found(k)
          THEN /\ pc' = [pc EXCEPT ![t] = "using"]
               /\ UNCHANGED <<entry, builds, queue>>
          ELSE /\ builds' = [builds EXCEPT ![k] = @ + 1]
               /\ pc' = [pc EXCEPT ![t] = "building"]
               \* serial_queue: the builder runs on the queue; insert_then_build: placeholder, then leave
               /\ queue' = IF Variant = "serial_queue" THEN t ELSE queue
               /\ entry' = IF Variant = "insert_then_build" THEN [entry EXCEPT ![k] = "building"] ELSE entry
    /\ UNCHANGED <<key, done>>

\* the builder block returns; the finished entry is emplaced (or the placeholder filled)
BuildDone(t) ==
    /\ pc[t] = "building"
    /\ entry' = [entry EXCEPT ![key[t]] = "complete"]
    /\ queue' = IF queue = t THEN 0 ELSE queue
    /\ pc' = [pc EXCEPT ![t] = "using"]
    /\ UNCHANGED <<key, done, builds>>

\* the op encodes the cached graph and is done with it
Use(t) ==
    /\ pc[t] = "using"
    /\ pc' = [pc EXCEPT ![t] = "idle"]
    /\ done' = [done EXCEPT ![t] = @ + 1]
    /\ UNCHANGED <<key, entry, builds, queue>>

Finished ==
    /\ \A t \in Threads : done[t] = Ops
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : LookUp(t) \/ CreateBegin(t) \/ BuildDone(t) \/ Use(t)
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Safety: no graph is built twice for one key, and none is used before    *)
(* it is complete.                                                         *)
(***************************************************************************)
NoDoubleBuild ==
    \A k \in Keys : builds[k] <= 1

NoUseBeforeComplete ==
    \A t \in Threads : pc[t] = "using" => entry[key[t]] = "complete"
=============================================================================
