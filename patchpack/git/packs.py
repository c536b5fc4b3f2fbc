"""Objects written as one git pack: many versions of a file, each a delta on the version
before it, or a batch of new objects (a series queued), each whole.

`split` cuts a large change of one file into hundreds of pieces, and each piece is a commit
holding the whole file as it is after that piece. Written as loose objects, every version is
compressed whole: a file of 200,000 lines cut into 2,000 pieces wrote 10 GB through zlib (#15).
The caller knows what each version shares with the one before (the text before the piece and
after it), so each is written here as a delta of a few hundred bytes: copy the shared head,
insert the piece's lines, copy the shared tail. What is left per version is its object id,
the SHA-1 of its text, which git needs anyway.

The pack and its index (version 2) are written as git writes them (gitformat-pack(5)): the
pack first, the index last, each renamed into place, so a reader sees all of it or none.
This module only writes files; ``Repo.write_blob_series`` and ``Repo.flush`` decide where and
when.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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


def write_pack(directory: Path, versions: Iterable[Version]) -> list[str]:
    """Write ``versions`` as blobs into a new pack in ``directory`` (``objects/pack``);
    their object ids, in order."""
    oids: list[str] = []
    _write(directory, lambda out: _write_versions(out, versions, oids))
    return oids


def write_objects(directory: Path, objects: Iterable[tuple[bytes, int, bytes]]) -> None:
    """Write ``objects`` (raw id, type, content; a commit is 1, a tree 2, a blob 3, as in a
    pack) into a new pack in ``directory``, each whole: a batch of small new objects, which
    libgit2's pack builder spent longer searching deltas for than writing (#16)."""
    _write(directory, lambda out: _write_whole(out, objects))


def _write(directory: Path, fill: Callable[[BinaryIO], dict[bytes, tuple[int, int]]]) -> None:
    """A new pack in ``directory`` of the objects ``fill`` writes after the pack's header (the
    ids written, with their offsets and CRC-32s), and the pack's index."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="tmp_pack_", dir=directory)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(b"PACK" + struct.pack(">II", 2, 0))  # the count is set at the end
            entries = fill(out)
        if not entries:
            os.unlink(tmp)
            return
        checksum = _finish(tmp, len(entries))
        name = directory / f"pack-{checksum.hex()}"
        os.replace(tmp, name.with_suffix(".pack"))
        fd, tmp = tempfile.mkstemp(prefix="tmp_idx_", dir=directory)
        with os.fdopen(fd, "wb") as idx:
            idx.write(_index(entries, checksum))
        os.chmod(tmp, 0o444)
        os.replace(tmp, name.with_suffix(".idx"))
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _write_versions(
    out: BinaryIO, versions: Iterable[Version], oids: list[str]
) -> dict[bytes, tuple[int, int]]:
    entries: dict[bytes, tuple[int, int]] = {}  # object id -> (offset, CRC-32 of its bytes)
    written: dict[bytes, _Written] = {}
    last: dict[Hashable, _Written] = {}
    offset = out.tell()
    for v in versions:
        oid = bytes.fromhex(blob_id(v.data))
        oids.append(oid.hex())
        if oid in written:  # the same text again: one object, and the chain goes on
            last[v.chain] = written[oid]
            continue
        before = last.get(v.chain)
        if (
            before is None
            or before.depth >= _DEPTH
            or before.size > _OFFSET_MAX
            or v.head + v.tail > min(before.size, len(v.data))
        ):
            raw = _header(_BLOB, len(v.data)) + zlib.compress(v.data, 1)
            depth = 0
        else:
            delta = _delta(before.size, v.data, v.head, v.tail)
            raw = (
                _header(_OFS_DELTA, len(delta)) + _distance(offset - before.offset) + zlib.compress(delta, 1)
            )
            depth = before.depth + 1
        out.write(raw)
        entries[oid] = (offset, zlib.crc32(raw))
        written[oid] = last[v.chain] = _Written(offset, len(v.data), depth)
        offset += len(raw)
    return entries


def _write_whole(out: BinaryIO, objects: Iterable[tuple[bytes, int, bytes]]) -> dict[bytes, tuple[int, int]]:
    entries: dict[bytes, tuple[int, int]] = {}
    offset = out.tell()
    for oid, kind, data in objects:
        raw = _header(kind, len(data)) + zlib.compress(data, 1)
        out.write(raw)
        entries[oid] = (offset, zlib.crc32(raw))
        offset += len(raw)
    return entries


def _finish(path: str, count: int) -> bytes:
    """Set the object count in the header and append the pack's checksum."""
    sha = hashlib.sha1()
    with open(path, "r+b") as f:
        f.seek(8)
        f.write(struct.pack(">I", count))
        f.seek(0)
        while chunk := f.read(1 << 20):
            sha.update(chunk)
        checksum = sha.digest()
        f.write(checksum)
    os.chmod(path, 0o444)
    return checksum


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
    middle = memoryview(data)[head : len(data) - tail]
    for at in range(0, len(middle), _INSERT_MAX):
        chunk = middle[at : at + _INSERT_MAX]
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
    body = b"".join(
        [
            b"\377tOc",
            struct.pack(">I", 2),
            struct.pack(">256I", *counts),
            *oids,
            *(struct.pack(">I", entries[oid][1]) for oid in oids),
            bytes(offsets),
            bytes(large),
            checksum,
        ]
    )
    return body + hashlib.sha1(body).digest()
