"""`python -m checks.fuzz [--seconds N] [--seed S]`: mutate the corpus's MPS sources and run every analysis stage.

Each input goes through parse -> every structural rule -> suppressions -> TSA inventory -> lock graph ->
every reporter, in this process and unguarded (the engine's per-file guard would hide the exceptions
this looks for). Seeded and time-bounded; reports inputs per second, every distinct exception (the input
is saved) and every input slower than --slow seconds. Exit 1 when anything raised or was slow.
"""

from __future__ import annotations

import hashlib
import random
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from checks import cli
from checks.sources import CORPUS_DIR, REPO_ROOT, corpus_mps_dirs

# Fragments the mutator inserts: the shapes issue #15's inputs were made of, and the parser's landmarks.
FRAGMENTS = ("[", "]", "(", ")", "{", "}", "[[", "]]", '"', "'", 'R"(', 'R"x(', "u8'", "\\", "@synchronized(",
             "@synchronized() {", "@synchronized(self) {", "@end", "@implementation A\n", "^{", "^(int x){",
             "std::lock_guard<std::mutex> g(m);", "std::scoped_lock l(a, b);", "m.lock();", "m.unlock();",
             "dispatch_sync(q, ^{", "[x waitUntilCompleted];", "->b()", "::", "#if 0\n", "#else\n", "#endif\n",
             "#define X(a) a\n", "/*", "*/", "//", "// mps-verify: ignore[ST.001] r\n", "GUARDED_BY(m)",
             "__attribute__((guarded_by(m)))", "[[clang::guarded_by(m)]]", "template <typename T>", "<", ">",
             ";", ",", "\n", "\t", "\x00", "\ufffd", "f();", "void f() {", "class C {", "};", "namespace n {")


@dataclass
class Outcome:
    """What a fuzzing run saw."""

    inputs: int = 0
    seconds: float = 0.0
    errors: dict[str, tuple[str, str]] = field(default_factory=dict)   # signature -> (summary, saved input)
    error_inputs: int = 0
    slow: list[tuple[float, str]] = field(default_factory=list)


class _Slow(Exception):
    """An input ran past the per-input time bound."""


def mutate(rng: random.Random, text: str, donors: list[str]) -> str:
    """One to four random edits: fragments inserted, spans deleted, duplicated, repeated, spliced, truncated."""
    for _ in range(rng.randint(1, 4)):
        n = len(text)
        at = rng.randint(0, n)
        op = rng.random()
        if op < 0.35:
            text = text[:at] + rng.choice(FRAGMENTS) * rng.choice((1, 1, 2, 8, 64)) + text[at:]
        elif op < 0.5 and n:
            text = text[:at] + text[at + rng.randint(1, 64):]
        elif op < 0.6 and n:
            span = text[at:at + rng.randint(1, 200)]
            text = text[:at] + span * rng.choice((2, 3, 16)) + text[at:]
        elif op < 0.7:
            donor = rng.choice(donors)
            d = rng.randint(0, len(donor))
            text = text[:at] + donor[d:d + rng.randint(1, 2000)] + text[at:]
        elif op < 0.8 and n:
            text = text[:at]
        elif op < 0.9 and n:
            chars = list(text)
            for _ in range(rng.randint(1, 8)):
                chars[rng.randrange(n)] = chr(rng.choice((0, 9, 10, 34, 39, 40, 41, 91, 93, 123, 125, 0xfffd,
                                                          rng.randint(32, 126))))
            text = "".join(chars)
        else:
            lines = text.split("\n")
            if len(lines) > 2:
                a, b = sorted(rng.sample(range(len(lines)), 2))
                lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
    return text


