"""The child process of one round: `python -m runtime_tests.child SPEC.json RESULT.json`.

It runs T threads x I iterations (or for `duration_s`) of one workload on the device, compares every
output with a CPU reference computed once, records what it saw (env vars, preload mapped or not,
versions, device) and writes one JSON result. Mode "perf" measures throughput instead (the
`kinds` among scaling, batching, batcher). Faults can be injected on purpose to test the harness (segv, hang, wrong, raise).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from runtime_tests import backend, images, perf, workloads
from runtime_tests.batcher import BatchQueue, EventLog

SAMPLES = 16  # distinct inputs per round, so a swapped result is a mismatch


def _inject(fault: str) -> None:
    if fault == "segv":
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif fault == "hang":
        threading.Event().wait()
    elif fault == "raise":
        raise RuntimeError("injected fault")


def observe(spec: dict[str, Any], device: str | None = None) -> dict[str, Any]:
    """What the child saw: the named env vars, preload libraries mapped or not, versions, device."""
    seen: dict[str, Any] = {
        "pid": os.getpid(),
        "env": {name: os.environ.get(name) for name in spec.get("env_names", [])},
        "preload_var": {images.preload_variable(): os.environ.get(images.preload_variable())},
        "python": platform.python_version(),
        "os": platform.platform(),
    }
    loaded = images.loaded_images()
    wanted = dict.fromkeys([*spec.get("check_images", []), *spec.get("require_images", [])])
    seen["images"] = {lib: images.is_loaded(lib, loaded) for lib in wanted}
    try:
        import torch

        seen["torch"] = torch.__version__
    except ImportError:
        seen["torch"] = None
    if device is not None:
        seen["device"] = device
    return seen


def factories_of(spec: dict[str, Any]) -> dict[str, workloads.FactoryRef]:
    """The users' workload factories a spec names ({name: {ref, root}})."""
    return {name: workloads.FactoryRef(name, f["ref"], f.get("root"))
            for name, f in (spec.get("factories") or {}).items()}


class _Round:
    """T threads x I iterations on one workload, each output checked against the CPU reference."""

    def __init__(self, spec: dict[str, Any], dev: backend.Backend) -> None:
        import torch

        self.torch, self.spec, self.dev = torch, spec, dev
        factories = factories_of(spec)
        size = spec.get("size", "quick")
        wl = workloads.build(spec["workload"], size, spec.get("dtype", "float32"), dev.device, factories=factories)
        self.dtype = wl.dtype or spec.get("dtype", "float32")
        self.tolerance = workloads.tolerance(wl, self.dtype)
        reference = workloads.build(spec["workload"], size, "float32", "cpu", factories=factories, reference=True)
        x = workloads.inputs(reference, SAMPLES)
        with torch.inference_mode():
            self.expected = reference.model(x).clone()
        self.model = wl.model
        self.x = x.to(device=dev.device, dtype=getattr(torch, self.dtype))
        self.lock = threading.Lock() if spec.get("python_lock") else contextlib.nullcontext()
        self.run_batch(self.x[:1])  # warm-up (kernel selection, lazy init) belongs to set-up
        self.ops = 0
        self.max_error = 0.0
        self.mismatches: list[str] = []
        self.wrong = 0
        self.errors: list[str] = []
        self.count_lock = threading.Lock()

    def run_batch(self, batch):
        """One inference on a device batch, synchronised, result copied to the host: all of it inside the
        python_lock, so the configuration's lock covers the device-to-host copy too (always a copy, even
        on the CPU, so a later call cannot overwrite a result already handed out)."""
        with self.lock, self.torch.inference_mode():  # inference mode is per thread: set it here
            out = self.model(batch)
            self.dev.sync()
            return out.to("cpu", copy=True)

    def thread(self, index: int, single) -> None:
        """One client: I iterations (or until the deadline), each output compared with the reference."""
        iterations = self.spec.get("iterations", 10)
        deadline = time.perf_counter() + self.spec["duration_s"] if self.spec.get("duration_s") else None
        fault = self.spec.get("fault", "none")
        it = 0
        while (it < iterations) if deadline is None else (time.perf_counter() < deadline):
            j = (index * 7 + it) % SAMPLES
            injecting = index == 0 and it == 1
            try:
                if injecting:
                    _inject(fault)
                out = single(j)
                if injecting and fault == "wrong":
                    out = out + 1.0
            except Exception as exc:
                with self.count_lock:
                    self.errors.append(f"thread {index} iteration {it}: {type(exc).__name__}: {exc}"[:400])
                return
            ok, error = workloads.compare(out, self.expected[j], self.tolerance)
            with self.count_lock:
                self.ops += 1
                self.max_error = max(self.max_error, error)
                if not ok:
                    self.wrong += 1
                    if len(self.mismatches) < 20:
                        self.mismatches.append(f"thread {index} iteration {it} sample {j}: "
                                               f"{workloads.difference(out, self.expected[j])}")
            it += 1

    def run(self) -> dict[str, Any]:
        batched = self.spec.get("batched")
        queue = None
        trace = None
        if batched:
            max_batch = int(batched.get("max_batch", 8))
            trace = EventLog(max_batch) if self.spec.get("trace_log") else None
            queue = BatchQueue(lambda idx: list(self.run_batch(self.x[list(idx)])), max_batch=max_batch,
                               max_delay_s=float(batched.get("max_delay_ms", 2)) / 1000, trace=trace)
            single = lambda j: queue(j)  # noqa: E731
        else:
            single = lambda j: self.run_batch(self.x[j:j + 1])[0]  # noqa: E731
        threads = [threading.Thread(target=self.thread, args=(i, single)) for i in range(self.spec.get("threads", 4))]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        if queue is not None:
            queue.close()
        trace_events = trace.write(Path(self.spec["trace_log"])) if trace is not None else None
        outcome = "exception" if self.errors else "mismatch" if self.wrong else "pass"
        return {"outcome": outcome, "ops": self.ops, "mismatches": self.wrong,
                "inferences": self.ops, "wrong": self.wrong,
                "max_error": self.max_error,  # inf when a result had the wrong shape
                "errors": self.errors[:5], "mismatch_examples": self.mismatches[:5],
                "elapsed_s": elapsed, "ops_per_s": self.ops / elapsed if elapsed > 0 else None,
                "mean_batch": (sum(queue.batch_sizes) / len(queue.batch_sizes)) if queue and queue.batch_sizes else None,
                "trace_events": trace_events}


