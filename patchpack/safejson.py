"""JSON from text anyone could have written: a ledger line someone pushed, a hook payload.

`json.loads` recurses once per level of nesting: a line of 1,000 ``[`` raises RecursionError
(not ValueError), and how deep it may go depends on how deep the caller's stack already is.
So the depth is measured before parsing, without recursion, and refused past a fixed limit
(issue 15).

The guard parses each hook payload here before every tool call of an agent (#16), and `json`
costs it a fifth of an interpreter's start-up: its Python modules load `re`. So the text goes
to the C scanner `json.loads` itself uses, and to `json.loads` only when that scanner refuses
it, so that the errors are worded as they were. (orjson and msgspec are no help here: each
imports `json`, `dataclasses` and `pathlib` as it loads, 35-40 ms.) The scan for depth
compiles its patterns only for text with enough brackets to need it.
"""

from __future__ import annotations

try:
    from _json import make_scanner
except ImportError:  # not CPython: json.loads
    make_scanner = None  # type: ignore[assignment,misc]

TYPE_CHECKING = False  # typing costs a tenth of the guard's start-up (#16)
if TYPE_CHECKING:
    from typing import Any

# A JSON string, escapes included (unrolled: no backtracking per character).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*"'
_NOT_BRACKET = r"[^\[\]{}]+"
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class Refused(ValueError):
    """Text `loads` does not hand to the JSON parser: too long or too deep."""


def depth_over(text: str, limit: int) -> bool:
    """Whether ``text``, read as JSON, nests arrays and objects deeper than ``limit``.

    Exact for valid JSON, and never under the depth `json.loads` reaches before it finds an
    error in invalid JSON: up to that point the strings are well formed, so brackets inside
    them are told from the rest."""
    if text.count("[") + text.count("{") <= limit:  # the usual case: no scan
        return False
    import itertools
    import re

    brackets = re.sub(_NOT_BRACKET, "", re.sub(_STRING, "", text, flags=re.DOTALL))
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def loads(text: str, *, max_depth: int, max_chars: int | None = None) -> Any:
    """`json.loads` of ``text``; ValueError when it is not JSON, `Refused` (a ValueError too)
    when it is longer than ``max_chars`` or nests deeper than ``max_depth``. Never
    RecursionError."""
    if max_chars is not None and len(text) > max_chars:
        raise Refused(f"longer than {max_chars:,} characters")
    if depth_over(text, max_depth):
        raise Refused(f"nested deeper than {max_depth} levels")
    try:
        if make_scanner is not None:
            try:
                return _scan(text)
            except (StopIteration, ValueError, SystemError):
                pass  # not JSON: json.loads says why (Python 3.11's scanner raises SystemError
                # for an error found before `json.decoder` is loaded)
        import json

        return json.loads(text)
    except RecursionError:  # a caller already deep in its stack: still not a crash
        raise Refused(f"nested too deep to read here (under {max_depth} levels)") from None


class _Decoding:
    """What `json.JSONDecoder()` hands its scanner."""

    strict = True
    object_hook = object_pairs_hook = None
    parse_float, parse_int = float, int
    parse_constant = float  # NaN, Infinity, -Infinity


_SPACE = " \t\n\r"  # JSON's white space, all json.loads skips


def _scan(text: str) -> Any:
    """``json.loads(text)`` for JSON text; StopIteration, ValueError or SystemError for the
    rest."""
    start = len(text) - len(text.lstrip(_SPACE))
    scan = make_scanner(_Decoding())  # type: ignore[arg-type]  # it reads these attributes
    value, end = scan(text, start)
    if text[end:].lstrip(_SPACE):
        raise ValueError("extra data")
    return value
