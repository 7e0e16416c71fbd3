------------------------------ MODULE EventPool ------------------------------
(***************************************************************************)
(* MPSEventPool: events acquired by id, used, released back to the pool.   *)
(*                                                                         *)
(* Abstracts aten/src/ATen/mps/MPSEvent.mm (2.6.0): acquireEvent pops an   *)
(* event from m_pool (or makes one) and files it in m_in_use_events under  *)
(* a fresh id; releaseEvent erases the id, and the deleter pushes the      *)
(* event back into m_pool; recordEvent / waitForEvent / synchronizeEvent / *)
(* queryEvent call getInUseEvent(id), which locks m_mutex, looks the id    *)
(* up, unlocks and returns a raw MPSEvent*, then use the event with the    *)
(* mutex released.  Event ids are shared between threads (Python          *)
(* torch.mps.Event objects), so any thread may use or release any live id. *)
(*                                                                         *)
(* Variant: "raw_pointer" - 2.6.0: the pointer outlives the lock;          *)
(* "shared_ref" - the lookup takes a reference under the mutex (a          *)
(* shared_ptr) and the event goes back to the pool when the last holder    *)
(* drops it.                                                               *)
(*                                                                         *)
(* Leaves out: what record/wait/synchronize do on the GPU (see             *)
(* LockHierarchy for the cpu-sync condition variable), timing, the         *)
(* allocator's own use of the pool, emptyCache.  Each mutex-protected      *)
(* section is one atomic step.                                             *)
(***************************************************************************)
EXTENDS Naturals

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    NumEvents,
    \* @type: Int;
    Ops,
    \* @type: Str;
    Variant

ASSUME NumThreads >= 1 /\ NumEvents >= 1 /\ Ops >= 1
ASSUME Variant \in {"raw_pointer", "shared_ref"}

Threads == 1..NumThreads
Events == 1..NumEvents
MaxIds == NumThreads * Ops
Ids == 1..MaxIds

(* pc: "idle" | "using"; tid / ptr: the id a thread looked up and the      *)
(* event pointer it got; done: operations done; evState: "new" | "pool" |  *)
(* "in_use" | "orphan" (released, still referenced); evId: the id an      *)
(* event is filed under (0: none); refs: references taken by lookups;     *)
(* live: ids in m_in_use_events; nextId: ids handed out so far.            *)
VARIABLES
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Int;
    tid,
    \* @type: Int -> Int;
    ptr,
    \* @type: Int -> Int;
    done,
    \* @type: Int -> Str;
    evState,
    \* @type: Int -> Int;
    evId,
    \* @type: Int -> Int;
    refs,
    \* @type: Set(Int);
    live,
    \* @type: Int;
    nextId

vars == <<pc, tid, ptr, done, evState, evId, refs, live, nextId>>
pool == <<evState, evId, refs, live, nextId>>

ConstInit ==
    /\ NumThreads = 3
    /\ NumEvents = 2
    /\ Ops = 2
    /\ Variant = "shared_ref"

ConstInitRawPointer ==
    /\ NumThreads = 3
    /\ NumEvents = 2
    /\ Ops = 2
    /\ Variant = "raw_pointer"

Init ==
    /\ pc = [t \in Threads |-> "idle"]
    /\ tid = [t \in Threads |-> 0]
    /\ ptr = [t \in Threads |-> 0]
    /\ done = [t \in Threads |-> 0]
    /\ evState = [e \in Events |-> "new"]
    /\ evId = [e \in Events |-> 0]
    /\ refs = [e \in Events |-> 0]
    /\ live = {}
    /\ nextId = 0

\* the thread's operation (acquire/record/wait/synchronize/release) is finished
OpDone(t) == done' = [done EXCEPT ![t] = @ + 1]

\* acquireEvent(enable_timing): pop from m_pool (or create), file under a fresh id
Acquire(t) ==
    /\ pc[t] = "idle" /\ done[t] < Ops
    /\ nextId < MaxIds
    /\ \E e \in Events :
          /\ evState[e] \in {"pool", "new"}
          /\ evState' = [evState EXCEPT ![e] = "in_use"]
          /\ evId' = [evId EXCEPT ![e] = nextId + 1]
    /\ live' = live \union {nextId + 1}
    /\ nextId' = nextId + 1
    /\ OpDone(t)
    /\ UNCHANGED <<pc, tid, ptr, refs>>

\* getInUseEvent(id): look up under m_mutex, then unlock (shared_ref: take a reference first)
Lookup(t) ==
    /\ pc[t] = "idle" /\ done[t] < Ops
    \* the id's event: m_in_use_events maps each live id to exactly one event
    /\ \E i \in live, e \in Events :
          /\ evId[e] = i
          /\ tid' = [tid EXCEPT ![t] = i]
          /\ ptr' = [ptr EXCEPT ![t] = e]
          /\ refs' = IF Variant = "shared_ref" THEN [refs EXCEPT ![e] = @ + 1] ELSE refs
    /\ pc' = [pc EXCEPT ![t] = "using"]
    /\ UNCHANGED <<done, evState, evId, live, nextId>>

\* the event goes back to m_pool: no id, no state
ToPool(e) ==
    /\ evState' = [evState EXCEPT ![e] = "pool"]
    /\ evId' = [evId EXCEPT ![e] = 0]

\* event->record()/wait()/synchronize() returns; shared_ref: drop the reference
Use(t) ==
    LET e == ptr[t] IN
    /\ pc[t] = "using"
    /\ IF Variant = "shared_ref"
          THEN /\ refs' = [refs EXCEPT ![e] = @ - 1]
               /\ IF evState[e] = "orphan" /\ refs[e] = 1 THEN ToPool(e) ELSE UNCHANGED <<evState, evId>>
          ELSE UNCHANGED <<refs, evState, evId>>
    /\ pc' = [pc EXCEPT ![t] = "idle"]
    /\ tid' = [tid EXCEPT ![t] = 0]
    /\ ptr' = [ptr EXCEPT ![t] = 0]
    /\ OpDone(t)
    /\ UNCHANGED <<live, nextId>>

\* releaseEvent(id): erase from m_in_use_events; the deleter returns the event to m_pool
Release(t) ==
    /\ pc[t] = "idle" /\ done[t] < Ops
    /\ \E i \in live, e \in Events :
          /\ evId[e] = i
          /\ live' = live \ {i}
          /\ IF Variant = "shared_ref" /\ refs[e] > 0
                THEN /\ evState' = [evState EXCEPT ![e] = "orphan"]
                     /\ evId' = [evId EXCEPT ![e] = 0]
                ELSE ToPool(e)
    /\ OpDone(t)
    /\ UNCHANGED <<pc, tid, ptr, refs, nextId>>

\* every thread is done, or idle with no id left to acquire, look up or release
Finished ==
    /\ \A t \in Threads : done[t] = Ops \/ (pc[t] = "idle" /\ live = {} /\ nextId = MaxIds)
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Acquire(t) \/ Lookup(t) \/ Use(t) \/ Release(t)
    \/ Finished

Spec == Init /\ [][Next]_vars

(***************************************************************************)
(* Safety: a thread only uses an event that has not gone back to the pool  *)
(* (and so has not been handed out again under another id).               *)
(***************************************************************************)
NoUseAfterRelease ==
    \A t \in Threads : pc[t] = "using" => evState[ptr[t]] # "pool" /\ evId[ptr[t]] \in {tid[t], 0}
=============================================================================
