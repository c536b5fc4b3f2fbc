"""Claude Code's transcripts: the usage of each API response, counted once (#17).

A transcript (``<config dir>/projects/<project>/<session>.jsonl``, subagents' in files of
their own) holds one JSON object a line. One API response is written as several assistant
lines, one per content block, each repeating ``message.usage`` as it stood when the line was
written: ``output_tokens`` grows up to the last line, the other figures stay. So each
``(message.id, requestId)`` counts once, across all files, with the largest figures any of
its lines holds. A response with no stop reason and no line after it may still be streaming:
it is left for the next read (and the next read starts no later than its first line).
Sidechain lines belong to a subagent, named by the ``subagent_type`` of the Task call that
started it.
"""

from __future__ import annotations

import functools
import gc
import json
import os
import signal
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson

from patchpack.ledger.assistant_lines import COUNTS, decoder, marked, regular, regular_lines
from patchpack.ledger.entries import MAX_COUNT
from patchpack.ledger.usage import (
    MAIN_AGENT,
    MAX_DEPTH,
    MAX_LINE,
    Problem,
    Read,
    Usage,
    _count,
    _name,
    _timestamp,
)
from patchpack.safejson import loads

_BLOCK = 1 << 22
PARALLEL_BYTES = 64 << 20
"""Past this much to read in several files, a pool of processes reads them (one a CPU)."""
FAST_BYTES = 1 << 20
"""From this much to read in a file, its assistant lines are decoded field by field, a
block's in one call (`assistant_lines`)."""
_WORKERS = 4


