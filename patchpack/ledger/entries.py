"""A ledger entry: one spend, one line of a note, in a fixed key order.

The form `Entry.to_json` writes is what `git log --notes=patchpack` shows and what
``git notes merge -s cat_sort_uniq`` sorts line by line; `parse_line` reads it back, and any
other JSON form of an entry too.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

from patchpack import clock
from patchpack.errors import BadInput
from patchpack.safejson import Refused, loads

VERSION = 1
# Bounds for what anyone may push into a note (issue 15). Token counts stay below 10**15:
# 100,000 years of a 24M-tokens/day quota, exact as a double (< 2**53) for the JSON readers
# of other tools, and summed over millions of entries without reaching float overflow in
# `budget`'s shares and rates. A line is 8 KiB at most (an entry is ~200 characters); an
# entry's values nest at most 32 deep (v1 values are flat: room for fields a later version adds).
MAX_COUNT = 10**15
MAX_LINE = 8192
MAX_DEPTH = 32
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z")
_KIND = re.compile(r"[a-z][a-z0-9_-]*\Z")


# A NamedTuple rather than a frozen dataclass: `patchpack budget` builds one per line of the
# whole ledger (100,000+), and a tuple is several times cheaper to make and to cache.
class Entry(NamedTuple):
    """One spend: what was spent, when, by whom, and which counter made the figures."""

    id: str
    ts: str  # UTC, "2026-11-24T10:00:00Z": strings in this form sort by time
    kind: str  # request, context, run, apply, ...
    tokens_in: int = 0
    tokens_out: int = 0
    counter: str = ""
    model: str | None = None
    agent: str | None = None
    session: str | None = None
    requests: int = 0
    saved: int = 0
    """Tokens patchpack kept out of the context (a run's output it did not print)."""
    estimated: bool = False
    """``saved`` is an estimate (a run's output too long to count whole)."""
    cache_read: int = 0
    """Of ``tokens_in``, those read from the provider's prompt cache (billed apart, #17)."""
    cache_write: int = 0
    """Of ``tokens_in``, those written to the provider's prompt cache."""

    def to_json(self) -> str:
        """The one-line form, keys in a fixed order, absent optional fields left out."""
        fields: dict[str, Any] = {"v": VERSION, "id": self.id, "ts": self.ts, "kind": self.kind}
        for key in ("model", "agent", "session"):
            if getattr(self, key) is not None:
                fields[key] = getattr(self, key)
        fields["in"] = self.tokens_in
        fields["out"] = self.tokens_out
        if self.cache_read:
            fields["cache_read"] = self.cache_read
        if self.cache_write:
            fields["cache_write"] = self.cache_write
        if self.requests:
            fields["requests"] = self.requests
        if self.saved:
            fields["saved"] = self.saved
        if self.estimated:
            fields["estimated"] = True
        fields["counter"] = self.counter
        import orjson  # here: the guard, which never writes an entry, does not load it (#16)

        try:
            # Byte for byte json.dumps(fields, separators=(",", ":"), ensure_ascii=False),
            # five times faster: an import writes an entry per response (#17).
            return orjson.dumps(fields).decode()
        except TypeError:  # a lone surrogate, a count past 64 bits: as json writes them
            return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


class Reasoned(Entry):
    """An entry that says why a choice was made (a ``route`` entry: the model a run went to,
    #18), the reason last on its note line for people reading the ledger. Sums, the columnar
    reader and the ledger cache use `Entry`'s fields only: a reason is never summed."""

    reason: str

    @classmethod
    def of(cls, entry: Entry, reason: str) -> Reasoned:
        made = cls._make(entry)
        made.__dict__["reason"] = reason
        return made

    def to_json(self) -> str:
        # After the counter, so the line is not in `CANONICAL_LINE`'s form: it is read by the
        # JSON path, which keeps the reason.
        return f'{Entry.to_json(self)[:-1]},"reason":{json.dumps(self.reason, ensure_ascii=False)}}}'


class Skipped(NamedTuple):
    """A line that is not a ledger entry: reported, never fatal."""

    where: str  # the commit whose note holds it, or "pending"
    line: int
    reason: str


def parse_line(line: str) -> Entry:
    """The entry a note line holds; ValueError saying why when it holds none."""
    if len(line) > MAX_LINE:
        raise ValueError(f"longer than {MAX_LINE:,} characters")
    canonical = _CANONICAL.fullmatch(line)
    if canonical is not None:
        return Entry._make(column[0] for column in canonical_columns([[g] for g in canonical.groups("")], {}))
    return _parse_json(line)


def _parse_json(line: str) -> Entry:
    # What a line means: any line `_CANONICAL` matches must come out the same here.
    try:
        raw = loads(line, max_depth=MAX_DEPTH, max_chars=MAX_LINE)
    except Refused as e:
        raise ValueError(str(e)) from None
    except ValueError:
        raise ValueError("not JSON") from None
    if type(raw) is not dict:
        raise ValueError("not a JSON object")
    if raw.get("v") != VERSION:
        raise ValueError(f"unknown version {raw.get('v')!r}")
    get: Callable[..., Any] = raw.get
    # Interned: the same few names repeat on every line (and the ledger cache stores them once).
    entry = Entry(
        get("id"),
        get("ts"),
        _intern(get("kind")),
        get("in", 0),
        get("out", 0),
        _intern(get("counter")),
        _intern(get("model")),
        _intern(get("agent")),
        _intern(get("session")),
        get("requests", 0),
        get("saved", 0),
        get("estimated", False),
        get("cache_read", 0),
        get("cache_write", 0),
    )
    problem = _problem(entry)
    if problem:
        raise ValueError(problem)
    reason = get("reason")
    if type(reason) is str and reason and _encodable(reason):
        return Reasoned.of(entry, reason)
    return entry


# The line `Entry.to_json` writes, keys in its order, matched without a JSON parser: about
# twice as fast, and `budget` parses every line of the ledger when it has no cache (#6).
# Only lines `_parse_json` would read to the same valid entry match: strings without escapes
# or control characters, non-empty; whole numbers in JSON's form. Any other line (a foreign
# key order, escapes, spaces) takes the JSON path, which is the definition.
_CHARS = r'[^"\\\x00-\x1f]+'
_INT = r"(?:0|[1-9][0-9]{0,14})"  # below MAX_COUNT; longer numbers: the JSON path refuses them
# kind to session, and requests to counter: one group each, since a ledger holds few
# different ones (each is read once, by `_MIDDLE` and `_TAIL`).
_MIDDLE = re.compile(
    r'"kind":"(C)"(?:,"model":"(C)")?(?:,"agent":"(C)")?(?:,"session":"(C)")?'.replace("C", _CHARS)
)
_TAIL = re.compile(
    r'(?:,"cache_read":(I))?(?:,"cache_write":(I))?'
    r'(?:,"requests":(I))?(?:,"saved":(I))?(?:,"estimated":(true))?,"counter":"(C)"'.replace(
        "I", _INT
    ).replace("C", _CHARS)
)
CANONICAL_LINE = (
    r'\{"v":1,"id":"(C)","ts":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)",'
    r'("kind":"C"(?:,"model":"C")?(?:,"agent":"C")?(?:,"session":"C")?),'
    r'"in":(I),"out":(I)((?:,"cache_read":I)?(?:,"cache_write":I)?(?:,"requests":I)?(?:,"saved":I)?(?:,"estimated":true)?,"counter":"C")\}'
).replace("I", _INT)
# The same for text without a backslash, quicker: a string is then all but quotes, and
# `canonical_columns` refuses control characters in ids and checks the two wide groups.
CANONICAL_LINE_UNESCAPED = CANONICAL_LINE.replace("C", '[^"]+')
CANONICAL_LINE = CANONICAL_LINE.replace("C", _CHARS)
_CONTROL = re.compile(r"[\x00-\x1f]")
# The characters of a `CANONICAL_LINE` outside its groups (`{"v":1,"id":"` `","ts":"` `",`
# `,"in":` `,"out":` `}`), and its timestamp.
_FRAME = 13 + 8 + 2 + 6 + 7 + 1 + 20
_CANONICAL = re.compile(CANONICAL_LINE)


def _problem(e: Entry) -> str | None:
    for key, value, required in (
        ("id", e.id, True),
        ("ts", e.ts, True),
        ("kind", e.kind, True),
        ("counter", e.counter, True),
        ("model", e.model, False),
        ("agent", e.agent, False),
        ("session", e.session, False),
    ):
        if (value is not None or required) and (type(value) is not str or not value):
            return f"{key!r} must be a non-empty string"
        if value is not None and not _encodable(value):  # "\ud800": no bytes to write it back
            return f"{key!r} holds a lone surrogate"
    for key, number in (
        ("in", e.tokens_in),
        ("out", e.tokens_out),
        ("requests", e.requests),
        ("saved", e.saved),
        ("cache_read", e.cache_read),
        ("cache_write", e.cache_write),
    ):
        if type(number) is not int or not 0 <= number < MAX_COUNT:
            return f"{key!r} must be a whole number >= 0 and below 10**15"
    if type(e.estimated) is not bool:
        return "'estimated' must be true or false"
    if not _TS.match(e.ts):
        return f"'ts' must look like 2026-11-24T10:00:00Z, got {e.ts!r}"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8", "surrogateescape")  # as notes are written (git.encode)
    except UnicodeEncodeError:
        return False
    return True


def _intern(text: object) -> Any:
    return sys.intern(text) if type(text) is str else text


def parse_note(text: str, where: str) -> tuple[list[Entry], list[Skipped]]:
    """Every entry of a note (or of the spool); blank lines (from concatenation) are fine."""
    entries, skipped = [], []
    # Lines end at "\n" only, as git's do: U+2028 and U+0085 are valid raw in a JSON string,
    # and `to_json` writes them raw (str.splitlines would cut such an entry in two).
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            entries.append(parse_line(line))
        except ValueError as e:
            skipped.append(Skipped(where, number, str(e)))
    return entries, skipped


def timestamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id(now: datetime) -> str:
    """Unique, and sorting by it sorts by time (so does `cat_sort_uniq`, line by line)."""
    return f"{int(now.timestamp() * 1000):011x}{os.urandom(5).hex()}"


def new_entry(
    *,
    kind: str,
    tokens_in: int = 0,
    tokens_out: int = 0,
    counter: str,
    now: datetime | None = None,
    model: str | None = None,
    agent: str | None = None,
    session: str | None = None,
    requests: int = 0,
    saved: int = 0,
    estimated: bool = False,
    cache_read: int = 0,
    cache_write: int = 0,
    id: str | None = None,
) -> Entry:
    """A new entry, checked; BadInput when a field is out of range. ``id`` is one derived
    from what the provider named the spend (a captured response), so that a second capture
    of it is known; by default a new one."""
    if not _KIND.match(kind):
        raise BadInput(f"bad entry kind {kind!r}: use lowercase letters, digits, - and _")
    counts = (tokens_in, tokens_out, requests, saved, cache_read, cache_write)
    if min(counts) < 0:
        raise BadInput("token and request counts must not be negative")
    if max(counts) >= MAX_COUNT:
        raise BadInput(
            "token and request counts must be below 10**15 (1,000,000,000,000,000: no quota comes near)",
            hint="record the figures the provider reported, e.g. `patchpack record --in 5400 --out 820`",
        )
    for name, value in (("counter", counter), ("model", model), ("agent", agent), ("session", session)):
        if value is not None and not value.strip():
            raise BadInput(f"{name} must not be empty")
    now = now or clock.now()
    entry = Entry(
        id or new_id(now),
        timestamp(now),
        kind,
        tokens_in,
        tokens_out,
        counter,
        model,
        agent,
        session,
        requests,
        saved,
        estimated,
        cache_read,
        cache_write,
    )
    line = entry.to_json()
    # What a reader would skip must not be written: it would be lost.
    if len(line) > MAX_LINE:
        raise BadInput(
            f"the entry would be a line of {len(line):,} characters; a ledger line "
            f"holds at most {MAX_LINE:,}",
            hint="shorten the --model, --agent, --session or --counter name",
        )
    if not line.isascii():
        try:
            line.encode("utf-8")  # the spool is UTF-8; bytes a terminal passed may not be
        except UnicodeEncodeError:
            raise BadInput(
                "a name of the entry is not UTF-8 text",
                hint="give the --model, --agent, --session and --counter names in UTF-8",
            ) from None
    return entry


def canonical_columns(fields: Sequence[Sequence[str]], known: dict[str, Any]) -> list[list[Any]]:
    """The fields of many entries, column by column in `Entry`'s order (column i holds field i
    of every entry), from the columns of `CANONICAL_LINE`'s groups. No Python code runs per
    line: `budget` reads 100,000 lines when it has no cache. ValueError when a line holds
    what `CANONICAL_LINE` refuses (the groups of `CANONICAL_LINE_UNESCAPED` may).

    ``known`` maps each kind-to-session group and each requests-to-counter group seen to its
    fields (the keys cannot meet: one starts with a quote, the other with a comma).
    """
    ids, ts, middles, ins, outs, tails = fields
    # The longest parts of any line, summed: exact for one line, else no less than the
    # longest line. Past MAX_LINE a caller reads each line on its own (`parse_line`).
    if (
        sum(max(map(len, column), default=0) for column in (ids, middles, ins, outs, tails)) + _FRAME
        > MAX_LINE
    ):
        raise ValueError(f"longer than {MAX_LINE:,} characters")
    if _CONTROL.search("".join(ids)):
        raise ValueError("a control character in an id")
    for middle in set(middles).difference(known):
        match = _MIDDLE.fullmatch(middle)
        if match is None:
            raise ValueError(f"not in patchpack's form: {middle}")
        known[middle] = tuple(map(_intern, match.groups()))
    for tail in set(tails).difference(known):
        match = _TAIL.fullmatch(tail)
        if match is None:
            raise ValueError(f"not in patchpack's form: {tail}")
        cache_read, cache_write, requests, saved, estimated, counter = match.groups()
        known[tail] = (
            int(requests or 0),
            int(saved or 0),
            estimated is not None,
            _intern(counter),
            int(cache_read or 0),
            int(cache_write or 0),
        )
    kinds, models, agents, sessions = map(list, zip(*map(known.__getitem__, middles)))
    requests, saved, estimated, counters, cache_read, cache_write = map(
        list, zip(*map(known.__getitem__, tails))
    )
    return [
        list(ids),
        list(ts),
        kinds,
        list(map(int, ins)),
        list(map(int, outs)),
        counters,
        models,
        agents,
        sessions,
        requests,
        saved,
        estimated,
        cache_read,
        cache_write,
    ]
