"""The ST catalogue (analyzers/catalogue.yaml): load, validate, and add the suppression checks ST.000.

Every problem in the file is one line naming the entry and the field (a UsageError, exit 2).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from analyzers.findings import SEVERITIES, Check
from analyzers.cache import parsed_yaml
from mpsverify_base.config import read_text
from mpsverify_base.errors import UsageError
from mpsverify_base.paths import REPO_ROOT

CATALOGUE_PATH = Path(__file__).with_name("catalogue.yaml")
ID_RE = re.compile(r"^ST\.\d{3}(\.[a-z])?$")
REQUIRED = ("id", "family", "title", "severity", "rationale", "fix", "fixtures")
FIXTURE_KINDS = ("flag", "pass")
PAGES_DIR = "docs/rules"       # one generated page per entry (analyzers/rulepages.py)


@dataclass(frozen=True)
class Entry:
    """One catalogue entry: the Check reporters show, its family, and the fixtures proving it."""

    check: Check
    family: str
    fixtures: dict[str, Path]     # flag | pass -> path (absolute)


# Suppression hygiene: defined here (not in catalogue.yaml) because the engine itself emits them.
SUPPRESSION_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "structural_cli"
SUPPRESSION_ENTRIES = (
    Entry(Check("ST.000.a", "suppression comment without a reason", "error",
                "A `// mps-verify: ignore[ID]` must say why the finding does not apply, so reviewers can "
                "judge it later; without a reason it suppresses nothing.",
                "Write the reason after the bracket: `// mps-verify: ignore[ST.003.e] runs before any "
                "other thread exists`."),
          "ST.000", {"flag": SUPPRESSION_FIXTURES / "ST.000.a_flag.mm",
                     "pass": SUPPRESSION_FIXTURES / "ST.000.a_pass.mm"}),
    Entry(Check("ST.000.b", "unused suppression", "warning",
                "A suppression that matches no finding on its line or the next one is stale (the code "
                "moved or was fixed) and would hide a future finding there.",
                "Delete the comment, or move it next to the finding it is meant for."),
          "ST.000", {"flag": SUPPRESSION_FIXTURES / "ST.000.b_flag.mm",
                     "pass": SUPPRESSION_FIXTURES / "ST.000.b_pass.mm"}),
)


def _entry(raw: object, n: int, base: Path, where: str) -> Entry:
    label = f"{where}: checks[{n}]"
    if not isinstance(raw, dict):
        raise UsageError(f"{label}: expected a mapping, got {type(raw).__name__}")
    if isinstance(raw.get("id"), str):
        label += f" ({raw['id']})"
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise UsageError(f"{label}: missing {', '.join(missing)}")
    unknown = sorted(set(raw) - set(REQUIRED))
    if unknown:
        raise UsageError(f"{label}: unknown field {unknown[0]!r}")
    cid, family = raw["id"], raw["family"]
    if not isinstance(cid, str) or not ID_RE.match(cid):
        raise UsageError(f"{label}: id must look like ST.001.a or ST.009, got {cid!r}")
    if family != cid[:6]:
        raise UsageError(f"{label}: family {family!r} does not match the id (expected {cid[:6]!r})")
    if raw["severity"] not in SEVERITIES:
        raise UsageError(f"{label}: severity must be one of {', '.join(SEVERITIES)}, got {raw['severity']!r}")
    for key in ("title", "rationale", "fix"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise UsageError(f"{label}: {key} must be a non-empty string")
    fixtures = raw["fixtures"]
    if not isinstance(fixtures, dict) or sorted(fixtures) != sorted(FIXTURE_KINDS):
        raise UsageError(f"{label}: fixtures must have exactly 'flag' and 'pass'")
    if not all(isinstance(v, str) and v for v in fixtures.values()):
        raise UsageError(f"{label}: fixture paths must be non-empty strings")
    check = Check(cid, raw["title"].strip(), raw["severity"], raw["rationale"].strip(), raw["fix"].strip())
    return Entry(check, family, {k: base / v for k, v in fixtures.items()})


def load_catalogue(path: Path = CATALOGUE_PATH, base: Path = REPO_ROOT, cache: bool = False) -> list[Entry]:
    """Catalogue entries (validated) followed by the built-in ST.000 suppression checks (the parsed YAML
    kept in the cache when `cache`)."""
    data = parsed_yaml(read_text(path, "catalogue"), str(path), cache)
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        raise UsageError(f"{path}: expected a mapping with a 'checks' list")
    entries = [_entry(raw, n, base, path.name) for n, raw in enumerate(data["checks"])]
    seen: set[str] = set()
    for e in entries:
        if e.check.id in seen or e.family == "ST.000":
            raise UsageError(f"{path.name}: {e.check.id} is defined twice (ST.000 is built in)")
        seen.add(e.check.id)
    return [*entries, *SUPPRESSION_ENTRIES]


def select(entries: list[Entry], prefixes: list[str] | None) -> list[Entry]:
    """Entries whose id starts with one of `prefixes` (all when None/empty); unknown prefixes are errors."""
    if not prefixes:
        return list(entries)
    chosen = [e for e in entries if any(e.check.id.startswith(p) for p in prefixes)]
    unknown = [p for p in prefixes if not any(e.check.id.startswith(p) for e in entries)]
    if unknown:
        raise UsageError(f"--rules: no check matches {unknown[0]!r} (ids look like ST.001 or ST.003.e)")
    return chosen


def page_path(rule_id: str) -> str | None:
    """Repository-relative path of a rule's page (docs/rules/ST.001.a.md); None for ids without one."""
    return f"{PAGES_DIR}/{rule_id}.md" if ID_RE.match(rule_id) else None


def page_uri(rule_id: str) -> str | None:
    """Absolute URI of a rule's page: under $MPS_VERIFY_DOCS_URL (where a fork publishes mps-verify, e.g.
    https://github.com/OWNER/mps-verify/blob/v0.1.0/) when set, else in this checkout; None without one."""
    page = page_path(rule_id)
    if page is None:
        return None
    base = os.environ.get("MPS_VERIFY_DOCS_URL", "").strip()
    if base:
        return f"{base.rstrip('/')}/{page}"
    local = REPO_ROOT / page
    return local.as_uri() if local.is_file() else None     # an installed copy carries no docs
