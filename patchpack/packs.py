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


def _delta(base_size: int, data: bytes, head: int, tail: int) -> bytes:
    out = bytearray(_size(base_size) + _size(len(data)))
    _copy(out, 0, head)
    middle = memoryview(data)[head:len(data) - tail]
    for at in range(0, len(middle), _INSERT_MAX):
        chunk = middle[at:at + _INSERT_MAX]
        out.append(len(chunk))
        out += chunk
    _copy(out, base_size - tail, tail)
    return bytes(out)


def _copy(out: bytearray, offset: int, size: int) -> None:
    while size:
        n = min(size, _COPY_MAX)
        command, args = 0x80, bytearray()
        for i in range(4):
            if (offset >> 8 * i) & 0xFF:
                command |= 1 << i
                args.append((offset >> 8 * i) & 0xFF)
        for i in range(3):
            if (n >> 8 * i) & 0xFF:
                command |= 0x10 << i
                args.append((n >> 8 * i) & 0xFF)
        out.append(command)
        out += args
        offset += n
        size -= n


def _index(entries: dict[bytes, tuple[int, int]], checksum: bytes) -> bytes:
    oids = sorted(entries)
    fanout = [0] * 256
    for oid in oids:
        fanout[oid[0]] += 1
    total, counts = 0, []
    for n in fanout:
        total += n
        counts.append(total)
    offsets, large = bytearray(), bytearray()
    for oid in oids:
        offset = entries[oid][0]
        if offset < 0x80000000:
            offsets += struct.pack(">I", offset)
        else:
            offsets += struct.pack(">I", 0x80000000 | len(large) // 8)
            large += struct.pack(">Q", offset)
    body = b"".join([b"\377tOc", struct.pack(">I", 2), struct.pack(">256I", *counts), *oids,
                     *(struct.pack(">I", entries[oid][1]) for oid in oids),
                     bytes(offsets), bytes(large), checksum])
    return body + hashlib.sha1(body).digest()