class _Reader:
    def __init__(self, fast: bool = False) -> None:
        self.fast = fast  # assistant lines decoded field by field first (`assistant_lines`)
        # key -> [input, output, cache read, cache write, model, session, ts, agentId or None
        # for the main thread, settled]
        self.found: dict[str, list[Any]] = {}
        self.nameless: list[list[Any]] = []  # responses nothing names: never deduplicated
        self.problems: list[Problem] = []
        self.agent_of_call: dict[str, str] = {}  # Task tool_use id -> subagent_type
        self.call_of_agent: dict[str, str] = {}  # agentId -> Task tool_use id

    def file(self, path: Path, start: int) -> tuple[int, dict[str, int]]:
        """Read ``path`` from byte ``start``: where its last complete line ends, and the
        responses left open in it (by where their first line starts)."""
        open_keys: dict[str, int] = {}  # responses of this file not settled: first line
        bad: list[tuple[int, str]] = []  # (where the line starts, why): numbered at the end
        end = start
        with open(path, "rb") as f:
            if start > os.fstat(f.fileno()).st_size:
                start = end = 0  # the file was cut or replaced: read it again
            f.seek(start)
            for base, block, stop in _blocks(f, start, bad):
                self.block(block, stop, base, open_keys, bad)
                end = base + stop
        if bad:
            self.problems += _numbered(path, bad)
        return end, open_keys

    def merge(self, part: _Part) -> int:
        """Add what one file held, read by a reader of its own, as if this reader had read
        it after the files before; where the next read of that file may start (-1: none)."""
        found = self.found
        # A response settled in an earlier file is not held open by this one.
        ended = {k for k in part.open_keys if k in found and found[k][8]}
        for key, fields in part.found.items():
            held = found.get(key)
            if held is None:
                found[key] = fields
                continue
            for i in range(4):
                if fields[i] > held[i]:
                    held[i] = fields[i]
            if fields[8]:
                held[8] = True
        self.nameless += part.nameless
        self.problems += part.problems
        self.agent_of_call.update(part.agent_of_call)
        self.call_of_agent.update(part.call_of_agent)
        if part.end < 0:
            return -1
        return min([part.end, *(v for k, v in part.open_keys.items() if k not in ended)])

    def block(
        self, block: bytes, stop: int, base: int, open_keys: dict[str, int], bad: list[tuple[int, str]]
    ) -> None:
        """The complete lines of ``block[:stop]``: only those that may hold usage or name a
        subagent are parsed (`assistant_lines.marked`); in a file read fast, a block's
        assistant lines are decoded in one call, field by field."""
        spans = marked(block, stop)
        parsed = regular_lines(block, spans) if self.fast and spans else None
        find = block.find
        done = 0  # where the lines not yet looked at start
        for i, (line_start, line_end) in enumerate(spans):
            if open_keys and done < line_start and find(b'"type":"user"', done, line_start) >= 0:
                self.settle(open_keys)  # a user's line came in between: what was open ended
            done = line_end
            if parsed is None:
                self.line(block[line_start:line_end], base + line_start, open_keys, bad)
            elif parsed[i] is None or not self.regular(parsed[i], base + line_start, open_keys):
                self.whole(block[line_start:line_end], base + line_start, open_keys, bad)
        if open_keys and find(b'"type":"user"', done, stop) >= 0:
            self.settle(open_keys)

    def settle(self, open_keys: dict[str, int], keep: str | None = None) -> None:
        for key in [k for k in open_keys if k != keep]:
            self.found[key][8] = True
            del open_keys[key]

    def line(
        self, line: bytes, line_start: int, open_keys: dict[str, int], bad: list[tuple[int, str]]
    ) -> None:
        if self.fast:
            parsed = regular(line)
            if parsed is not None and self.regular(parsed, line_start, open_keys):
                return
        self.whole(line, line_start, open_keys, bad)

    def whole(
        self, line: bytes, line_start: int, open_keys: dict[str, int], bad: list[tuple[int, str]]
    ) -> None:
        try:
            try:
                # orjson is stricter than json: what it refuses (a lone surrogate's escape,
                # NaN, a byte order mark) is read by json as before, or reported the same way.
                if line.count(b"[") + line.count(b"{") > MAX_DEPTH:
                    raise ValueError("deep: measured by safejson")
                raw = orjson.loads(line)
            except ValueError:
                text = line.rstrip(b"\r\n").decode("utf-8")
                # Nesting is measured only when the brackets could reach the limit (safejson).
                raw = (
                    json.loads(text)
                    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH
                    else loads(text, max_depth=MAX_DEPTH)
                )
            if type(raw) is not dict:
                raise ValueError("not a JSON object")
            kind = raw.get("type")
            if kind == "user":
                self.settle(open_keys)
                self.link(raw)
            elif kind == "assistant":
                self.assistant(raw, line_start, open_keys)
        except UnicodeDecodeError:
            bad.append((line_start, "not UTF-8"))
        except ValueError as e:
            bad.append((line_start, str(e) or "not JSON"))

    def regular(self, parsed: Any, line_start: int, open_keys: dict[str, int]) -> bool:
        """Take a line `assistant_lines` decoded, if it is an assistant's line with usage;
        False for any other (a user's, one that may start a subagent), which the whole-line
        reader then reads."""
        message = parsed.message
        if parsed.type != "assistant" or message is None or message.usage is None or message.id is None:
            return False
        usage, message_id, request_id = message.usage, message.id, parsed.requestId
        key = f"claude-code:{message_id}:{request_id or ''}" if message_id else ""
        self.response(
            key,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_input_tokens,
            usage.cache_creation_input_tokens,
            message.stop_reason is not None,
            parsed,
            message.model,
            line_start,
            open_keys,
        )
        return True

    def assistant(self, raw: dict[str, Any], line_start: int, open_keys: dict[str, int]) -> None:
        # Written out field by field: this runs for every assistant line (#17, the import's
        # speed), and two lines in three only raise a response's figures.
        message = raw.get("message")
        if type(message) is not dict:
            raise ValueError("an assistant line without a message object")
        content = message.get("content")
        if type(content) is list:
            self.calls(content)
        usage = message.get("usage")
        if usage is None:
            return
        if type(usage) is not dict:
            raise ValueError("message.usage is not an object")
        get = usage.get
        fresh, out = get("input_tokens", 0), get("output_tokens", 0)
        read, write = get("cache_read_input_tokens", 0), get("cache_creation_input_tokens", 0)
        if not (
            type(fresh) is int
            and type(out) is int
            and type(read) is int
            and type(write) is int
            and 0 <= fresh < MAX_COUNT
            and 0 <= out < MAX_COUNT
            and 0 <= read < MAX_COUNT
            and 0 <= write < MAX_COUNT
        ):
            # null is 0; anything else says why
            fresh, out, read, write = (_count(usage, name) for name in COUNTS)
        message_id, request_id = message.get("id"), raw.get("requestId")
        if message_id is not None and type(message_id) is not str:
            raise ValueError("message.id is not a string")
        if request_id is not None and type(request_id) is not str:
            raise ValueError("requestId is not a string")
        key = f"claude-code:{message_id}:{request_id or ''}" if message_id else ""
        self.response(
            key,
            fresh,
            out,
            read,
            write,
            message.get("stop_reason") is not None,
            raw,
            message.get("model"),
            line_start,
            open_keys,
        )

    def response(
        self,
        key: str,
        fresh: int,
        out: int,
        read: int,
        write: int,
        stopped: bool,
        line: Any,
        model: object,
        line_start: int,
        open_keys: dict[str, int],
    ) -> None:
        """One assistant line's figures, checked; ``line`` gives its other fields
        (``agentId``, ``isSidechain``, ``sessionId``, ``timestamp``) by ``.get`` or as
        attributes, read only for a response's first line."""
        held = self.found.get(key)
        if held is not None:  # a later line of a response: only its figures can have grown
            if fresh > held[0]:
                held[0] = fresh
            if out > held[1]:
                held[1] = out
            if read > held[2]:
                held[2] = read
            if write > held[3]:
                held[3] = write
            if stopped:
                held[8] = True
        else:
            get = line.get if type(line) is dict else functools.partial(getattr, line)
            agent = _name(get("agentId")) or "" if get("isSidechain") is True else None
            held = [
                fresh,
                out,
                read,
                write,
                _name(model),
                _name(get("sessionId")),
                _timestamp(get("timestamp")),
                agent,
                stopped,
            ]
            if not key:
                self.nameless.append(held)
                return
            self.found[key] = held
        if open_keys and not (len(open_keys) == 1 and key in open_keys):
            self.settle(open_keys, keep=key)
        if held[8]:
            open_keys.pop(key, None)
        else:
            open_keys.setdefault(key, line_start)

    def calls(self, content: list[Any]) -> None:
        for block in content:
            if type(block) is dict and block.get("type") == "tool_use":
                kind = _name(
                    (block.get("input") or {}).get("subagent_type")
                    if type(block.get("input")) is dict
                    else None
                )
                ident = _name(block.get("id"))
                if kind and ident:
                    self.agent_of_call[ident] = kind

    def link(self, raw: dict[str, Any]) -> None:
        result, message = raw.get("toolUseResult"), raw.get("message")
        agent = _name(result.get("agentId")) if type(result) is dict else None
        content = message.get("content") if type(message) is dict else None
        if agent is None or type(content) is not list:
            return
        for block in content:
            call = _name(block.get("tool_use_id")) if type(block) is dict else None
            if call:
                self.call_of_agent[agent] = call

    def result(self, offsets: dict[str, int]) -> Read:
        settled = [_usage(key, fields, self) for key, fields in self.found.items() if fields[8]]
        unfinished = len(self.found) - len(settled)
        nameless = [_usage(None, fields, self) for fields in self.nameless]
        return Read(settled + nameless, self.problems, unfinished, offsets)

    def agent(self, agent_id: str | None) -> str:
        if agent_id is None:
            return MAIN_AGENT
        kind = self.agent_of_call.get(self.call_of_agent.get(agent_id, ""))
        return f"{MAIN_AGENT}:{kind or 'subagent'}"


