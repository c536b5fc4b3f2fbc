"""Exact spend from the agents themselves: usage as the provider billed it (#17).

Read from Claude Code's transcripts, Code Puppy's run data and its ``--usage-file``, or one
response's ``usage`` object, and captured into the ledger as ``counter: "usage"`` entries whose
ids derive from the provider's message and request ids, so that a second capture adds nothing.

The figures of an entry: ``in`` is every input token the provider counted, cached ones
included (Anthropic's ``input_tokens`` + ``cache_creation_input_tokens`` +
``cache_read_input_tokens``; OpenAI's ``prompt_tokens``); ``cache_read`` and ``cache_write``
are the parts of it read from and written to the prompt cache, kept apart because providers
bill them differently; ``out`` is every output token, thinking included.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import NamedTuple

from patchpack import clock, ledger
from patchpack.entries import new_entry
from patchpack.git import Repo

COUNTER = "usage"
MAIN_AGENT = "claude-code"
# A transcript line is a message with its content: tool results of a whole file are long.
# Past this it is no line Claude Code writes; it is skipped (and reported), not read whole.
MAX_LINE = 64 * 1024 * 1024
MAX_DEPTH = 256  # tool inputs nest; json.loads recurses once a level
MAX_NAME = 200


class Usage(NamedTuple):
    """One response's billed figures, as `capture` records them."""

    key: str | None
    """What names the response at its source (None: nothing does; never deduplicated)."""
    tokens_in: int
    tokens_out: int
    cache_read: int = 0
    cache_write: int = 0
    model: str | None = None
    session: str | None = None
    agent: str | None = None
    ts: str | None = None  # as entries write it; None: when it is captured
    requests: int = 1


class Problem(NamedTuple):
    """A line or a file that holds no usage patchpack can read: reported, never fatal."""

    where: str
    line: int
    reason: str


class Read(NamedTuple):
    usages: list[Usage]
    problems: list[Problem]
    unfinished: int
    """Responses still being written (no stop reason, nothing after them): left for later."""
    offsets: dict[str, int]
    """Per file, where the next read may start: past every line read to the end."""


def entry_id(key: str) -> str:
    """The ledger id of a captured response: the same key gives the same id, in any import."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:21]


def capture(repo: Repo, usages: Iterable[Usage]) -> int:
    """Record ``usages`` in the ledger's pending spool; the number of entries added (those
    already in the ledger, by their derived ids, are not added again)."""
    entries = []
    for u in usages:
        if not (u.tokens_in or u.tokens_out):
            continue  # a synthetic message (an API error, an interruption): nothing billed
        entries.append(new_entry(
            kind="request", tokens_in=u.tokens_in, tokens_out=u.tokens_out, counter=COUNTER,
            now=_when(u.ts), model=u.model, agent=u.agent, session=u.session,
            requests=u.requests, cache_read=u.cache_read, cache_write=u.cache_write,
            id=entry_id(u.key) if u.key is not None else None))
    return len(ledger.add_new(repo, entries))


def _when(ts: str | None) -> datetime:
    if ts is None:
        return clock.now()
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