def _measure(spec: dict[str, Any], dev: backend.Backend) -> dict[str, Any]:
    import torch

    wl = workloads.build(spec["workload"], spec.get("size", "quick"), spec.get("dtype", "float32"), dev.device,
                         spec.get("width"), factories=factories_of(spec))
    dtype = wl.dtype or spec.get("dtype", "float32")
    p = spec.get("perf", {})
    largest = max([*p.get("batches", [1]), p.get("clients", 8), 1])
    x = workloads.inputs(wl, largest, dtype).to(dev.device)

    def call(batch):
        with torch.inference_mode():  # per thread, and the batcher's worker is another thread
            out = wl.model(batch)
            dev.sync()
        return out

    reps, seconds = int(p.get("reps", 5)), float(p.get("seconds", 0.5))
    rows = []
    kinds = spec.get("kinds", ["scaling"])
    if "scaling" in kinds:
        rows += perf.scaling(call, x[:1], p.get("threads", [1, 2, 4, 8]), reps, seconds)
    if "batching" in kinds:
        rows += perf.batching(call, {b: x[:b] for b in p.get("batches", [1, 8])}, reps, seconds)
    if "batcher" in kinds:
        rows += perf.batcher(call, torch.stack, x[0], int(p.get("clients", 8)),
                             float(p.get("max_delay_ms", 2)) / 1000, reps, seconds)
    return {"outcome": "pass", "measurements": rows}


def main(spec: dict[str, Any], ready=lambda: None) -> dict[str, Any]:
    """Run one spec and return the result document; `ready()` is called once set-up is done (torch
    imported, device initialised, models built), which starts the parent's hang clock."""
    device = backend.resolve(spec.get("device", "cpu"))
    dev = backend.backend(device)
    seen = observe(spec, dev.name)
    seen["device_kind"] = device
    missing = [lib for lib in spec.get("require_images", []) if not seen["images"].get(lib)]
    if missing:
        ready()
        return {"outcome": "exception", "errors": [f"preload library not loaded: {', '.join(missing)}"], "seen": seen}
    if spec.get("mode", "round") == "round":
        work = _Round(spec, dev)
        ready()
        result = work.run()
    else:
        ready()
        result = _measure(spec, dev)
    return {**result, "seen": seen}


if __name__ == "__main__":
    spec_path, result_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as f:
        spec_doc = json.load(f)
    backend.prepare(spec_doc.get("device", "cpu"))
    def _ready() -> None:
        open(result_path + ".ready", "w").close()

    try:
        doc = main(spec_doc, _ready)
    except Exception as exc:  # reported as the round's outcome, not as a crash
        doc = {"outcome": "exception", "errors": [f"{type(exc).__name__}: {exc}"],
               "traceback": traceback.format_exc()[-2000:]}
    with open(result_path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(result_path + ".tmp", result_path)
