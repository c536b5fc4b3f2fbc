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

import functools
import gc
import hashlib
import os
import re
from collections.abc import Iterable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import NamedTuple

from patchpack import clock
from patchpack.git import Repo
from patchpack.ledger import store as ledger
from patchpack.ledger.entries import MAX_COUNT, Entry, new_entry
from patchpack.safejson import loads

COUNTER = "usage"
MAIN_AGENT = "claude-code"
# A transcript line is a message with its content: tool results of a whole file are long.
# Past this it is no line Claude Code writes; it is skipped (and reported), not read whole.
MAX_LINE = 64 * 1024 * 1024
MAX_DEPTH = 256  # tool inputs nest; json.loads recurses once a level
MAX_NAME = 200
_CHUNK = 1 << 20
_UTC = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(?:\.\d+)?Z\Z"
)
_FRACTION = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


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
    collecting = gc.isenabled()
    gc.disable()  # an entry a response, and no cycle among them (as transcripts.read)
    try:
        return _capture(repo, usages)
    finally:
        if collecting:
            gc.enable()


def _capture(repo: Repo, usages: Iterable[Usage]) -> int:
    entries = []
    for u in usages:
        if not (u.tokens_in or u.tokens_out):
            continue  # a synthetic message (an API error, an interruption): nothing billed
        counts = (u.tokens_in, u.tokens_out, u.cache_read, u.cache_write, u.requests)
        if (
            u.key is not None
            and u.ts is not None
            and _timestamp(u.ts) == u.ts
            and all(_name(n) == n for n in (u.model, u.agent, u.session) if n is not None)
            and min(counts) >= 0
            and max(counts) < MAX_COUNT
        ):
            # What a reader made, every field checked: `new_entry` would build its line once
            # more and a datetime for the time (a third of an import of 200 MB).
            entries.append(
                Entry(
                    entry_id(u.key),
                    u.ts,
                    "request",
                    u.tokens_in,
                    u.tokens_out,
                    COUNTER,
                    u.model,
                    u.agent,
                    u.session,
                    u.requests,
                    0,
                    False,
                    u.cache_read,
                    u.cache_write,
                )
            )
            continue
        entries.append(
            new_entry(
                kind="request",
                tokens_in=u.tokens_in,
                tokens_out=u.tokens_out,
                counter=COUNTER,
                now=_when(u.ts),
                model=u.model,
                agent=u.agent,
                session=u.session,
                requests=u.requests,
                cache_read=u.cache_read,
                cache_write=u.cache_write,
                id=entry_id(u.key) if u.key is not None else None,
            )
        )
    # Nothing to add: the ledger and the spool are not read (a hook after a quiet turn).
    return len(ledger.add_new(repo, entries)) if entries else 0


def _when(ts: str | None) -> datetime:
    if ts is None:
        return clock.now()
    return datetime.fromisoformat(ts[:19]).replace(tzinfo=timezone.utc)  # as `_timestamp` made it


# -- one usage object: OpenAI, Cerebras, Anthropic, Code Puppy (pydantic-ai) ------------------


