"""TLC's `-tool` output as a tree of coded messages plus the plain lines between them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

# Markers count only at the start of a line, so a spec's Print output (always a quoted or structured
# value, printed mid-run) cannot forge a message. One exception seen in TLC: inside an open 1000
# ("unexpected exception"), a nested start marker follows ": " after "The exception was a ...\n".
_MARKER = re.compile(r"(?:^|(?<=\n))(: )?(?:@!@!@STARTMSG (\d+):(\d+) @!@!@\n?|@!@!@ENDMSG (\d+) @!@!@\n?)")
_WRAPPER = 1000

INFO, ERROR, WARNING, STATE = 0, 1, 3, 4


@dataclass
class Message:
    """One `@!@!@STARTMSG code:class` ... `ENDMSG code` block; nested messages are its children."""

    code: int
    cls: int
    text: str = ""                              # own text, children's text excluded
    children: list[Message] = field(default_factory=list)
    closed: bool = True                         # False when the output stopped inside it (killed run)

    def walk(self) -> Iterator[Message]:
        """This message and all nested ones, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def full_text(self) -> str:
        """Own text followed by the children's text (what a person would read)."""
        parts = [self.text.strip()] + [c.full_text() for c in self.children]
        return "\n".join(p for p in parts if p)


@dataclass
class ToolOutput:
    """Parsed `-tool` output: top-level messages in order and lines outside any message."""

    messages: list[Message]
    plain: list[str]                            # SANY's report, Print output, JVM errors

    def walk(self) -> Iterator[Message]:
        """Every message, nested ones included, in output order."""
        for message in self.messages:
            yield from message.walk()

    def codes(self) -> set[int]:
        """The set of message codes that occur anywhere."""
        return {m.code for m in self.walk()}

    def find(self, *codes: int) -> list[Message]:
        """All messages (nested included) with one of `codes`, in output order."""
        return [m for m in self.walk() if m.code in codes]

    def last(self, *codes: int) -> Message | None:
        """The last message with one of `codes`, or None."""
        found = self.find(*codes)
        return found[-1] if found else None

    def contains(self, needle: str) -> bool:
        """Whether `needle` occurs in any message text or plain line."""
        return any(needle in m.text for m in self.walk()) or any(needle in line for line in self.plain)


def parse(text: str) -> ToolOutput:
    """Parse `-tool` output with a stack: nested messages, mid-line markers, unclosed tails."""
    top: list[Message] = []
    plain: list[str] = []
    stack: list[Message] = []

    def add_text(chunk: str) -> None:
        if not chunk:
            return
        if stack:
            stack[-1].text += chunk
        else:
            plain.extend(line for line in chunk.splitlines() if line.strip())

    pos = 0
    for marker in _MARKER.finditer(text):
        if marker.group(1) and not (stack and stack[-1].code == _WRAPPER and marker.group(2)):
            continue                                # ": marker" outside a 1000: ordinary text
        add_text(text[pos:marker.start()] + (marker.group(1) or ""))
        pos = marker.end()
        if marker.group(2) is not None:
            message = Message(code=int(marker.group(2)), cls=int(marker.group(3)))
            (stack[-1].children if stack else top).append(message)
            stack.append(message)
            continue
        code = int(marker.group(4))
        # close up to the matching start; an END without a START is ignored
        if any(m.code == code for m in stack):
            while stack:
                closed = stack.pop()
                if closed.code == code:
                    break
                closed.closed = False
    add_text(text[pos:])
    for message in stack:
        message.closed = False
    for message in (m for root in top for m in root.walk()):
        message.text = message.text.rstrip("\n")
    return ToolOutput(messages=top, plain=plain)
