"""ST.016 a re-entrant path that silently drops the operation: on the stream's own queue with an encoder
open, the `dispatch_get_specific` branch returns (a) or skips a wait (b) with no error."""

from __future__ import annotations

import re
from typing import Iterable

from analyzers.callpaths import if_condition
from analyzers.findings import Finding, Related
from analyzers.model import FileModel, Scope
from analyzers.rules import file_rule
from analyzers.rules.queries import anchor_of, is_gpu_wait, short_name

REENTRANT = re.compile(r"\b(dispatch_get_specific|dispatch_queue_get_specific)\b")
ENCODER_STATE = re.compile(r"(?i)encoder")
NEGATED = re.compile(r"^\s*!|==\s*(nil|nullptr|NULL)\b|(nil|nullptr|NULL)\s*==")
LOUD = frozenset({"throw", "TORCH_CHECK", "TORCH_INTERNAL_ASSERT", "AT_ERROR", "TORCH_WARN", "TORCH_WARN_ONCE",
                  "endKernelCoalescing", "endEncoding"})


def _condition(model: FileModel, compound: Scope) -> str:
    """The text of `if (...)` heading a compound statement ('' when it is no if-branch)."""
    return if_condition(model.tokens, compound.first_token - 1) or ""


def _has_else(model: FileModel, compound: Scope) -> bool:
    toks = model.tokens
    return compound.last_token + 1 < len(toks) and toks[compound.last_token + 1].text == "else"


def _texts(model: FileModel, scope: Scope) -> list[str]:
    return [t.text for t in model.tokens[scope.first_token:scope.last_token]]


@file_rule("ST.016")
def check(model: FileModel, ctx) -> Iterable[Finding]:
    """Encoder-state branches inside a re-entrancy guard that return or skip without a word."""
    for fn in model.scopes("function"):
        fname = short_name(fn.name)
        for guard in fn.walk():
            if guard.kind != "compound" or not REENTRANT.search(_condition(model, guard)):
                continue
            for branch in guard.walk():
                cond = _condition(model, branch) if branch.kind == "compound" and branch is not guard else ""
                if not ENCODER_STATE.search(cond):
                    continue
                texts = _texts(model, branch)
                if LOUD & set(texts):
                    continue
                rel = (Related(model.path, guard.line, "the re-entrant branch (already on this queue) starts here"),)
                if "return" in texts and not NEGATED.search(cond):
                    yield ctx.finding("ST.016.a", model, branch.line, branch.col,
                                      f"{fname} returns without doing its work when re-entered with an encoder open "
                                      f"({cond}): the caller on the queue gets no error and the operation never "
                                      f"happens", anchor=anchor_of(fname, "re-entrant return", cond), related=rel,
                                      scope=branch)
                elif NEGATED.search(cond) and not _has_else(model, branch) and any(is_gpu_wait(c) for c in branch.calls):
                    # a skipped commit is only deferred (the next commit sends it); a skipped wait is lost
                    skipped = next(c for c in branch.calls if is_gpu_wait(c))
                    yield ctx.finding("ST.016.b", model, branch.line, branch.col,
                                      f"{fname} skips {skipped.callee or skipped.name}() when re-entered with an "
                                      f"encoder open ({cond}, no else): the caller on the queue gets no error and "
                                      f"the operation never happens", anchor=anchor_of(fname, "re-entrant skip", cond),
                                      related=rel, scope=branch)
