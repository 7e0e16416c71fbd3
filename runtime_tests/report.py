"""The Markdown report of one run (tables, statements, model cross-check) with PNG plots."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from runtime_tests import crosscheck, stats

# The batcher's targets on CUDA at 8 clients: >= 3x plain threads and >= 70% of offline batch-8.
CUDA_TARGETS = {"vs_threads": 3.0, "vs_offline": 0.70, "workloads": ("linear", "mlp")}


def _ratios(modes: dict[str, dict[str, list[float]]]) -> dict[str, float]:
    """Median requests/s of the batcher over plain threads and over offline, and the floor over offline."""
    med = {m: stats.median_iqr(v["requests_per_s"])[0] for m, v in modes.items()}
    out = {"vs_threads": med["batcher"] / med["threads"], "vs_offline": med["batcher"] / med["offline"]}
    if "floor" in med:
        out["floor_vs_offline"] = med["floor"] / med["offline"]
        out["floor"] = med["floor"]
    return out


def _met(modes: dict[str, dict[str, list[float]]]) -> bool:
    r = _ratios(modes)
    return r["vs_threads"] >= CUDA_TARGETS["vs_threads"] and r["vs_offline"] >= CUDA_TARGETS["vs_offline"]


def target(workload: str, modes: dict[str, dict[str, list[float]]]) -> str:
    """Whether the batcher met its CUDA targets on one workload (or workload@width), with the ratios,
    and whether the hand-off floor leaves the offline target within reach at all."""
    r = _ratios(modes)
    line = (f"{workload}: target {'met' if _met(modes) else 'NOT met'} ({r['vs_threads']:.2f}x plain threads, need "
            f">= {CUDA_TARGETS['vs_threads']:g}x; {r['vs_offline']:.0%} of offline, need >= {CUDA_TARGETS['vs_offline']:.0%})")
    if not _met(modes) and r.get("floor_vs_offline", 1.0) < CUDA_TARGETS["vs_offline"]:
        line += (f"; unreachable here for any thread-based CPython batcher: the hand-off floor (no model at all) "
                 f"is {_fmt(r['floor'])} requests/s, {r['floor_vs_offline']:.0%} of offline")
    return line


def _label(label: str) -> tuple[str, int | None]:
    """'linear@32768' -> ('linear', 32768); 'linear' -> ('linear', None)."""
    base, _, width = label.partition("@")
    return base, int(width) if width else None


def widths_summary(workload: str, by_label: dict[str, dict[str, dict[str, list[float]]]]) -> str:
    """The smallest measured width of `workload` at which both targets hold."""
    widths = {}
    for label, modes in by_label.items():
        base, width = _label(label)
        if base == workload and width is not None:
            widths[width] = modes
    met = [w for w, modes in sorted(widths.items()) if _met(modes)]
    measured = ", ".join(str(w) for w in sorted(widths))
    if not met:
        return f"{workload}: targets met at no measured width ({measured})"
    return f"{workload}: targets met from width {met[0]} (measured {measured}; met at {', '.join(map(str, met))})"


def _rounds(conn: sqlite3.Connection, run_id: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM rounds WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()


def _measurements(conn: sqlite3.Connection, run_id: int, kind: str) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{workload: {param: {metric: [values over reps]}}} in insertion order."""
    out: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for r in conn.execute("SELECT workload, param, metric, value FROM measurements WHERE run_id = ? AND kind = ? "
                          "ORDER BY id", (run_id, kind)):
        out[r["workload"]][r["param"]][r["metric"]].append(r["value"])
    return out


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _mi(values: list[float]) -> str:
    med, q1, q3 = stats.median_iqr(values)
    return f"{_fmt(med)} [{_fmt(q1)}-{_fmt(q3)}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]


def _saw(seen: dict[str, Any]) -> str:
    """What a child reported about its configuration: the env vars it got, preload mapped or not."""
    parts = [f"{k}={v}" for k, v in (seen.get("env") or {}).items()]
    parts += [f"{Path(lib).name} {'loaded' if ok else 'NOT loaded'}" for lib, ok in (seen.get("images") or {}).items()]
    return ", ".join(parts) or "-"