def _usage(key: str | None, fields: list[Any], reader: _Reader) -> Usage:
    fresh, out, cache_read, cache_write, model, session, ts, agent_id, _ = fields
    return Usage(
        key,
        fresh + cache_read + cache_write,
        out,
        cache_read,
        cache_write,
        model,
        session,
        reader.agent(agent_id),
        ts,
    )


def _blocks(f: BinaryIO, start: int, bad: list[tuple[int, str]]) -> Iterator[tuple[int, bytes, int]]:
    """(where it starts in the file, a block, where its last complete line ends) from
    ``start``; a last line without its end is being written: not yet. A line longer than
    ``MAX_LINE`` is reported and passed over, never held whole."""
    base, carried, held = start, b"", 0
    parts: list[bytes] = []
    skipping = False
    while chunk := f.read(_BLOCK):
        if skipping:  # the rest of a line too long to read
            cut = chunk.find(b"\n") + 1
            base += cut or len(chunk)
            if not cut:
                continue
            skipping, chunk = False, chunk[cut:]
        cut = chunk.rfind(b"\n") + 1
        if not cut:  # no line ends in it: keep it, unless the line is too long already
            parts.append(chunk)
            held += len(chunk)
            if len(carried) + held > MAX_LINE:
                bad.append((base, f"longer than {MAX_LINE:,} bytes"))
                base += len(carried) + held
                carried, parts, held, skipping = b"", [], 0, True
            continue
        block = b"".join([carried, *parts, chunk])
        parts, held = [], 0
        stop = len(block) - (len(chunk) - cut)
        first = block.find(b"\n") + 1
        if first > MAX_LINE + 1:  # the first line is too long: report it, read past it
            bad.append((base, f"longer than {MAX_LINE:,} bytes"))
            block, stop, base = block[first:], stop - first, base + first
        yield base, block, stop
        base += stop
        carried = block[stop:]


