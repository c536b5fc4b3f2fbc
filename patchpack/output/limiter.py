"""The summary of a command's output: the first H lines as they come, the last N-H from a ring
buffer, marker lines from the middle, every line cut to ``max_line_chars``, and the tokens of
what was printed against the whole.

Blocks of complete lines are handled with bytes methods (split, count, ``in``) rather than a
Python loop per line: that is what keeps 80 MB of output within 1.5x the time of ``tail``.
"""

from __future__ import annotations

import builtins
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import BinaryIO, NamedTuple

from patchpack.errors import BadInput, PatchpackError
from patchpack.output import runlog
from patchpack.tokens import Counter, count_file, count_text

OUT, ERR = 1, 2
NO_NEWLINE = 4  # added to a stream tag: the stream ended without a final newline
CHUNK = 1 << 20
# Lines printed when a command fails are chosen from the omitted middle by these markers.
MARKERS = (b"FAILED", b"Error", b"error:", b"Traceback", b"assert")
_MARKER = re.compile(rb"FAILED|Error|error:|Traceback|assert")
ESTIMATE_BYTES_PER_TOKEN = 4
# An output up to this size is counted whole and exactly (~10 MB/s with cl100k_base, so at
# most ~0.2 s, about what starting patchpack and loading the tokenizer cost); a longer one
# is counted where it was printed and estimated where it was not, from a sample (see
# runlog.tokens_per_byte, ~20 ms), so counting costs at most ~0.2 s beyond loading the
# tokenizer (~0.1 s), however long the output.
EXACT_BYTES = 2 << 20
COUNT_PIECE = 1 << 16  # tiktoken's list of ints for 64 KB of text is ~0.6 MB, not ~10 MB


@dataclass(frozen=True)
class Limits:
    lines: int = 200
    """Most lines printed (markers aside)."""
    head: int = 50
    """Of which the first lines of the output; the rest are its last lines."""
    max_line_chars: int = 400

    @classmethod
    def make(cls, *, lines: int, head: int | None, max_line_chars: int) -> Limits:
        """Limits with head defaulting to a quarter of lines; BadInput when they do not fit."""
        head = lines // 4 if head is None else head
        if lines < 1 or max_line_chars < 1 or not 0 <= head <= lines:
            raise BadInput(
                f"bad output limits: {lines} lines, {head} of them head, {max_line_chars} chars a line",
                hint="use --lines N >= 1, --head H <= N, --max-line-chars C >= 1",
            )
        return cls(lines, head, max_line_chars)


class FullCount(NamedTuple):
    """Tokens of a command's full output, and whether the part not printed was estimated."""

    tokens: int
    counter: str
    estimated: bool


@dataclass(frozen=True)
class Tokens:
    """Tokens of the full output and of what was printed, by one counter.

    ``printed`` is always exact. ``full`` is exact for an output up to EXACT_BYTES; beyond
    that it is the exact count of the lines printed plus an estimate of the rest, and
    ``estimated`` says so.
    """

    full: int
    printed: int
    counter: str
    estimated: bool = False

    @property
    def not_printed(self) -> int:
        """What printing only the summary kept out; never negative (markers and cut-line
        notes can make the printed text longer than a short output)."""
        return max(0, self.full - self.printed)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    log: Path
    exit_code: int
    lines: int
    bytes: int
    printed_lines: int
    omitted_lines: int
    timed_out: bool = False
    interrupted_by: int | None = None
    """The signal patchpack received and passed to the command (SIGINT for Ctrl-C)."""
    tokens: Tokens | None = None
    tokens_error: PatchpackError | None = None
    """Why tokens were asked for but not counted (the counter could not load)."""
    reader_gone: bool = False
    """The reader of patchpack's output went away (`| head`): the command was stopped."""
    printed: builtins.bytes = b""  # builtins: the field `bytes` hides the type
    """What patchpack printed, when tokens were counted (`gain` weighs the agents' views)."""


# -- printing ---------------------------------------------------------------------------------


