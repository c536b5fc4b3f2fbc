"""`patchpack gain`: the tokens patchpack kept out of an agent's context, counted honestly (#17).

A capped run printed less than the command wrote, but an agent never reads all of a long
output either: each truncates a tool's output its own way, read from its source:

- Claude Code 2.1 (its Bash tool): the first ``BASH_MAX_OUTPUT_LENGTH`` characters
  (30,000 by default, at most 150,000) and a ``... [N lines truncated] ...`` line.
- Code Puppy 0.0.946 (``tools/command_runner.py``): the last 256 lines, each cut to 256
  characters plus ``... [truncated]``; a tool return over 10,000 characters
  (``tool_output_limit_chars``, pydantic-ai-harness ``ToolOutputLimits``) is spilled to a
  file and the model sees a header and a 1,000-character head and tail preview.

So the saving of a run, for an agent, is the tokens of that agent's view of the whole output
less those of its view of what patchpack printed: never more than the raw output the agent
would have kept, and negative when patchpack printed more than the agent would have read.
The views are counted when the run ends, while its log is whole, and kept by entry id in
``<common git dir>/patchpack/views.jsonl``; a run entry without them (an older patchpack,
another clone) is counted as not measured, never guessed.

A context pack is weighed the same way against the whole files its parts come from, as the
agent's own read tool would have put them in its context (Claude Code's Read: the first
2,000 lines numbered, at most 25,000 tokens; Code Puppy's read_file: refused past 10,000
tokens, spilled past 10,000 characters), and the agent's view of the pack as printed.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patchpack.git import Repo
from patchpack.git.files import Private, Worktree
from patchpack.ledger.entries import Entry
from patchpack.safejson import loads
from patchpack.tokens import Counter

VIEWS = Path("patchpack", "views.jsonl")
CLAUDE_CODE_CHARS, CLAUDE_CODE_MAX_CHARS = 30_000, 150_000
PUPPY_LINES, PUPPY_WIDTH, PUPPY_SPILL, PUPPY_PREVIEW = 256, 256, 10_000, 1_000
# What one read of a whole file puts in the context instead of a pack (#17): Claude Code 2.1's
# Read, the first 2,000 lines as `cat -n` prints them, no more than 25,000 tokens; Code Puppy
# 0.0.946's read_file, the file, refused past 10,000 tokens (length / 4), its return spilled
# past 10,000 characters as a shell output's is (the pack is weighed as that same agent's
# shell tool shows it, so both sides are what one tool call puts in the context).
CLAUDE_CODE_READ_LINES, CLAUDE_CODE_READ_TOKENS, PUPPY_READ_TOKENS = 2_000, 25_000, 10_000
_FILE_MAX = 1 << 20  # of a file: more than either agent's read keeps (and `none` weighs)
_READ = 1 << 16


def claude_code_view(text: str, limit: int = CLAUDE_CODE_CHARS, *, lines: int | None = None) -> str:
    """What Claude Code's Bash tool hands the model of an output ``text`` (the first
    characters of one of ``lines`` lines, when ``text`` is only its head)."""
    if len(text) <= limit:
        return text
    total = text.count("\n") + 1 if lines is None else lines
    return f"{text[:limit]}\n... [{total - text.count(chr(10), 0, limit)} lines truncated] ..."


def code_puppy_view(text: str) -> str:
    """What Code Puppy's shell tool hands the model of an output ``text`` (both streams as
    one: it keeps 256 lines of each, so its view of a command writing to both is larger,
    and the saving counted here smaller)."""
    lines = [
        line if len(line) <= PUPPY_WIDTH else line[:PUPPY_WIDTH] + "... [truncated]"
        for line in text.split("\n")[-PUPPY_LINES:]
    ]
    return _puppy_return("\n".join(lines))


def code_puppy_read(text: str) -> str:
    """What Code Puppy's read_file hands the model of a whole file ``text`` in one call: past
    10,000 tokens (its length / 4) a refusal, and a return past its 10,000-character limit
    spilled to a file, as a shell output's is."""
    if len(text) // 4 > PUPPY_READ_TOKENS:
        return (
            "The file is massive, greater than 10,000 tokens which is dangerous to read "
            "entirely. Please read this file in chunks."
        )
    return _puppy_return(text)


def _puppy_return(kept: str) -> str:
    # The limit weighs the tool's serialised return: the output as a JSON string, among the
    # return's other fields (~150 characters).
    size = len(json.dumps(kept)) + 150
    if size <= PUPPY_SPILL:
        return kept
    head = PUPPY_PREVIEW // 2
    tail = PUPPY_PREVIEW - head
    preview = (
        kept
        if len(kept) <= PUPPY_PREVIEW
        else f"{kept[:head]}\n...[{len(kept) - PUPPY_PREVIEW:,} chars omitted]...\n{kept[-tail:]}"
    )
    return (
        f"[Tool output too large ({size:,} chars); stored to handle "
        f"'tool_output_spill/0123456789abcdef'.]\n{preview}"
    )


AGENTS = ("claude-code", "code-puppy")


