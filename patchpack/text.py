"""Words for what a user reads; imported by commands that must start fast."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """``1 file``, ``2 files``: a count and its noun, singular for one (never ``1 files``)."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