def _config_stats(rounds: list[sqlite3.Row]) -> dict[str, dict[str, Any]]:
    by: dict[str, dict[str, Any]] = {}
    for r in rounds:
        entry = by.setdefault(r["config"], {"flags": [], "outcomes": defaultdict(int), "sprt": None,
                                            "saw": _saw(json.loads(r["seen"] or "{}"))})
        entry["flags"].append(r["outcome"] != "pass")
        entry["outcomes"][r["outcome"]] += 1
        entry["sprt"] = r["sprt"] or entry["sprt"]
    return by


def _plot_rates(rows: list[tuple[str, stats.Rate]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    for i, (name, r) in enumerate(rows):
        ax.errorbar([100 * r.estimate], [i], xerr=[[100 * (r.estimate - r.low)], [100 * (r.high - r.estimate)]],
                    fmt="o", capsize=4, color="tab:red" if r.k else "tab:blue")
    ax.set_yticks(range(len(rows)), [n for n, _ in rows])
    ax.set_xlim(-2, 102)
    ax.set_xlabel("failure rate per round, % (95% Clopper-Pearson interval)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_curves(data: dict[str, dict[str, dict[str, list[float]]]], metric: str, xlabel: str, ylabel: str,
                 path: Path, relative: bool) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for workload, params in data.items():
        xs = sorted(int(p) for p in params)
        meds = [stats.median_iqr(params[str(x)][metric])[0] for x in xs]
        base = meds[0] if relative and meds and meds[0] else 1.0
        ax.plot(xs, [m / base for m in meds], marker="o", label=workload)
    if relative and data:
        xs = sorted({int(p) for params in data.values() for p in params})
        ax.plot(xs, [x / xs[0] for x in xs], "k--", linewidth=0.8, label="ideal")
    from matplotlib.ticker import ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    xs = sorted({int(p) for params in data.values() for p in params})
    ax.set_xticks(xs, [str(x) for x in xs])
    if relative:  # speed-ups read best as plain numbers; absolute rates keep the log formatter
        ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _environment(run: sqlite3.Row) -> list[str]:
    env = json.loads(run["environment"])
    tool = env.get("tool", {})
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run["started"]))
    took = f"{run['finished'] - run['started']:.0f} s" if run["finished"] else "unfinished"
    return _table(["", ""], [
        ["run", f"{run['id']} (plan {run['plan']}, started {started}, took {took})"],
        ["device", f"{env.get('device')}: {env.get('device_name')}"],
        ["torch", str(tool.get("torch"))], ["python", str(tool.get("python"))], ["OS", str(env.get("os"))],
        ["CPUs", str(env.get("cpus"))], ["mps-verify", f"{tool.get('version')} (git {tool.get('git')})"],
        ["plan", (", ".join(f"{k} {v}" for k, v in env.get("settings", {}).items() if k != "perf") or "-")
         + (", sequential (SPRT)" if env.get("sequential") else "")],
        ["skipped", ", ".join(env.get("skipped", [])) or "-"]])


