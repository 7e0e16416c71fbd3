"""The structural analyzer's pipeline: discover -> parse (cached, parallel) -> rules -> suppressions -> baseline.

`load_models` is what the TSA inventory, the lock graph and the gate call; `analyze` is the whole run
behind `python -m checks.structural`. Three levels of cache, all content-addressed (analyzers.cache):
a whole run's result (`run-` keys), each file's facts of one per-file pass (`facts-` keys: the file
rules' findings, the TSA inventory's uses), and each file's model. A run reads the first that hits, so
an edit of one file re-parses that file and re-runs its per-file passes only.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sys
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, TypeVar

from analyzers import baseline as baseline_file
from analyzers import cores, crossref
from analyzers import forked
from analyzers import suppress
from analyzers.cache import ParseCache, key
from analyzers.catalogue import Entry, load_catalogue, select
from analyzers.discover import InputLimits, discover_all, relative
from analyzers.findings import Diagnostic, Finding, Report
from analyzers.hierarchy import DEFAULT_PATH as DEFAULT_HIERARCHY, load_hierarchy
from analyzers.model import FileModel, Scope
from analyzers.rules import Rule, RuleContext, load_rules, rules_version
from mpsverify_base.provenance import started_tool_info

T = TypeVar("T")
DEBUG_ENV = "MPS_VERIFY_DEBUG"   # set (by --debug): a failure's traceback goes to stderr where it is caught
PARALLEL_MIN_FILES = 12   # below this, forking a worker costs more than it saves
# Below this much source to parse (or, for the cross-file rules, to analyse), the default is one process:
# a forked worker's start-up, its copy-on-write faults and the transfer of its models back cost about
# what it saves (on the idle 2-core machine two processes took 0.71x the wall time of one on the 1.3 MB
# MPS tree, 0.67x at 5 MB; on a busy one they were 1.24-1.32x: see analyzers/cores.py)
PARALLEL_MIN_BYTES = 1_000_000
# The last analyze()'s per-file results (model, file-rule findings) by (file key, rules key): the gate
# analyses two revisions that share all but a few files, and those need neither loading nor file rules.
_LAST_FILES: dict[tuple[str, str], tuple[FileModel, list[Finding]]] = {}


@contextmanager
def paused_gc():
    """Pause the cyclic GC: building or unpickling ~10^5 small objects otherwise triggers collections
    that scan the whole growing heap (measured: parse 2.0 s -> 0.9 s CPU, cache load 0.58 -> 0.22 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_file(path: Path, rel: str) -> FileModel:
    """analyzers.parse.parse_file, imported on first use (a fully cached run never needs the parser)."""
    from analyzers.parse import parse_file as parse
    return parse(path, rel)


def _jobs(requested: int | None, work: int) -> int:
    """Processes for `work` items: as asked, else the idle cores (a forked worker on a busy core
    only adds its start-up and the transfer of its results)."""
    jobs = requested if requested is not None else cores.idle_cores()
    return max(1, min(jobs, work // 4 or 1))


def facts_key(file_key: str, kind: str) -> str:
    """Cache key of one file's facts of one per-file pass (`kind` names the pass and its options)."""
    digest = hashlib.sha256(f"{file_key}\0{kind}\0{analyzer_version()}".encode())
    return "facts-" + digest.hexdigest()


def file_keys(files: list[tuple[Path, str]]) -> list[str]:
    """Cache key of each file ('' when it cannot be read)."""
    keys = []
    for path, rel in files:
        try:
            keys.append(key(path.read_bytes(), rel))
        except OSError:
            keys.append("")
    return keys


def parse_all(files: list[tuple[Path, str]], jobs: int | None = None, cache: bool = True,
              keys: list[str] | None = None) -> list[FileModel]:
    """Models of `files` (path, rel) in order: from the cache or parsed (in parallel when many)."""
    return [model for model, _ in per_file(files, None, jobs, cache, keys)]


def per_file(files: list[tuple[Path, str]], then: Callable[[FileModel], T] | None, jobs: int | None = None,
             cache: bool = True, keys: list[str] | None = None, facts: str = "",
             need_model: bool = True) -> list[tuple[FileModel | None, T | None]]:
    """(model, then(model)) for each file in order, each computed where the model is loaded or parsed:
    this process and forked children share the files (biggest first), so per-file work is spread too.

    With `facts` (the pass's name and options), then(model) is cached per file; where it hits and
    `need_model` is false, the model is not even loaded (None in its place)."""
    keys = file_keys(files) if keys is None else keys
    store = ParseCache(enabled=cache)
    hits = [store.get(facts_key(k, facts)) if facts and then and k and not need_model else None for k in keys]
    todo = [n for n, hit in enumerate(hits) if hit is None]
    out: list = [(None, hit) for hit in hits]
    for n, result in zip(todo, _load_or_parse([files[n] for n in todo], [keys[n] for n in todo], then, jobs,
                                              cache, facts)):
        out[n] = result
    return out


def _load_or_parse(files: list[tuple[Path, str]], keys: list[str], then: Callable[[FileModel], T] | None,
                   jobs: int | None, cache: bool, facts: str) -> list[tuple[FileModel, T | None]]:
    """per_file's files whose model is needed: the cached ones loaded here, those to parse spread over
    this process and forked children when there is enough of them (a cached model would only travel
    twice: unpickled in a child, pickled back)."""
    work = [(str(path), rel, k, cache, facts) for (path, rel), k in zip(files, keys)]
    store = ParseCache(enabled=cache)
    cached = [n for n, k in enumerate(keys) if k and store.has(k)]
    parse = sorted(set(range(len(work))) - set(cached))
    size = sum(_size(files[n][0]) for n in parse) if jobs is None else PARALLEL_MIN_BYTES
    workers = (_jobs(jobs, len(parse)) if len(parse) >= PARALLEL_MIN_FILES and size >= PARALLEL_MIN_BYTES
               and forked.available() else 1)
    out: list = [None] * len(work)
    if workers == 1:
        for n in range(len(work)):
            out[n] = _file_job(work[n], then)
        return out
    from analyzers.lexer import scanner   # imported, Lark read and the scanner compiled once, before forking:
    from analyzers.parse import parse_file as _warm  # noqa: F401   -- the children inherit them
    scanner()
    parse.sort(key=lambda n: -_size(files[n][0]))    # biggest first: the last file anyone takes is a small one

    def here() -> None:
        for n in cached:
            out[n] = _file_job(work[n], then)
    for n, result in zip(parse, forked.map_shared(lambda n: _file_job(work[n], then), parse, workers, here)):
        out[n] = result
    return out


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def failure(path: str, what: str, exc: BaseException) -> Diagnostic:
    """An `internal` diagnostic for an exception while analysing `path` (the traceback on stderr with --debug)."""
    if os.environ.get(DEBUG_ENV):
        import traceback      # only with --debug: it imports tokenize, textwrap and linecache
        traceback.print_exception(exc, file=sys.stderr)
    return Diagnostic(path, 1, f"{what} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]} "
                               f"(findings for this file are incomplete; rerun with --debug)", "internal")


def _file_job(job: tuple[str, str, str, bool, str], then: Callable[[FileModel], T] | None) -> tuple[FileModel, T | None]:
    """One file: its model from the cache, else parsed (and cached); then `then(model)` (cached as the
    file's facts when `job` names them).

    An exception in either becomes an `internal` diagnostic of this file, and the scan goes on."""
    path, rel, k, use_cache, facts = job
    store = ParseCache(enabled=use_cache and bool(k))
    model = store.get(k) if k else None
    if not isinstance(model, FileModel):
        try:
            model = parse_file(Path(path), rel)    # an unreadable file ('' key) records an `io` diagnostic
            store.put(k, model)
        except Exception as exc:                   # noqa: BLE001 -- one bad file never aborts a scan
            model = FileModel(rel, [], [], Scope("file", "", 1, 1, 1), diagnostics=[failure(rel, "parsing", exc)])
    if then is None:
        return model, None
    fkey = facts_key(k, facts) if facts and k else ""
    value = store.get(fkey) if fkey else None
    if value is not None:
        return model, value
    try:
        value = then(model)
    except Exception as exc:                       # noqa: BLE001
        model.diagnostics.append(failure(rel, "checking", exc))
        return model, None
    if fkey and not incomplete(model.diagnostics):     # a failure is retried next time
        store.put(fkey, value)
    return model, value


def model_of(path: Path, rel: str, key_: str, cache: bool = True) -> FileModel:
    """One file's model: from the cache, else parsed (and cached)."""
    return _file_job((str(path), rel, key_, cache, ""), None)[0]


def load_models(paths: list[Path], root: Path, exclude: tuple[str, ...] = (), jobs: int | None = None,
                cache: bool = True, limits: InputLimits = InputLimits(),
                skipped: list[Diagnostic] | None = None) -> list[FileModel]:
    """Parse every C++/ObjC++ file under `paths` (paths in the models relative to `root`); the files
    discovery left out (special, huge, links out of the tree) are added to `skipped`."""
    files = _discover(paths, root, exclude, limits, skipped)
    with paused_gc():
        return parse_all(files, jobs, cache)


def _discover(paths: list[Path], root: Path, exclude: tuple[str, ...], limits: InputLimits,
              skipped: list[Diagnostic] | None) -> list[tuple[Path, str]]:
    """The sources under `paths` (path, reported path); what discovery left out goes to `skipped`."""
    files, notes = discover_all([Path(p) for p in paths], Path(root), tuple(exclude), limits)
    if skipped is not None:
        skipped.extend(notes)
    return files


def collect_facts(name: str, options: object, paths: list[Path], root: Path, compute: Callable[[FileModel], T],
                  exclude: tuple[str, ...] = (), jobs: int | None = None, cache: bool = True,
                  limits: InputLimits = InputLimits(),
                  skipped: list[Diagnostic] | None = None) -> tuple[list[T], list[Diagnostic], int]:
    """(compute(model) of each file under `paths`, the files' diagnostics, number of files): a per-file
    pass whose results are cached per file, so that only new or changed files are loaded or parsed."""
    kind = _kind(name, options)

    def run(files: list[tuple[Path, str]], keys: list[str]) -> tuple[list[T], list[Diagnostic], int]:
        done = per_file(files, lambda model: (compute(model), list(model.diagnostics)), jobs, cache, keys,
                        facts=kind, need_model=False)
        values: list[T] = []
        diagnostics: list[Diagnostic] = []
        for model, value in done:
            if value is None:              # the pass failed on this file: the model says why
                diagnostics.extend(model.diagnostics if model is not None else ())
            else:
                values.append(value[0])
                diagnostics.extend(value[1])
        return values, diagnostics, len(done)
    return _whole_run(kind, _discover(paths, root, exclude, limits, skipped), cache, run)


def cached_run(name: str, options: object, paths: list[Path], root: Path,
               compute: Callable[[list[FileModel]], T], exclude: tuple[str, ...] = (), jobs: int | None = None,
               cache: bool = True, limits: InputLimits = InputLimits(),
               skipped: list[Diagnostic] | None = None) -> tuple[T, list[Diagnostic], int]:
    """(compute(models), the models' diagnostics, number of files) for the files under `paths`, from the
    whole-run cache when no file, option (`options`, JSON-able) or analyzer source changed since."""
    def over_models(files: list[tuple[Path, str]], keys: list[str], kind: str) -> tuple[T, list[Diagnostic]]:
        models = parse_all(files, jobs, cache, keys)
        return compute(models), [d for m in models for d in m.diagnostics]
    return files_run(name, options, paths, root, over_models, exclude, cache, limits, skipped)


def files_run(name: str, options: object, paths: list[Path], root: Path,
              compute: Callable[[list[tuple[Path, str]], list[str], str], tuple[T, list[Diagnostic]]],
              exclude: tuple[str, ...] = (), cache: bool = True, limits: InputLimits = InputLimits(),
              skipped: list[Diagnostic] | None = None) -> tuple[T, list[Diagnostic], int]:
    """(result, diagnostics, number of files) of compute(files, their keys, the pass's kind) over the files
    under `paths`, from the whole-run cache when nothing changed (a pass that keeps its own per-file state)."""
    def run(files: list[tuple[Path, str]], keys: list[str]) -> tuple[T, list[Diagnostic], int]:
        return (*compute(files, keys, kind), len(files))
    kind = _kind(name, options)
    return _whole_run(kind, _discover(paths, root, exclude, limits, skipped), cache, run)


def _kind(name: str, options: object) -> str:
    """A pass's name and options, as part of cache keys."""
    return f"{name}:{json.dumps(options, sort_keys=True, default=str)}"


def _whole_run(kind: str, files: list[tuple[Path, str]], cache: bool,
               run: Callable[[list[tuple[Path, str]], list[str]], tuple]) -> tuple:
    """run(files, their keys) -> (result, diagnostics, number of files), from the whole-run cache when it
    hits; stored unless a file could not be read or the analysis failed somewhere."""
    keys = file_keys(files)
    store = ParseCache(enabled=cache)
    run_key = _whole_key(kind, keys)
    hit = store.get(run_key)
    if isinstance(hit, tuple) and len(hit) == 3:
        return hit
    with paused_gc():
        result = run(files, keys)
    if all(keys) and not incomplete(result[1]):
        store.put(run_key, result, later=True)
    return result


def _whole_key(kind: str, keys: list[str]) -> str:
    """Key of a whole run of one pass (`kind`: its name and options) over files with these keys."""
    digest = hashlib.sha256(f"{kind}\0{analyzer_version()}\0".encode())
    for k in keys:
        digest.update(k.encode() + b"\n")
    return "run-" + digest.hexdigest()


def selected_rules(entries: list[Entry]) -> list[Rule]:
    """The registered rules of the families that have a selected check."""
    families = {e.family for e in entries}
    return [rule for family, rule in load_rules().items() if family in families]


def _guarded(rule: Rule, models: list[FileModel], ctx: RuleContext) -> list:
    """A project rule's findings, or one `internal` diagnostic when it raised (the other rules still run)."""
    try:
        return list(rule.check(models, ctx))
    except Exception as exc:                       # noqa: BLE001 -- one rule's failure never aborts a scan
        return [failure("", f"rule {rule.family}", exc)]


def _selected(findings: list[Finding], entries: list[Entry]) -> list[Finding]:
    selected = [e.check.id for e in entries]
    return [f for f in findings if any(f.rule == c or f.rule.startswith(c + ".") for c in selected)]


def analyze(paths: list[Path], root: Path, rules: list[str] | None = None, exclude: tuple[str, ...] = (),
            jobs: int | None = None, cache: bool = True, baseline: Path | None = None,
            catalogue: Path | None = None, settings: dict | None = None,
            limits: InputLimits = InputLimits(), naming: bool = True) -> Report:
    """The whole structural run over `paths` -> Report (findings after suppressions and baseline).

    Files that could not be analysed, wholly or in part, have `internal` diagnostics (see incomplete())."""
    root = Path(root).resolve()
    tool = started_tool_info(root)       # git answers while the analysis runs
    entries = select(load_catalogue(catalogue, cache=cache) if catalogue else load_catalogue(cache=cache), rules)
    prints = baseline_file.load(baseline) if baseline else None
    skipped: list[Diagnostic] = []
    files = _discover(paths, root, exclude, limits, skipped)
    keys = file_keys(files)
    store = ParseCache(enabled=cache)
    # with the naming note or without (the gate's): one run's entry must not stand for the other
    run_key = _run_key(keys, entries, settings) + ("-named" if naming else "")
    hit = store.get(run_key)
    if isinstance(hit, dict) and {"findings", "diagnostics", "files", "types"} <= set(hit):
        findings, analysed, nfiles, naming = list(hit["findings"]), hit["diagnostics"], hit["files"], hit["types"]
    else:
        with paused_gc():
            ctx = RuleContext({e.check.id: e.check for e in entries}, root, settings or {})
            rules = selected_rules(entries)      # imported before forking: the children have them
            load_hierarchy(cache=cache)          # what the rules' queries.lock_class reads, through the cache
            from analyzers import structural_incremental
            kind = _run_key([], entries, settings)
            facts_name = f"file-rules:{kind}"     # the per-file pass's cache entries, for both of its readers
            done = _file_results(files, keys, rules, ctx, kind, facts_name, jobs, cache)
            loaded = {model.path: model for model, _ in done if model is not None}
            facts = [value[1] if value is not None else None for _, value in done]
            # how lock expressions were named (a note for people; the gate, which prints its own summary,
            # skips it) comes with the project rules, file by file
            project, failures, counts, marked = structural_incremental.run(
                files, keys, facts, loaded, rules, ctx, kind, cache, naming, facts_name, jobs,
                sum(_size(path) for path, _ in files))
            findings = [f for _, value in done if value is not None for f in value[0]] + project
            findings = suppress.apply(_selected(findings, entries), marked, ctx, {e.check.id for e in entries})
            findings = crossref.merge(findings)
        analysed = [d for model, value in done
                    for d in (value[1].diagnostics if value is not None else model.diagnostics)] + failures
        nfiles = len(done)
        naming = counts if naming else {}
        if all(keys) and not incomplete(analysed):
            store.put(run_key, {"findings": findings, "diagnostics": analysed, "files": nfiles, "types": naming},
                      later=True)
    diagnostics = skipped + analysed
    findings = sorted(findings, key=lambda f: (f.path, f.line, f.col, f.rule))   # not in place: put later
    report = Report(tool=tool(), root=str(root), checks=[e.check for e in entries], findings=findings,
                    diagnostics=diagnostics, files=nfiles, extra={"types": naming})
    return report if prints is None else with_baseline(report, prints, baseline)


def _file_results(files: list[tuple[Path, str]], keys: list[str], rules: list[Rule], ctx: RuleContext,
                  rules_key: str, facts_name: str, jobs: int | None,
                  cache: bool) -> list[tuple[FileModel | None, tuple | None]]:
    """(model, (file-rule findings, the file's facts for the project rules)) of every file: from the last
    run where the file and the rules are the same, else computed by per_file. The model is None where the
    cache had the rest (it is loaded only if a project rule needs it); the pair is None where the file
    could not be checked (its model's diagnostics say why)."""
    from analyzers.structural_incremental import file_facts
    file_rules = [rule for rule in rules if rule.kind == "file"]
    done = [_LAST_FILES.get((k, rules_key)) if k else None for k in keys]
    todo = [n for n, result in enumerate(done) if result is None]
    fresh = per_file([files[n] for n in todo], lambda model: (_file_findings(model, file_rules, ctx),
                                                              file_facts(model)),
                     jobs, cache, [keys[n] for n in todo], facts=facts_name, need_model=False)
    for n, result in zip(todo, fresh):
        done[n] = result
    _LAST_FILES.clear()
    _LAST_FILES.update(((k, rules_key), (None, value)) for k, (_, value) in zip(keys, done)
                       if k and value is not None and not incomplete(value[1].diagnostics))   # failures: retried
    return done


def incomplete(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """The diagnostics saying that analysis failed somewhere (so the findings are incomplete)."""
    return [d for d in diagnostics if d.kind == "internal"]


def _file_findings(model: FileModel, rules: list[Rule], ctx: RuleContext) -> list[Finding]:
    """The file rules' findings for one model; a rule that raises adds an `internal` diagnostic instead."""
    found: list[Finding] = []
    for rule in rules:
        try:
            found.extend(rule.check(model, ctx))
        except Exception as exc:                   # noqa: BLE001 -- the other rules and files still run
            model.diagnostics.append(failure(model.path, f"rule {rule.family}", exc))
    return found


def with_baseline(report: Report, prints: set[str], path: Path | None = None) -> Report:
    """The report without the findings whose fingerprints are in a baseline (and a `baseline` block)."""
    findings, dropped = baseline_file.apply(report.findings, prints)
    block = {"path": str(path) if path else "", "fingerprints": len(prints), "suppressed": dropped}
    return replace(report, findings=findings, extra={**report.extra, "baseline": block})


def focused(report: Report, paths: list[Path]) -> Report:
    """The report restricted to the findings in `paths` (files or folders) or whose related locations or
    thread flows pass through them, with the diagnostics of those files and every `internal` one."""
    root = Path(report.root)
    wanted = [relative(p, root) + ("/" if p.is_dir() else "") for p in paths]

    def inside(path: str) -> bool:
        return any(path == w or (w.endswith("/") and path.startswith(w)) for w in wanted)

    def touches(f: Finding) -> bool:
        return inside(f.path) or any(inside(r.path) for r in f.related) or \
            any(inside(step.path) for flow in f.flows for step in flow)
    return replace(report, findings=[f for f in report.findings if touches(f)],
                   diagnostics=[d for d in report.diagnostics if inside(d.path) or d.kind == "internal"],
                   extra={**report.extra, "focus": sorted({w.rstrip("/") for w in wanted})})


@lru_cache(maxsize=1)
def analyzer_version() -> str:
    """Hash of everything a run's findings depend on besides the inputs: all analyzer modules
    (rules, queries, lock graph, parser), the catalogue and the declared lock hierarchy."""
    digest = hashlib.sha256(rules_version().encode())
    here = Path(__file__).resolve().parent
    for path in sorted([*here.rglob("*.py"), *here.glob("*.yaml"), *here.glob("*.lark"), DEFAULT_HIERARCHY]):
        try:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        except OSError:
            digest.update(path.name.encode() + b"\0missing")
    return digest.hexdigest()[:16]


def _run_key(keys: list[str], entries: list[Entry], settings: dict | None) -> str:
    """Key of a whole run's findings: every file's key, the rules' sources, the selected checks."""
    return _whole_key(_kind("structural", [[[e.check.id, e.check.severity] for e in entries], settings or {}]), keys)
