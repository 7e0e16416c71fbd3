"""`make fuzz`: seeded, time-bounded, and it does report what raises."""

import random
import shutil
from pathlib import Path

from checks import fuzz
from tests.hostile.conftest import FIX, run


def _corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for sub in ("aten/src/ATen/mps", "aten/src/ATen/native/mps"):
        (root / sub).mkdir(parents=True)
    shutil.copy(FIX / "gate" / "Ops.mm", root / "aten/src/ATen/native/mps" / "Ops.mm")
    shutil.copy(FIX / "gate" / "MPSCounters.h", root / "aten/src/ATen/mps" / "MPSCounters.h")
    return root


def test_the_same_seed_gives_the_same_inputs():
    texts = ["void f() { m.lock(); }\n", "int x;\n"]
    one = [fuzz.mutate(random.Random(7), texts[0], texts) for _ in range(3)]
    two = [fuzz.mutate(random.Random(7), texts[0], texts) for _ in range(3)]
    assert one == two


def test_the_cli_reports_inputs_per_second(tmp_path):
    proc = run("checks.fuzz", "--seconds", "3", "--seed", "1", "--corpus", str(_corpus(tmp_path)),
               "--save", str(tmp_path / "saved"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "inputs/s" in proc.stdout and "0 raised" in proc.stdout


def test_an_exception_is_reported_and_its_input_saved(tmp_path, monkeypatch):
    real = fuzz.Pipeline.run

    def flaky(self, text, rel):
        if "{" in text[:40]:
            raise KeyError("planted")
        return real(self, text, rel)

    monkeypatch.setattr(fuzz.Pipeline, "run", flaky)
    sources = sorted((_corpus(tmp_path)).rglob("*.*"))
    (sources[0]).write_text("{ void f(); }\n")
    out = fuzz.fuzz(2, 0, 5.0, tmp_path / "saved", sources)
    assert out.inputs and out.errors
    summary, saved = next(iter(out.errors.values()))
    assert summary.startswith("KeyError") and Path(saved).is_file()
    assert f"{out.error_inputs} raised" in fuzz.report(out, 0)
