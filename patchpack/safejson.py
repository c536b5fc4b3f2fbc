"""JSON from text anyone could have written: a ledger line someone pushed, a hook payload.

`json.loads` recurses once per level of nesting: a line of 1,000 ``[`` raises RecursionError
(not ValueError), and how deep it may go depends on how deep the caller's stack already is.
So the depth is measured before parsing, without recursion, and refused past a fixed limit
(issue 15).
"""

from __future__ import annotations

import itertools
import json
import re

TYPE_CHECKING = False  # typing costs a tenth of the guard's start-up (#16)
if TYPE_CHECKING:
    from typing import Any

# A JSON string, escapes included (unrolled: no backtracking per character).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
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
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
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
        return json.loads(text)
    except RecursionError:  # a caller already deep in its stack: still not a crash
        raise Refused(f"nested too deep to read here (under {max_depth} levels)") from None