class Output:
    """Writes lines to the stream they came from, flushing at each switch so `2>&1` keeps order."""

    def __init__(self, out: BinaryIO, err: BinaryIO, *, remember: bool = True) -> None:
        self._streams = {OUT: out, ERR: err}
        self._current = OUT
        self._remember = remember
        self.printed: list[bytes] = []
        self.lines = 0
        self.bytes = 0
        self.broken = False
        """A stream's reader went away: nothing more is printed, and the command is stopped."""

    def lines_of(self, tag: int, lines: Sequence[bytes]) -> None:
        """Print ``lines`` (without their newlines) to stream ``tag``."""
        if lines:
            end = b"" if tag & NO_NEWLINE else b"\n"
            self.lines += len(lines)
            self.write(tag & 3, b"\n".join(lines) + end)

    def write(self, stream: int, data: bytes) -> None:
        self.bytes += len(data)
        if self._remember:
            self.printed.append(data)
        if self.broken:
            return
        try:
            if stream != self._current:
                self._streams[self._current].flush()
                self._current = stream
            self._streams[stream].write(data)
        except BrokenPipeError:  # the reader went away (`| head`): print nothing more
            self.broken = True

    def flush(self) -> None:
        try:
            self._streams[self._current].flush()
        except BrokenPipeError:
            self.broken = True

    def watched(self) -> list[int]:
        """The file descriptor of stdout, when it has one: its reader can go away while
        nothing is printed (after the head), and poll says so (POLLERR on a pipe)."""
        try:
            return [self._streams[OUT].fileno()]
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            return []


def cut(prefix: bytes, length: int, max_chars: int) -> bytes:
    """A line whose first bytes are ``prefix`` and which is ``length`` bytes long, cut at
    ``max_chars`` characters with a marker saying so; short lines come back unchanged."""
    text = prefix.decode("utf-8", "surrogateescape")
    if len(text) <= max_chars and length == len(prefix):
        return prefix
    kept = text[:max_chars].encode("utf-8", "surrogateescape")
    return kept + f" [... line cut at {max_chars} chars, {length:,} bytes in all]".encode()


# -- the limiter ------------------------------------------------------------------------------


@dataclass
class _Partial:
    """The unfinished last line of one stream."""

    buf: bytearray = field(default_factory=bytearray)  # not yet written to the log
    spilled: int = 0  # bytes of this line already written to the log
    prefix: bytes | None = None  # its first bytes, once it was too long to hold


