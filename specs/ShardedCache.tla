---------------------------- MODULE ShardedCache ----------------------------
(***************************************************************************)
(* A sharded shader-library / pipeline cache (the fork's 33.2 design).     *)
(*                                                                         *)
(* Code (fork bundle): MetalShaderLibrary (native/mps/MetalShaderLibrary.h *)
(* cacheMutexes_, libMaps_, cplMaps_, getShardIndex) and                   *)
(* MetalShaderLibrary::getLibraryPipelineState (OperationUtils.mm): look   *)
(* the key up under its shard's mutex, build the pipeline outside the      *)
(* lock, then emplace under the lock; a thread that lost the race releases *)
(* its own pipeline and uses the winner's.                                 *)
(*                                                                         *)
(* Variant = "shard_maps" (the fork: one map per shard, each under its     *)
(* own mutex) | "shared_map" (before 33.2: 16 mutexes guarding one shared  *)
(* map, so keys of different shards write it at once) | "overwrite"        *)
(* (insert by assignment: a late builder replaces and releases the entry   *)
(* another thread already returned).                                       *)
(* NoConcurrentMapAccess: a map is touched by at most one thread at a      *)
(* time.  NoUseOfReleased: a thread never uses a pipeline that was         *)
(* released.                                                               *)
(***************************************************************************)
EXTENDS Integers, FiniteSets

CONSTANTS
    \* @type: Int;
    NumThreads,
    \* @type: Int;
    NumKeys,
    \* @type: Str;
    Variant

ASSUME NumThreads >= 1 /\ NumKeys >= 1
ASSUME Variant \in {"shard_maps", "shared_map", "overwrite"}

Threads == 1..NumThreads
Keys == 1..NumKeys
\* keys hash to distinct shards (getShardIndex); the map a key lives in
Shard(k) == k
MapOf(k) == IF Variant = "shared_map" THEN 1 ELSE Shard(k)

(* pc: "idle" -> "look" (mutex held) -> "build" -> "insert" (mutex held)  *)
(* -> "use" -> "done"; key: the thread's key; lock: holder of each shard   *)
(* mutex; entry: the cached pipeline per key (0: none; a pipeline is named *)
(* by the thread that built it); mine: the pipeline a thread holds;       *)
(* released: pipelines released.                                          *)
VARIABLES
    \* @type: Int -> Str;
    pc,
    \* @type: Int -> Int;
    key,
    \* @type: Int -> Int;
    lock,
    \* @type: Int -> Int;
    entry,
    \* @type: Int -> Int;
    mine,
    \* @type: Set(Int);
    released

vars == <<pc, key, lock, entry, mine, released>>

ConstInit == NumThreads = 3 /\ NumKeys = 2 /\ Variant = "shard_maps"

Init ==
    /\ pc = [t \in Threads |-> "idle"]
    /\ key = [t \in Threads |-> 0]
    /\ lock = [k \in Keys |-> 0]
    /\ entry = [k \in Keys |-> 0]
    /\ mine = [t \in Threads |-> 0]
    /\ released = {}

\* getLibraryPipelineState: lock_guard(cacheMutexes_[shard_idx]) for the lookup
Lookup(t) ==
    /\ pc[t] = "idle"
    /\ \E k \in Keys :
          /\ lock[Shard(k)] = 0
          /\ lock' = [lock EXCEPT ![Shard(k)] = t]
          /\ key' = [key EXCEPT ![t] = k]
    /\ pc' = [pc EXCEPT ![t] = "look"]
    /\ UNCHANGED <<entry, mine, released>>

\* cplMaps_[shard].find(key); hit -> use it, miss -> unlock and build
Found(t) ==
    LET k == key[t] IN
    /\ pc[t] = "look"
    /\ lock' = [lock EXCEPT ![Shard(k)] = 0]
    /\ IF entry[k] # 0
         THEN /\ mine' = [mine EXCEPT ![t] = entry[k]]
              /\ pc' = [pc EXCEPT ![t] = "use"]
         ELSE /\ pc' = [pc EXCEPT ![t] = "build"]
              /\ UNCHANGED mine
    /\ UNCHANGED <<key, entry, released>>

\* newFunctionWithName / newComputePipelineStateWithFunction outside the lock, then lock again
Build(t) ==
    /\ pc[t] = "build"
    /\ lock[Shard(key[t])] = 0
    /\ lock' = [lock EXCEPT ![Shard(key[t])] = t]
    /\ pc' = [pc EXCEPT ![t] = "insert"]
    /\ UNCHANGED <<key, entry, mine, released>>

\* cplMaps_[shard].emplace: the loser releases its own pipeline; "overwrite" replaces and releases the old one
Insert(t) ==
    LET k == key[t] IN
    /\ pc[t] = "insert"
    /\ lock' = [lock EXCEPT ![Shard(k)] = 0]
    /\ IF entry[k] = 0 \/ Variant = "overwrite"
         THEN /\ entry' = [entry EXCEPT ![k] = t]
              /\ mine' = [mine EXCEPT ![t] = t]
              /\ released' = IF entry[k] # 0 THEN released \cup {entry[k]} ELSE released
         ELSE /\ mine' = [mine EXCEPT ![t] = entry[k]]
              /\ released' = released \cup {t}
              /\ UNCHANGED entry
    /\ pc' = [pc EXCEPT ![t] = "use"]
    /\ UNCHANGED key

\* the kernel encodes with the pipeline (setComputePipelineState)
Use(t) ==
    /\ pc[t] = "use"
    /\ pc' = [pc EXCEPT ![t] = "done"]
    /\ UNCHANGED <<key, lock, entry, mine, released>>

Terminated ==
    /\ \A t \in Threads : pc[t] = "done"
    /\ UNCHANGED vars

Next ==
    \/ \E t \in Threads : Lookup(t) \/ Found(t) \/ Build(t) \/ Insert(t) \/ Use(t)
    \/ Terminated

Spec == Init /\ [][Next]_vars

InMap(t) == pc[t] \in {"look", "insert"}

NoConcurrentMapAccess ==
    \A t, u \in Threads : (t # u /\ InMap(t) /\ InMap(u)) => MapOf(key[t]) # MapOf(key[u])

NoUseOfReleased == \A t \in Threads : pc[t] = "use" => mine[t] \notin released
=============================================================================
