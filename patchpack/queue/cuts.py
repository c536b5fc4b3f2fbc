"""Where a Python file may be cut: between logical lines, so each piece still parses.

`split` cuts a file too big for one micro-patch into consecutive pieces; a piece's file is the
new text up to the cut and the old text after it. It cuts between two hunks where it can (each
piece then holds whole edits); inside a hunk too big for one piece, in a Python file, a cut in
the middle of a statement (one a formatter re-wrapped, say) would leave a file that does not
parse: a commit that fails the project's linter and breaks `git bisect`. So in a ``.py`` file
whose new text parses, a cut goes where a logical line starts in both the old and the new text
(no bracket, string or backslash continuation open) and the spliced text parses.
"""

from __future__ import annotations

import ast
import io
import tokenize

_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
PARSED_MOST = 256 * 1024
"""A longer file is cut by its logical lines alone: parsing it at each cut would cost more
than the split."""


def starts(text: bytes) -> frozenset[int] | None:
    """The 0-based lines of ``text`` a cut may go before (its end included), or None when it
    is not Python that tokenizes."""
    safe = {0, text.count(b"\n") + (not text.endswith(b"\n"))}
    depth = 0
    try:
        for tok in tokenize.tokenize(io.BytesIO(text).readline):
            if tok.type == tokenize.OP:
                depth += (tok.string in _OPEN) - (tok.string in _CLOSE)
            elif tok.type == tokenize.NEWLINE or (tok.type == tokenize.NL and depth == 0):
                safe.add(tok.end[0])
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None
    return frozenset(safe)


def parses(text: bytes) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


class PythonCuts:
    """The cuts a Python file allows: :meth:`allows` by its lines, :meth:`keeps` by parsing."""

    def __init__(self, old_starts: frozenset[int], new_starts: frozenset[int], check: bool) -> None:
        self.old_starts, self.new_starts, self.check = old_starts, new_starts, check

    def allows(self, old_line: int, new_line: int) -> bool:
        return old_line in self.old_starts and new_line in self.new_starts

    def keeps(self, text: bytes) -> bool:
        """Whether the text a cut leaves parses (taken as so for a file too long to parse)."""
        return not self.check or parses(text)


def for_file(path: str, old: bytes, new: bytes) -> PythonCuts | None:
    """The cuts of a Python file whose new text parses; None when any cut will do."""
    if not path.endswith((".py", ".pyi")) or not parses(new):
        return None
    old_starts, new_starts = starts(old), starts(new)
    if old_starts is None or new_starts is None:
        return None
    return PythonCuts(old_starts, new_starts, len(new) <= PARSED_MOST)