def _numbered(path: Path, bad: list[tuple[int, str]]) -> list[Problem]:
    """Problems named by their line number: newlines counted up to each line, only when
    there is something to report (an import of clean transcripts never counts them)."""
    out, number, done = [], 1, 0
    with open(path, "rb") as f:
        for where, reason in sorted(bad):
            while done < where:
                chunk = f.read(min(_BLOCK, where - done))
                if not chunk:
                    break
                number += chunk.count(b"\n")
                done += len(chunk)
            out.append(Problem(str(path), number, reason))
    return out


class _Part(NamedTuple):
    """What one file held, read on its own (in a worker process, when there are many)."""

    found: dict[str, list[Any]]
    nameless: list[list[Any]]
    problems: list[Problem]
    agent_of_call: dict[str, str]
    call_of_agent: dict[str, str]
    end: int
    open_keys: dict[str, int]


def _read_file(job: tuple[Path, int]) -> _Part:
    path, start = job
    reader = _Reader(fast=_unread(path, start) >= FAST_BYTES)
    try:
        end, open_keys = reader.file(path, start)
    except OSError as e:
        reader.problems.append(Problem(str(path), 0, e.strerror or str(e)))
        end, open_keys = -1, {}
    return _Part(
        reader.found,
        reader.nameless,
        reader.problems,
        reader.agent_of_call,
        reader.call_of_agent,
        end,
        open_keys,
    )


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it ends the pool


def _parts(jobs: list[tuple[Path, int]]) -> Iterator[_Part]:
    """Each file's part, in the order of ``jobs``: with many megabytes in several files and
    more than one CPU, this process reads the first files while others read the rest
    (one a CPU), else it reads them all, one after the other."""
    sizes = [_unread(path, start) for path, start in jobs]
    workers = min(usable_cpus(), len(jobs), _WORKERS)
    if workers < 2 or sum(sizes) < PARALLEL_BYTES:
        yield from map(_read_file, jobs)
        return
    import multiprocessing  # here: a hook's import of a turn never loads it

    if "fork" not in multiprocessing.get_all_start_methods():
        yield from map(_read_file, jobs)
        return
    # This process's share first: it reads them and adds up the parts while the others read
    # (its CPU not left idle, one process fewer), then adds up theirs.
    cut, mine = 0, 0
    while cut < len(jobs) - 1 and mine < sum(sizes) / workers:
        mine += sizes[cut]
        cut += 1
    # fork: a worker needs nothing loaded again (msgspec is, once, here, not in each); it
    # only reads files and returns plain data.
    decoder()
    with multiprocessing.get_context("fork").Pool(workers - 1, _ignore_interrupts) as pool:
        theirs = pool.imap(_read_file, jobs[cut:])
        yield from map(_read_file, jobs[:cut])
        yield from theirs


def usable_cpus() -> int:
    """The CPUs this process may run on. The load average is not asked: with this process
    reading its share, a pool costs a fork and the parts sent back (0.1 to 0.2 s of CPU on
    200 MB) and took less time than one process even at load 4 on 2 CPUs (#17)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def _unread(path: Path, start: int) -> int:
    try:
        return max(0, path.stat().st_size - start)
    except OSError:
        return 0


def read(paths: Iterable[Path], offsets: Mapping[str, int]) -> Read:
    """The responses of ``paths`` read from ``offsets`` (a file not named there: whole).
    Each file is read on its own and the parts are added up in order, so that a pool of
    processes reads the same as one reader: each response once across all files."""
    jobs = [(path, offsets.get(str(path), 0)) for path in paths]
    reader = _Reader()
    # What a read makes (a list a response, its names) holds no cycle: the collector's passes
    # over a growing heap were a tenth of a 200 MB import, for nothing to collect.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _read(jobs, reader)
    finally:
        if collecting:
            gc.enable()


def _read(jobs: list[tuple[Path, int]], reader: _Reader) -> Read:
    ends = {}
    for (path, _), part in zip(jobs, _parts(jobs)):
        end = reader.merge(part)
        if end >= 0:
            ends[str(path)] = end
    return reader.result(ends)