class Limiter:
    """Prints the head, keeps the tail in a ring buffer, writes everything to the log, and at
    the end prints the marker, failure lines of the middle (found in the log) and the tail."""

    def __init__(self, limits: Limits, output: Output, log: runlog.Log | None) -> None:
        self.limits = limits
        self._out = output
        self._log = log
        self._head_left = limits.head
        self._ring: deque[tuple[int, bytes]] = deque(maxlen=limits.lines - limits.head)
        self._failures_max = (limits.lines - limits.head) // 2
        self._cap = 4 * limits.max_line_chars + 4  # bytes enough for max_line_chars characters
        self._spill_at = max(1 << 16, self._cap)
        self._partial = {OUT: _Partial(), ERR: _Partial()}
        self._cut: runlog.Cut | None = None  # where the log was cut, once it has ended
        self.lines = 0
        self.bytes = 0

    def feed(self, tag: int, data: bytes) -> None:
        """Take bytes that stream ``tag`` printed."""
        self.bytes += len(data)
        last = data.rfind(b"\n")
        p = self._partial[tag]
        if last < 0:
            self._grow(p, data)
            return
        start = 0
        if p.buf or p.spilled:  # the first newline ends a line begun in an earlier read
            start = data.find(b"\n") + 1
            self._end_partial(tag, p, data[: start - 1])
        if last >= start:
            self._block(tag, data[start : last + 1])
        if last + 1 < len(data):
            self._grow(p, data[last + 1 :])
        if self._log is not None:
            self._log.flush()  # `--show` from another shell sees the lines so far

    def close(self, tag: int) -> None:
        """Stream ``tag`` ended; a last line without a newline is still a line."""
        p = self._partial[tag]
        if p.buf or p.spilled:
            self._end_partial(tag | NO_NEWLINE, p, b"")

    def _write_log(self, data: bytes | bytearray, newlines: int = 0) -> None:
        if self._log is not None and data:
            self._log.write(data, newlines)

    def _grow(self, p: _Partial, piece: bytes) -> None:
        if p.prefix is None and len(p.buf) + len(piece) <= self._spill_at:
            p.buf += piece
            return
        # A line too long to hold: keep its first bytes, send the rest to the log now.
        if p.prefix is None:
            p.prefix = bytes(p.buf + piece[: self._cap])[: self._cap]
        self._write_log(p.buf)
        self._write_log(piece)
        p.spilled += len(p.buf) + len(piece)
        p.buf.clear()

    def _end_partial(self, tag: int, p: _Partial, rest: bytes) -> None:
        self._write_log(p.buf)
        self._write_log(rest + (b"" if tag & NO_NEWLINE else b"\n"), int(not tag & NO_NEWLINE))
        length = p.spilled + len(p.buf) + len(rest)
        prefix = p.prefix if p.prefix is not None else bytes(p.buf) + rest[: self._cap]
        p.buf, p.spilled, p.prefix = bytearray(), 0, None
        line = cut(prefix[: self._cap], length, self.limits.max_line_chars)
        self._add(tag, [line])

    def _block(self, tag: int, block: bytes) -> None:
        lines = block.split(b"\n")
        lines.pop()  # the block ends with a newline
        self._write_log(block, len(lines))
        limit = self.limits.max_line_chars
        if max(map(len, lines)) > limit:  # bytes, so only a hint that some line is too long
            lines = [ln if len(ln) <= limit else cut(ln[: self._cap], len(ln), limit) for ln in lines]
        self._add(tag, lines)

    def _add(self, tag: int, lines: list[bytes]) -> None:
        if self._head_left:
            head, lines = lines[: self._head_left], lines[self._head_left :]
            self._out.lines_of(tag, head)
            self._head_left -= len(head)
            self.lines += len(head)
            self._out.flush()  # the head is shown as it comes, even into a pipe
        self.lines += len(lines)
        keep = self._ring.maxlen or 0
        if keep:
            self._ring.extend(zip(repeat(tag), lines[-keep:]))

    def finish(
        self,
        *,
        failed: bool,
        run_id: str,
        log: Path,
        counter: Counter | None = None,
        exact_bytes: int = EXACT_BYTES,
        cut: runlog.Cut | None = None,
    ) -> tuple[int, FullCount | None]:
        """Print the marker, the failure lines (when ``failed``) and the tail; return the number
        of lines omitted and, with a ``counter``, the tokens of the full output (given in the
        marker too; without a counter the marker gives a declared estimate). Line numbers
        are the log's: with a ``cut`` log, those after its note moved up."""
        self._cut = cut
        for tag in (OUT, ERR):
            self.close(tag)
        ring = list(self._ring)
        first_in_ring = self.lines - len(ring) + 1
        omitted = first_in_ring - 1 - self.limits.head
        picks = self._pick_failures(ring, first_in_ring, log) if failed and omitted > 0 else []
        ring = ring[len(picks) :]
        not_printed = max(0, self.bytes - self._out.bytes - sum(len(ln) + 1 for _, ln in picks + ring))
        full = None if counter is None else self._count(counter, log, picks, ring, not_printed, exact_bytes)
        if omitted <= 0:
            for tag, line in ring:
                self._out.lines_of(tag, [line])
            self._out.flush()
            return 0, full
        omitted = self.lines - self.limits.head - len(ring) - len(picks)
        start, end = self._line(self.limits.head + 1), self._line(self.lines - len(ring))
        if full is not None:
            size = (
                f"{_size(not_printed)}; the full output is "
                f"{'~' if full.estimated else ''}{full.tokens:,} tokens by {full.counter}"
            )
            if full.estimated:
                size += ", estimated from a sample of the omitted lines"
        else:
            size = (
                f"{_size(not_printed)}, ~{not_printed // ESTIMATE_BYTES_PER_TOKEN:,} tokens "
                f"estimated at {ESTIMATE_BYTES_PER_TOKEN} bytes a token"
            )
        marker = (
            f"... {omitted:,} lines omitted ({size}); see them with "
            f"`patchpack run --show {run_id} --at {start}-{end}` (log: {_shown(log)}"
            + ("" if cut is None else f"; {cut.lines:,} of them not kept in it, over patchpack.runLogMax")
            + ") ..."
        )
        if picks:
            lines = "line" if len(picks) == 1 else "lines"
            marker += f"\n... {len(picks)} failure {lines} from them, numbered as in the log: ..."
        self._out.write(OUT, marker.encode() + b"\n")
        self._out.lines_of(OUT, [b"[%d] %s" % (number, line) for number, line in picks])
        if picks:
            self._out.write(OUT, f"... the last {len(ring):,} lines: ...\n".encode())
        for tag, line in ring:
            self._out.lines_of(tag, [line])
        self._out.flush()
        return omitted, full

    def _count(
        self,
        counter: Counter,
        log: Path,
        picks: list[tuple[int, bytes]],
        tail: list[tuple[int, bytes]],
        not_printed: int,
        exact_bytes: int,
    ) -> FullCount:
        """Tokens of the full output: the whole log when it is small; else the lines printed,
        exactly, plus the bytes not printed at the tokens per byte of a sample of them."""
        if self.bytes <= exact_bytes and self._cut is None:
            return FullCount(count_file(counter, log, piece=COUNT_PIECE), counter.name, False)
        printed = b"".join(self._out.printed) + b"".join(ln + b"\n" for _, ln in picks + tail)
        # The omitted middle lies between the head and the tail in the log (the lines picked
        # from it are too few to matter); cut lines shift both ends a little, into text that
        # was not printed either.
        start = self._out.bytes
        end = self.bytes - sum(len(ln) + 1 for _, ln in tail)
        if end - start < runlog.SAMPLE_WINDOW or self._cut is not None:
            start, end = 0, log.stat().st_size  # what a cut log kept is a sample too
        rate = runlog.tokens_per_byte(counter, log, start, end)
        return FullCount(count_text(printed, counter) + round(not_printed * rate), counter.name, True)

    def _pick_failures(
        self,
        ring: list[tuple[int, bytes]],
        first_in_ring: int,
        log: Path,
    ) -> list[tuple[int, bytes]]:
        """Failure lines of the middle that take the place of as many tail lines.

        The tail gives up its first k lines for k failure lines; those given-up lines are
        middle too, so failure lines among them are candidates as well.
        """
        middle = self._failures_in_log(log, self._line(first_in_ring - 1))
        k = 0
        while True:
            candidates = middle + [
                (self._line(first_in_ring + i), line)
                for i, (_, line) in enumerate(ring[:k])
                if any(m in line for m in MARKERS)
            ]
            wanted = min(self._failures_max, len(candidates))
            if wanted <= k:
                return candidates[:k]
            k = wanted

    def _line(self, number: int) -> int:
        return number if self._cut is None else self._cut.line(number)

    def _failures_in_log(self, path: Path, last: int) -> list[tuple[int, bytes]]:
        """The first failure lines after the head and up to line ``last`` of the log.

        Looked for in the log, once the command has failed, rather than in every block as it
        arrives: five searches through 80 MB cost 0.2 s that a passing command should not pay.
        """
        found: list[tuple[int, bytes]] = []
        number, carry, carry_len = 1, b"", 0  # the first line of `data`; the line begun before
        with path.open("rb") as f:
            while len(found) < self._failures_max and number <= last and (chunk := f.read(CHUNK)):
                nl = chunk.rfind(b"\n")
                if nl < 0:
                    carry += chunk[: max(0, self._cap - len(carry))]
                    carry_len += len(chunk)
                    continue
                data = carry + chunk[: nl + 1]
                extra = carry_len - len(carry)  # bytes of the first line left out of data
                if any(m in data for m in MARKERS):
                    found += self._failures_in(data, number, extra, last, len(found))
                number += data.count(b"\n")
                carry, carry_len = chunk[nl + 1 : nl + 1 + self._cap], len(chunk) - nl - 1
        return found

    def _failures_in(
        self,
        data: bytes,
        number: int,
        extra: int,
        last: int,
        have: int,
    ) -> list[tuple[int, bytes]]:
        found: list[tuple[int, bytes]] = []
        pos, seen = 0, self.limits.head
        for m in _MARKER.finditer(data):
            start = data.rfind(b"\n", 0, m.start()) + 1
            number += data.count(b"\n", pos, start)
            pos = start
            if number > last or have + len(found) >= self._failures_max:
                break
            if number > seen:
                end = data.find(b"\n", start)
                length = end - start + (extra if start == 0 else 0)
                found.append(
                    (
                        number,
                        cut(data[start : min(end, start + self._cap)], length, self.limits.max_line_chars),
                    )
                )
                seen = number
        return found


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _shown(path: Path) -> str:
    """The path relative to the current directory when it is below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
