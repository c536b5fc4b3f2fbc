"""Many versions of a file written as one git pack, each a delta on the version before it.

`split` cuts a large change of one file into hundreds of pieces, and each piece is a commit
holding the whole file as it is after that piece. Written as loose objects, every version is
compressed whole: a file of 200,000 lines cut into 2,000 pieces wrote 10 GB through zlib (#15).
The caller knows what each version shares with the one before (the text before the piece and
after it), so each is written here as a delta of a few hundred bytes: copy the shared head,
insert the piece's lines, copy the shared tail. What is left per version is its object id,
the SHA-1 of its text, which git needs anyway.

The pack and its index (version 2) are written as git writes them (gitformat-pack(5)): the
pack first, the index last, each renamed into place, so a reader sees all of it or none.
This module only writes files; ``QueueGit.write_blob_series`` decides where and when.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path

_BLOB, _OFS_DELTA = 3, 6
_DEPTH = 50
"""Deltas in a row before a version is written whole again: git's own default depth, which
bounds what a reader resolves to read one version."""
_COPY_MAX = 0xFFFFFF  # bytes one copy instruction can name
_INSERT_MAX = 0x7F  # bytes one insert instruction can carry
_OFFSET_MAX = 0xFFFFFFFF  # a copy names its offset in 4 bytes


@dataclass(frozen=True)
class Version:
    """One version of a file; ``head`` and ``tail`` bytes of it, at its start and its end,
    are those of the previous version with the same ``chain`` (ignored for the first)."""

    chain: Hashable
    data: bytes
    head: int
    tail: int


@dataclass(frozen=True)
class _Written:
    offset: int
    size: int
    depth: int


def blob_id(data: bytes) -> str:
    sha = hashlib.sha1(b"blob %d\0" % len(data))
    sha.update(data)
    return sha.hexdigest()


def _header(kind: int, size: int) -> bytes:
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def _distance(n: int) -> bytes:
    """An OFS_DELTA's distance back to its base (big-endian, each more byte adding one)."""
    out = bytearray([n & 0x7F])
    n >>= 7
    while n:
        n -= 1
        out.insert(0, 0x80 | (n & 0x7F))
        n >>= 7
    return bytes(out)


def _size(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    out.append(n)
    return bytes(out)
