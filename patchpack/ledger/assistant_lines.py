"""Claude Code's assistant lines in the form it writes them, decoded field by field (#17).

A transcript reader parses only the lines a byte search marks (`marked`). The assistant lines
among them are decoded by msgspec, only the fields that count (the message's id, model, stop
reason and usage; the line's ids, time and sidechain mark), the rest skipped: half the time of
the whole line. A block's marked lines are decoded in one call, as one text; what does not
fit the types here (a count that is not a whole number below 10**15, an id that is not a
string), or anything else out of the ordinary, makes the reader read line by line instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

from patchpack.ledger.entries import MAX_COUNT
from patchpack.ledger.usage import MAX_DEPTH

COUNTS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
USAGE, AGENT, ESCAPE = b'"usage"', b'"agentId"', b"\\u00"
_PRINTABLE_ESCAPE = (b"2", b"3", b"4", b"5", b"6", b"7")  # "\u0020" to "\u007f"
_UNUSUAL = (b"subagent_type", ESCAPE)  # a Task call, an escaped character: read whole
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[{\n")))


@functools.cache
def decoder() -> tuple[Callable[[bytes], Any], Callable[[bytes], list[Any]], tuple[type[Exception], ...]]:
    """msgspec's decoders of one line and of lines, and what they raise on a line that is
    not of these types. Made on first use: msgspec takes longer to load than a hook's few
    lines to read."""
    import msgspec

    count = Annotated[int, msgspec.Meta(ge=0, lt=MAX_COUNT)]
    # defstruct: the types are objects here, not the strings annotations are in this module.
    usage = msgspec.defstruct("Usage", [(name, count, 0) for name in COUNTS], gc=False)
    message = msgspec.defstruct(
        "Message",
        [
            ("id", str | None, None),
            ("model", Any, None),
            ("stop_reason", Any, None),
            ("usage", usage | None, None),
        ],
        gc=False,
    )
    line = msgspec.defstruct(
        "Line",
        [
            ("type", Any, None),
            ("message", message | None, None),
            ("requestId", str | None, None),
            *((name, Any, None) for name in ("isSidechain", "agentId", "sessionId", "timestamp")),
        ],
        gc=False,
    )
    decode = msgspec.json.Decoder(line)
    # RecursionError: nesting deeper than msgspec follows, in a field it skips.
    return decode.decode, decode.decode_lines, (msgspec.DecodeError, RecursionError)


def marked(block: bytes, stop: int) -> list[tuple[int, int]]:
    """Where the complete lines of ``block[:stop]`` that may hold usage or name a subagent
    start and end, found by searching the bytes. A line holds usage only under the key
    ``"usage"``, written so or with escaped letters (``\\u0075``): a line with an escape of
    a printable character is marked too, whatever it holds."""
    find = block.find
    usage, agent = find(USAGE, 0, stop), find(AGENT, 0, stop)
    escape = find(ESCAPE, 0, stop) if find(b"\\", 0, stop) >= 0 else -1
    spans: list[tuple[int, int]] = []
    while True:
        at = usage
        if agent >= 0 and (at < 0 or agent < at):
            at = agent
        if escape >= 0 and (at < 0 or escape < at):
            if block[escape + 4 : escape + 5] not in _PRINTABLE_ESCAPE:
                escape = find(ESCAPE, escape + 1, stop)  # "\\u001b": a colour, no key
                continue
            at = escape
        if at < 0:
            return spans
        line_start = block.rfind(b"\n", 0, at) + 1
        line_end = find(b"\n", at) + 1  # within ``stop``: it ends a line
        spans.append((line_start, line_end))
        if 0 <= usage < line_end:
            usage = find(USAGE, line_end, stop)
        if 0 <= agent < line_end:
            agent = find(AGENT, line_end, stop)
        if 0 <= escape < line_end:
            escape = find(ESCAPE, line_end, stop)


def regular(line: bytes) -> Any:
    """``line`` decoded, if it may be an assistant line in Claude Code's form; else None,
    and the whole-line reader reads it."""
    if not line.isascii():
        try:
            line.decode("utf-8")  # msgspec does not check the text of what it skips
        except UnicodeDecodeError:
            return None
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH or any(m in line for m in _UNUSUAL):
        return None
    decode, _, refused = decoder()
    try:
        return decode(line)
    except refused:
        return None


def regular_lines(block: bytes, spans: list[tuple[int, int]]) -> list[Any] | None:
    """The lines of ``block`` at ``spans`` decoded in one call, each as `regular` decodes it
    (None: to be read whole); None for all when one of them would not decode."""
    lines = [block[start:end] for start, end in spans]
    text = b"".join(lines)
    if not text.isascii():
        try:
            text.decode("utf-8")  # the whole is UTF-8 only when each line is
        except UnicodeDecodeError:
            return None
    # The brackets of each line, the other bytes deleted: past MAX_DEPTH on a line, the lines
    # are read one by one, and that one whole, where its depth is measured.
    if max(map(len, text.translate(None, _NOT_BRACKETS).split(b"\n"))) > MAX_DEPTH:
        return None
    _, decode_lines, refused = decoder()
    try:
        parsed: list[Any] = decode_lines(text)
    except refused:
        return None
    if len(parsed) != len(lines):  # a line of blanks only: not one a search marks
        return None
    if b"subagent_type" in text or (b"\\" in text and ESCAPE in text):  # one search, mostly
        for i, line in enumerate(lines):
            if any(m in line for m in _UNUSUAL):
                parsed[i] = None
    return parsed