def _claude_code_limit() -> int:
    """Claude Code's limit as the agent that runs patchpack has it set (its environment)."""
    raw = os.environ.get("BASH_MAX_OUTPUT_LENGTH", "").strip()
    if raw.isascii() and raw.isdigit() and int(raw) > 0:
        return min(int(raw), CLAUDE_CODE_MAX_CHARS)
    return CLAUDE_CODE_CHARS


@dataclass(frozen=True)
class Output:
    """The parts of an output that any agent's view holds."""

    head: str  # its first characters, more than any view keeps of them
    tail: str  # its last lines, each as long as a view keeps it or longer
    lines: int

    @classmethod
    def of(cls, text: str) -> Output:
        return cls(text, text, text.count("\n") + 1)


def read_log(log: Path) -> Output:
    """The parts of a run log any agent's view holds, in bounded memory however long it is."""
    head_bytes = (max(_claude_code_limit(), PUPPY_PREVIEW) + 1) * 4  # UTF-8: <= 4 per char
    keep = PUPPY_WIDTH * 4 + 4  # of a line: more than 256 characters, or all of it
    head = bytearray()
    tail: deque[bytes] = deque(maxlen=PUPPY_LINES)
    line = bytearray()
    lines = 1
    with open(log, "rb") as f:
        while chunk := f.read(_READ):
            if len(head) < head_bytes:
                head += chunk[: head_bytes - len(head)]
            *ended, rest = chunk.split(b"\n")
            for part in ended:
                line += part[: max(0, keep - len(line))]
                tail.append(bytes(line))
                line.clear()
            lines += len(ended)
            line += rest[: max(0, keep - len(line))]
    tail.append(bytes(line))
    return Output(head.decode("utf-8", "replace"), b"\n".join(tail).decode("utf-8", "replace"), lines)


def views(full: Output, printed: Output, counter: Counter) -> dict[str, list[int]]:
    """Per agent: [tokens of its view of the full output, of its view of what was printed]."""
    limit = _claude_code_limit()

    def claude(o: Output) -> str:
        return claude_code_view(o.head, limit, lines=o.lines)

    return {
        "claude-code": [counter.count(claude(full)), counter.count(claude(printed))],
        "code-puppy": [
            counter.count(code_puppy_view(full.tail)),
            counter.count(code_puppy_view(printed.tail)),
        ],
    }


def claude_code_read(text: str) -> str:
    """What Claude Code's Read tool hands the model of a whole file ``text``."""
    lines = text.split("\n")[:CLAUDE_CODE_READ_LINES]
    return "\n".join(f"{n:>6}\t{line}" for n, line in enumerate(lines, 1))


def pack_views(files: Iterable[str], pack: str, counter: Counter) -> dict[str, list[int]]:
    """Per agent, and ``none`` for no agent's limits: [tokens of the whole ``files`` a pack's
    parts come from, as the agent's own read of each shows it, tokens of its view of the
    ``pack`` as printed]."""
    files = list(files)
    return {
        "claude-code": [
            sum(min(counter.count(claude_code_read(t)), CLAUDE_CODE_READ_TOKENS) for t in files),
            counter.count(claude_code_view(pack, _claude_code_limit())),
        ],
        "code-puppy": [
            sum(counter.count(code_puppy_read(t)) for t in files),
            counter.count(code_puppy_view(pack)),
        ],
        "none": [sum(counter.count(t) for t in files), counter.count(pack)],
    }


def work_files(repo: Repo, paths: Iterable[str]) -> list[str]:
    """The text of each of ``paths`` in the work tree, each once; those not there (deleted,
    outside the work tree, unreadable) are left out: no agent could have read them."""
    where = Worktree.of(repo)
    out = []
    for path in dict.fromkeys(paths):
        try:
            with open(where.root / where.real(path), "rb") as f:
                out.append(f.read(_FILE_MAX).decode("utf-8", "replace"))
        except (OSError, Private):
            continue
    return out


def keep_pack_views(repo: Repo, entry: Entry, files: list[str], pack: str, counter: Counter) -> None:
    """Count and keep the agents' views of a context pack (`entry`) against the whole
    ``files`` its parts come from: what each agent would have read instead."""
    _keep(
        repo, json.dumps({"id": entry.id, "counter": counter.name, "views": pack_views(files, pack, counter)})
    )


def keep_views(repo: Repo, entry: Entry, log: Path, printed: bytes, counter: Counter) -> None:
    """Count and keep the agents' views of a run (`entry`, its `log`, what was `printed`)."""
    try:
        full = read_log(log)
    except OSError:
        return  # the log was pruned already: the run stays not measured
    _keep(
        repo,
        json.dumps(
            {
                "id": entry.id,
                "counter": counter.name,
                "views": views(full, Output.of(printed.decode("utf-8", "replace")), counter),
            }
        ),
    )


def _keep(repo: Repo, line: str) -> None:
    path = repo.common_dir / VIEWS
    # One short line in one append: whole, whatever other runs append beside it.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # the command ran and its figures are in the ledger: the run stays not measured