def markdown(conn: sqlite3.Connection, run_id: int, plots: dict[str, str]) -> str:
    """The report text for `run_id`; `plots` maps plot names to the file names written next to it."""
    run = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    device = run["device"]
    rounds = _rounds(conn, run_id)
    by = _config_stats(rounds)
    configs = [c for c in by if c not in ("perf", "soak")]
    checks = {r["config"]: r for r in conn.execute("SELECT * FROM crosschecks WHERE run_id = ?", (run_id,))}
    failed = [r for r in rounds if r["outcome"] != "pass"]
    contradictions = [c for c in checks.values() if c["verdict"] == "contradiction"]
    lines = [f"# mps-verify runtime report (run {run_id})", "", *_environment(run), ""]
    verdict = ("FAIL" if failed or contradictions else "PASS")
    lines += [f"**{verdict}**: {len(rounds)} child processes, {len(failed)} failed; "
              f"{len(contradictions)} contradiction(s) with the models.", ""]

    lines += ["## Failures per configuration", "",
              "A round is one freshly spawned process running T threads x I iterations; it fails when it "
              "crashes (signal), hangs (killed at the timeout), raises, or returns a result off the CPU "
              "reference. Intervals are exact (Clopper-Pearson, 95%); the upper bound is one-sided 95%. "
              f"SPRT: failure rate {stats.SPRT_P0:.0%} vs {stats.SPRT_P1:.0%}, alpha = beta = {stats.SPRT_ALPHA}.", ""]
    rate_rows, table = [], []
    for name in configs:
        flags = by[name]["flags"]
        r = stats.rate(sum(flags), len(flags))
        rate_rows.append((name, r))
        outcomes = ", ".join(f"{o} {n}" for o, n in sorted(by[name]["outcomes"].items()))
        decision, used = stats.sprt(flags)
        table.append([name, by[name]["saw"], str(len(flags)), outcomes, f"{100 * r.low:.1f}-{100 * r.high:.1f}%",
                      f"{100 * r.upper:.1f}%", f"{decision} ({used})", stats.sentence(r)])
    lines += _table(["configuration", "child saw", "rounds", "outcomes", "95% CI", "upper bound", "SPRT",
                     "what it shows"], table)
    described = json.loads(run["environment"]).get("configurations", {})
    lines += ["", *[f"- `{name}`: {text}" for name, text in described.items() if text]] if described else []
    if "rates" in plots:
        lines += ["", f"![failure rates]({plots['rates']})"]
    if len(configs) > 1:
        base = configs[0]
        kb, nb = sum(by[base]["flags"]), len(by[base]["flags"])
        rows = [[name, f"{sum(by[name]['flags'])}/{len(by[name]['flags'])} vs {kb}/{nb}",
                 f"{stats.fisher(sum(by[name]['flags']), len(by[name]['flags']), kb, nb):.3g}"] for name in configs[1:]]
        lines += ["", f"Compared with `{base}` (Fisher's exact test, two-sided; p < 0.05 means the failure rates differ):",
                  "", *_table(["configuration", "failures", "p"], rows)]

    lines += ["", "## Cross-check with the TLA+ models", "",
              f"Model verdicts from specs/manifest.yaml. A contradiction is a failure where the model says safe, or "
              f"0 failures in >= {stats.rounds_to_detect(crosscheck.DETECT_RATE)} rounds where it says unsafe "
              f"(enough to see a {crosscheck.DETECT_RATE:.0%} crash rate with 95% probability). "
              "The AGXEncoderRace models describe Apple's AGX driver: on CUDA and CPU there is no such driver, "
              "so their 'unsafe' predicts no crash there.", ""]
    lines += _table(["configuration", "model", "model says", "verdict", "why"],
                    [[c["config"], c["model"] or "-", c["expect"] or "-", c["verdict"].upper() if c["verdict"] ==
                      "contradiction" else c["verdict"], c["reason"]] for c in checks.values()])

    if failed:
        lines += ["", "## Failed rounds", ""]
        rows = []
        for r in failed[:50]:
            reports = json.loads(r["crash_reports"] or "[]")
            crash = "; ".join(f"{c.get('exception')} {c.get('signal')} in {' < '.join(c.get('frames', [])[:3])}"
                              for c in reports)
            detail = (r["detail"] or "").strip().splitlines()
            rows.append([r["config"], r["workload"], r["outcome"], (detail[-1] if detail else "")[:160], crash or "-"])
        lines += _table(["configuration", "workload", "outcome", "detail", "crash report"], rows)

    soak = _measurements(conn, run_id, "soak")
    if soak:
        lines += ["", "## Soak", ""]
        rows = [[w, p, f"{m['seconds'][0]:.1f} s", _fmt(m["ops"][0]), _fmt(m["errors"][0]), _fmt(m["ops_per_s"][0])]
                for w, params in soak.items() for p, m in params.items()]
        lines += _table(["workload", "configuration", "time", "ops", "errors", "ops/s"], rows)

    scaling = _measurements(conn, run_id, "scaling")
    if scaling:
        lines += ["", "## Thread scaling", "",
                  "Batch-1 requests, device synchronised after each; median [IQR] over interleaved repetitions. "
                  "Efficiency = median ops/s(N) / (N x median ops/s(1)), 95% interval by percentile bootstrap "
                  "(2000 resamples of each setting's repetitions).", ""]
        rows = []
        for workload, params in scaling.items():
            base = params.get("1", {}).get("ops_per_s", [])
            for p, m in params.items():
                vals = m["ops_per_s"]
                eff = stats.efficiency(base, vals, int(p)) if base else None
                rows.append([workload, p, _mi(vals), f"{stats.median_iqr(vals)[0] / stats.median_iqr(base)[0]:.2f}x"
                             if base else "-", f"{eff[0]:.2f} [{eff[1]:.2f}-{eff[2]:.2f}]" if eff else "-"])
        lines += _table(["workload", "threads", "ops/s", "speed-up", "efficiency"], rows)
        if "scaling" in plots:
            lines += ["", f"![thread scaling]({plots['scaling']})"]

    batching = _measurements(conn, run_id, "batching")
    if batching:
        lines += ["", "## Batching", "", "One thread, samples/s by batch size; gain over batch 1 (medians).", ""]
        rows = []
        for workload, params in batching.items():
            base = stats.median_iqr(params["1"]["samples_per_s"])[0] if "1" in params else None
            rows += [[workload, p, _mi(m["samples_per_s"]),
                      f"{stats.median_iqr(m['samples_per_s'])[0] / base:.1f}x" if base else "-"] for p, m in params.items()]
        lines += _table(["workload", "batch", "samples/s", "gain"], rows)
        if "batching" in plots:
            lines += ["", f"![batching]({plots['batching']})"]

    batcher = _measurements(conn, run_id, "batcher")
    perf = json.loads(run["environment"]).get("settings", {}).get("perf", {})
    clients, delay = perf.get("clients", "N"), perf.get("max_delay_ms", "?")
    if batcher:
        lines += ["", "## Dynamic batcher vs threads vs offline batching", "",
                  "Closed loop: each client sends one single-sample request, waits for its answer, repeats. "
                  f"threads = {clients} clients call the model themselves; batcher = they go through BatchQueue "
                  f"(max batch {clients}, max delay {delay} ms); offline = one thread running batches of {clients} "
                  "(the ceiling). "
                  "Requests/s median [IQR]; latency percentiles pooled over repetitions.", ""]
        rows = []
        for workload, modes in batcher.items():
            med = {m: stats.median_iqr(v["requests_per_s"])[0] for m, v in modes.items()}
            for mode, v in modes.items():
                rows.append([workload, mode, _mi(v["requests_per_s"]), _fmt(v["p50_ms"][0]), _fmt(v["p99_ms"][0]),
                             f"{med[mode] / med['threads']:.2f}x", f"{med[mode] / med['offline']:.0%}"])
        lines += _table(["workload", "mode", "requests/s", "p50 ms", "p99 ms", "vs threads", "vs offline"], rows)
        if "@" in "".join(batcher):
            lines += ["", "workload@d: the same workload at hidden width d. floor: the clients through a "
                      "BatchQueue whose batch function does nothing (thread hand-offs only): no thread-based "
                      "batcher in CPython gets above it on this machine."]
        if device == "cuda":
            judged = [w for w in batcher if _label(w)[0] in CUDA_TARGETS["workloads"]]
            lines += ["", *[f"- {target(w, batcher[w])}" for w in judged]]
            lines += [f"- {widths_summary(w, batcher)}" for w in CUDA_TARGETS["workloads"]
                      if any(label.startswith(w + "@") for label in judged)]
    return "\n".join(lines) + "\n"


def write(conn: sqlite3.Connection, run_id: int, out: Path) -> Path:
    """Write report.md and its PNG plots into `out`; returns the report's path."""
    import matplotlib

    matplotlib.use("Agg")
    out.mkdir(parents=True, exist_ok=True)
    plots: dict[str, str] = {}
    by = _config_stats(_rounds(conn, run_id))
    rates = [(n, stats.rate(sum(e["flags"]), len(e["flags"]))) for n, e in by.items() if n not in ("perf", "soak")]
    if rates:
        _plot_rates(rates, out / "crash_rates.png")
        plots["rates"] = "crash_rates.png"
    for kind, metric, xlabel, ylabel, relative in (
            ("scaling", "ops_per_s", "threads", "speed-up over 1 thread (median ops/s)", True),
            ("batching", "samples_per_s", "batch size", "samples/s (median)", False)):
        data = _measurements(conn, run_id, kind)
        if data:
            _plot_curves(data, metric, xlabel, ylabel, out / f"{kind}.png", relative)
            plots[kind] = f"{kind}.png"
    path = out / "report.md"
    path.write_text(markdown(conn, run_id, plots), encoding="utf-8")
    return path
