"""The cache folder is trimmed: unused entries age out, the least recently used go past the size limit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from analyzers import cache

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "structural"
HOUR, DAY = 3600, 86400


def _entry(root: Path, name: str, size: int, age_s: float, now: float) -> Path:
    path = root / "structural" / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_s, now - age_s))
    return path


def test_entries_unused_for_the_age_limit_go_and_the_rest_stay(tmp_path):
    now = time.time()
    old = _entry(tmp_path, "aa-old.pickle", 100, 31 * DAY, now)
    recent = _entry(tmp_path, "bb-recent.pickle", 100, 2 * DAY, now)
    result = cache.trim(tmp_path, max_bytes=10 ** 6, max_age_s=30 * DAY, now=now)
    assert (result.files, result.removed, result.freed) == (2, 1, 100)
    assert not old.exists() and recent.exists()


def test_over_the_size_limit_the_least_recently_used_go_down_to_80_percent(tmp_path):
    now = time.time()
    paths = [_entry(tmp_path, f"{n:02d}-e.pickle", 1000, (10 - n) * HOUR, now) for n in range(10)]
    result = cache.trim(tmp_path, max_bytes=5000, max_age_s=30 * DAY, now=now)
    assert result.size == 10000 and result.removed == 6          # 10000 -> 4000 <= 0.8 * 5000
    assert [p.exists() for p in paths] == [False] * 6 + [True] * 4
    assert cache.trim(tmp_path, max_bytes=5000, max_age_s=30 * DAY, now=now, force=True).removed == 0


def test_a_half_written_entry_of_a_dead_run_goes_after_an_hour(tmp_path):
    now = time.time()
    dead = _entry(tmp_path, ".tmp-dead", 10, 2 * HOUR, now)
    live = _entry(tmp_path, ".tmp-live", 10, 60, now)
    cache.trim(tmp_path, max_bytes=10 ** 6, max_age_s=30 * DAY, now=now)
    assert not dead.exists() and live.exists()


def test_trim_looks_at_most_once_an_hour_unless_forced(tmp_path):
    now = time.time()
    _entry(tmp_path, "aa-old.pickle", 100, 40 * DAY, now)
    assert cache.trim(tmp_path, now=now).removed == 1
    _entry(tmp_path, "bb-old.pickle", 100, 40 * DAY, now)
    assert cache.trim(tmp_path, now=now + 60) is None
    assert cache.trim(tmp_path, now=now + 2 * HOUR).removed == 1
    assert cache.trim(tmp_path / "absent", force=True) is None


def test_a_hit_marks_its_entry_used(tmp_path):
    store = cache.ParseCache(tmp_path)
    store.put("ab" + "0" * 62, {"v": 1})
    path = store._path("ab" + "0" * 62)
    os.utime(path, (time.time() - 3 * DAY,) * 2)
    assert store.get("ab" + "0" * 62) == {"v": 1}
    assert time.time() - path.stat().st_mtime < 60
    os.utime(path, (time.time() - 60,) * 2)          # used a minute ago: no write for this hit
    store.get("ab" + "0" * 62)
    assert 50 < time.time() - path.stat().st_mtime < 120


def _run(env: dict, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-m", "checks.tsa", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_command_trims_its_cache_folder(tmp_path):
    now = time.time()
    stale = _entry(tmp_path, "cc-stale.pickle", 100, 60 * DAY, now)
    proc = _run({"MPS_VERIFY_CACHE_DIR": str(tmp_path)}, str(FIXTURE), "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    assert not stale.exists() and (tmp_path / cache.STAMP).exists()
    assert any((tmp_path / "structural").rglob("*.pickle"))       # this run's own entries stay


def test_a_bad_limit_is_one_line_and_exit_2(tmp_path):
    for env in ({"MPS_VERIFY_CACHE_MAX_MB": "lots"}, {"MPS_VERIFY_CACHE_MAX_DAYS": "-3"}):
        proc = _run({"MPS_VERIFY_CACHE_DIR": str(tmp_path), **env}, str(FIXTURE))
        assert proc.returncode == 2
        assert proc.stderr.strip().count("\n") == 0 and "expected a number >= 0" in proc.stderr


def test_a_resident_process_writes_deferred_puts_after_its_reply_and_reads_them_back_before(tmp_path,
                                                                                                monkeypatch):
    monkeypatch.setattr(cache, "_LATER", None)
    store = cache.ParseCache(tmp_path)
    store.put("once", 1, later=True)                # no resident process: written at once
    assert store.has("once")
    cache.defer_writes()
    state = {"a": [1]}
    store.put("state", state, later=True)
    store.put("other", [2], later=True)
    store.put("model", 3)
    assert not store.has("state") and not store.has("other") and store.has("model")
    got = store.get("state")                         # written first, then read from its file
    assert got == state and got is not state and store.has("state")
    cache.write_deferred()
    assert store.get("other") == [2] and cache._LATER == {}