def read_views(repo: Repo) -> dict[str, dict[str, list[int]]]:
    """The views kept, by entry id; lines that are not views are skipped."""
    try:
        text = (repo.common_dir / VIEWS).read_text("utf-8", "replace")
    except OSError:  # none kept, or not a file to read: every run is not measured
        return {}
    out: dict[str, dict[str, list[int]]] = {}
    for line in text.split("\n"):
        try:
            data = loads(line, max_depth=8, max_chars=4096)
            kept = {
                name: [int(raw), int(shown)]
                for name, (raw, shown) in data["views"].items()
                if name in (*AGENTS, "none") and min(raw, shown) >= 0
            }
            out.setdefault(str(data["id"]), kept)
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return out


@dataclass(frozen=True)
class Figure:
    """One line of the report: a figure and the counter that made it."""

    what: str
    tokens: int
    counter: str
    entries: int = 0


@dataclass(frozen=True)
class Gain:
    agent: str
    figures: list[Figure]
    saved: int  # for the agent; negative when patchpack showed more than it would have read
    counter: str
    spend: int  # billed tokens (usage) of the same entries' span
    not_measured: int  # runs without views
    packs_not_measured: int = 0  # context packs without views (an older patchpack's)

    def as_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "saved": self.saved,
            "counter": self.counter,
            "spend": self.spend,
            "spend_counter": "usage",
            "share_of_spend": round(self.saved / self.spend, 4) if self.spend else None,
            "not_measured_runs": self.not_measured,
            "not_measured_packs": self.packs_not_measured,
            "figures": [vars(f) for f in self.figures],
        }


def gain(entries: Iterable[Entry], kept: dict[str, dict[str, list[int]]], agent: str) -> Gain:
    """What patchpack kept out of ``agent``'s context, over ``entries`` (each id once)."""
    seen: set[str] = set()
    raw = shown = runs = measured = 0
    printed = full = packs = pack_tokens = spend = rewrites = 0
    read = sent = packs_measured = 0
    counters: set[str] = set()
    for e in entries:
        if e.id in seen:
            continue
        seen.add(e.id)
        if e.kind == "request":
            spend += e.tokens
        elif e.kind == "context":
            packs, pack_tokens = packs + 1, pack_tokens + e.tokens_in
            counters.add(e.counter)
            view = kept.get(e.id, {}).get(agent)
            if view is not None:
                packs_measured += 1
                read, sent = read + view[0], sent + view[1]
        elif e.kind == "run":
            runs += 1
            printed, full = printed + e.tokens_in, full + e.tokens_in + e.saved
            counters.add(e.counter)
            view = kept.get(e.id, {}).get(agent) if agent != "none" else [e.tokens_in + e.saved, e.tokens_in]
            if view is not None:
                measured += 1
                raw, shown = raw + view[0], shown + view[1]
    counter = ", ".join(sorted(counters)) or "cl100k_base"
    label = "no agent truncation" if agent == "none" else f"as {agent} truncates"
    figures = [
        Figure("runs: whole output", full, counter, runs),
        Figure("runs: printed by patchpack", printed, counter, runs),
        Figure(f"runs: the agent would have read ({label})", raw, counter, measured),
        Figure(f"runs: the agent read of patchpack's print ({label})", shown, counter, measured),
        Figure("context packs sent", pack_tokens, counter, packs),
        Figure(
            "context packs: the whole files instead ("
            + ("no agent limit" if agent == "none" else f"as {agent} reads them")
            + ")",
            read,
            counter,
            packs_measured,
        ),
        Figure(f"context packs: the agent read of them ({label})", sent, counter, packs_measured),
        Figure("guard rewrites (counted as the runs they became)", 0, counter, rewrites),
        Figure("billed spend", spend, "usage"),
    ]
    return Gain(
        agent, figures, raw - shown + read - sent, counter, spend, runs - measured, packs - packs_measured
    )


def render_text(gains: list[Gain]) -> str:
    out = []
    for g in gains:
        share = (
            f" = {g.saved / g.spend:.1%} of {g.spend:,} billed tokens (usage)"
            if g.spend
            else " (no billed spend captured to weigh it against)"
        )
        out.append(f"{g.agent}: saved {g.saved:,} tokens ({g.counter}){share}")
        for f in g.figures:
            count = f" in {f.entries:,} entr{'y' if f.entries == 1 else 'ies'}" if f.entries else ""
            out.append(f"  {f.what}: {f.tokens:,} ({f.counter}){count}")
        if g.not_measured:
            out.append(f"  runs not measured (no views kept): {g.not_measured:,}")
        if g.packs_not_measured:
            out.append(f"  context packs not measured (no views kept): {g.packs_not_measured:,}")
    return "\n".join(out)


def of_session(entries: list[Entry], session: str) -> list[Entry]:
    """The entries of ``session``, and the runs and packs (which name no session) in its span."""
    own = [e for e in entries if e.session == session]
    if not own:
        return []
    first, last = min(e.ts for e in own), max(e.ts for e in own)
    return own + [e for e in entries if e.session is None and e.kind != "request" and first <= e.ts <= last]