def from_usage_object(
    raw: object,
    *,
    key: str | None = None,
    model: str | None = None,
    session: str | None = None,
    agent: str | None = None,
) -> Usage:
    """The usage of one response, from its ``usage`` object or the whole response (whose
    ``id`` and ``model`` then name it). ValueError saying why when it holds none."""
    if type(raw) is not dict:
        raise ValueError("not a JSON object")
    usage = raw.get("usage")
    if usage is not None:
        if type(usage) is not dict:
            raise ValueError("'usage' is not an object")
        ident = _name(raw.get("id"))
        key = key or (f"response:{ident}" if ident else None)
        model = model or _name(raw.get("model"))
        raw = usage
    if "prompt_tokens" in raw:  # OpenAI chat completions, Cerebras: cached are part of prompt
        details = raw.get("prompt_tokens_details") or {}
        return Usage(
            key,
            _count(raw, "prompt_tokens"),
            _count(raw, "completion_tokens"),
            _count(details, "cached_tokens"),
            0,
            model,
            session,
            agent,
        )
    if "input_tokens_details" in raw:  # OpenAI responses: input_tokens includes cached
        details = raw.get("input_tokens_details") or {}
        return Usage(
            key,
            _count(raw, "input_tokens"),
            _count(raw, "output_tokens"),
            _count(details, "cached_tokens"),
            0,
            model,
            session,
            agent,
        )
    if "cache_read_tokens" in raw or "cache_write_tokens" in raw:
        # pydantic-ai's RunUsage (Code Puppy): input_tokens already holds the cached ones.
        return Usage(
            key,
            _count(raw, "input_tokens"),
            _count(raw, "output_tokens"),
            _count(raw, "cache_read_tokens"),
            _count(raw, "cache_write_tokens"),
            model,
            session,
            agent,
            None,
            _count(raw, "requests") or 1,
        )
    if "input_tokens" in raw or "output_tokens" in raw:  # Anthropic: cached ones apart
        read, write = _count(raw, "cache_read_input_tokens"), _count(raw, "cache_creation_input_tokens")
        return Usage(
            key,
            _count(raw, "input_tokens") + read + write,
            _count(raw, "output_tokens"),
            read,
            write,
            model,
            session,
            agent,
        )
    raise ValueError("no token counts (prompt_tokens, input_tokens or output_tokens)")


def read_usage_file(path: Path) -> Usage:
    """Code Puppy's ``--usage-file``, named by its bytes and time: imported twice, added once."""
    data = path.read_bytes()
    if len(data) > _CHUNK:
        raise ValueError("longer than a usage file (1 MiB)")
    raw = loads(data.decode("utf-8"), max_depth=8)
    stamp = os.stat(path).st_mtime_ns
    key = f"usage-file:{hashlib.sha256(data).hexdigest()}:{stamp}"
    return from_usage_object(raw, key=key, agent="code-puppy")


def from_code_puppy_run(
    *, agent_name: object, model_name: object, session_id: object, metadata: object, key: str | None
) -> Usage | None:
    """The usage Code Puppy's ``agent_run_end`` callback carries in ``metadata``
    (``usage_input_tokens``, ``usage_output_tokens``, ``usage_cached_read_tokens``,
    ``usage_cached_write_tokens``); None when it carries none (a run that failed early)."""
    if type(metadata) is not dict or not any(metadata.get(f"usage_{k}_tokens") for k in ("input", "output")):
        return None
    return Usage(
        key,
        _count(metadata, "usage_input_tokens"),
        _count(metadata, "usage_output_tokens"),
        _count(metadata, "usage_cached_read_tokens"),
        _count(metadata, "usage_cached_write_tokens"),
        _name(model_name) or _name(metadata.get("model")),
        _name(session_id),
        _name(agent_name) or "code-puppy",
    )


def _count(raw: object, name: str) -> int:
    value = raw.get(name) if type(raw) is dict else None
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value < MAX_COUNT:
        raise ValueError(f"{name!r} must be a whole number >= 0 and below 10**15")
    return value


def _name(value: object) -> str | None:
    """A name fit for a ledger entry, or None: hostile text never reaches the ledger."""
    # Only short text reaches the cache: it never holds a hostile line's megabytes.
    return _checked(value) if type(value) is str and len(value) <= MAX_NAME else None


@functools.lru_cache(maxsize=256)  # a model, a session, an agent: the same few on every line
def _checked(value: str) -> str | None:
    if not value.strip() or not value.isprintable():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape
        return None
    return value


@functools.lru_cache(maxsize=64)
def _real_day(day: str) -> bool:
    try:
        date.fromisoformat(day)
    except ValueError:  # 2026-02-31
        return False
    return True


def _timestamp(value: object) -> str | None:
    """Claude Code's "2026-03-11T02:40:21.204Z" as entries write it, in UTC."""
    if type(value) is str and _UTC.match(value) and _real_day(value[:10]):
        return value[:19] + "Z"  # the usual form: no datetime to make
    match = _FRACTION.match(value) if type(value) is str else None
    if match is None:
        return None
    try:
        when = datetime.fromisoformat(match[1] + match[2].replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