class Pipeline:
    """Every analysis stage, set up once: catalogue, rules, hierarchy, reporters."""

    def __init__(self) -> None:
        from analyzers.catalogue import load_catalogue, select
        from analyzers.engine import selected_rules
        from analyzers.hierarchy import load_hierarchy
        from analyzers.rules import RuleContext

        self.entries = select(load_catalogue(), None)
        self.rules = selected_rules(self.entries)
        self.ctx = RuleContext({e.check.id: e.check for e in self.entries}, REPO_ROOT, {})
        self.hierarchy = load_hierarchy()

    def run(self, text: str, rel: str) -> None:
        """Parse one input and run every stage over it; exceptions propagate."""
        from analyzers import suppress, tsa
        from analyzers.findings import Report
        from analyzers.lockgraph import build_graph, findings as graph_findings
        from analyzers.parse import parse_text
        from analyzers.reporters import REPORTERS, render

        model = parse_text(text, rel)
        found = [f for rule in self.rules if rule.kind == "file" for f in rule.check(model, self.ctx)]
        found += [f for rule in self.rules if rule.kind == "project" for f in rule.check([model], self.ctx)]
        found = suppress.apply(found, [model], self.ctx, {e.check.id for e in self.entries})
        tsa.inventory([model]).to_json()
        found += graph_findings(build_graph([model], self.hierarchy))
        report = Report(tool={}, root="/fuzz", checks=[e.check for e in self.entries], findings=found,
                        diagnostics=list(model.diagnostics), files=1)
        for fmt in REPORTERS:
            render(report, fmt)


def _on_alarm(_signum, _frame):
    raise _Slow()


def fuzz(seconds: float, seed: int, slow: float, save: Path, sources: list[Path]) -> Outcome:
    """Mutate `sources` until `seconds` have passed; every input through every stage."""
    rng = random.Random(seed)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sources]
    pipeline = Pipeline()
    out = Outcome()
    # CPU time, not wall-clock: on a loaded machine a wall-clock bound flags inputs that merely waited
    previous = signal.signal(signal.SIGPROF, _on_alarm)
    start = time.monotonic()
    try:
        while time.monotonic() - start < seconds:
            n = rng.randrange(len(texts))
            text = mutate(rng, texts[n], texts)
            rel = sources[n].name
            signal.setitimer(signal.ITIMER_PROF, slow)
            try:
                pipeline.run(text, rel)
            except _Slow:
                out.slow.append((slow, _save(save, "slow", text)))
            except Exception as exc:      # what we are looking for: record it and go on
                frames = traceback.extract_tb(exc.__traceback__)
                where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames)
                              if "/analyzers/" in f.filename), "?")
                signature = f"{type(exc).__name__} at {where}"
                out.error_inputs += 1
                if signature not in out.errors:
                    out.errors[signature] = (f"{signature}: {str(exc)[:120]}", _save(save, "crash", text))
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            out.inputs += 1
    finally:
        signal.signal(signal.SIGPROF, previous)
    out.seconds = time.monotonic() - start
    return out


def _save(folder: Path, kind: str, text: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind}-{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()[:12]}.mm"
    path.write_text(text, encoding="utf-8", errors="replace")
    return str(path)


def report(out: Outcome, seed: int) -> str:
    """The run's summary: inputs, rate, exceptions and slow inputs."""
    rate = out.inputs / out.seconds if out.seconds else 0.0
    lines = [f"fuzz: seed {seed}, {out.inputs} inputs in {out.seconds:.0f} s ({rate:.1f} inputs/s), "
             f"{out.error_inputs} raised ({len(out.errors)} distinct), {len(out.slow)} slow"]
    lines += [f"  exception {summary} -> {saved}" for summary, saved in out.errors.values()]
    lines += [f"  slow input ({secs:.1f} s) -> {saved}" for secs, saved in out.slow]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Fuzz for --seconds, print the summary, exit 1 when an input raised or was slow."""
    p = cli.parser("python -m checks.fuzz", "Mutation fuzzing of every analysis stage on the corpus's MPS sources.")
    p.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0): the same seed, the same inputs")
    p.add_argument("--slow", type=float, default=5.0,
                   help="CPU seconds after which one input counts as slow (default 5)")
    p.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="PyTorch tree whose MPS folders seed the inputs")
    p.add_argument("--save", type=Path, default=REPO_ROOT / ".mps-verify" / "fuzz",
                   help="folder for inputs that raised or were slow")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.slow <= 0:
        raise cli.UsageError("--seconds and --slow must be positive")
    sources = sorted(f for d in corpus_mps_dirs(args.corpus) for f in d.rglob("*")
                     if f.suffix in (".h", ".mm", ".cpp", ".m") and f.is_file())
    if not sources:
        raise cli.UsageError(f"no sources under {args.corpus}")
    out = fuzz(args.seconds, args.seed, args.slow, args.save, sources)
    print(report(out, args.seed), end="")
    return int(cli.Exit.FINDINGS if out.errors or out.slow else cli.Exit.CLEAN)


if __name__ == "__main__":
    raise SystemExit(cli.run(main))
