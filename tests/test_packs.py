"""A file's versions written as one pack of deltas read back by git byte for byte (#15)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from patchpack.git import packs

from conftest import git


def _versions(rng: random.Random, count: int) -> list[packs.Version]:
    """Versions of one file as `split` makes them: new lines replace old ones from the top."""
    old = [f"old {i} {'o' * rng.randrange(200)}\n".encode() for i in range(600)]
    new = [f"new {i} {'n' * rng.randrange(200)}\n".encode() for i in range(700)]
    out: list[packs.Version] = []
    before = (0, 0)
    for k in range(1, count + 1):
        n, o = k * len(new) // count, k * len(old) // count
        data = b"".join(new[:n] + old[o:])
        head = len(b"".join(new[: before[0]]))
        out.append(packs.Version("f", data, head, len(b"".join(old[o:]))))
        before = (n, o)
    return out


def test_versions_read_back_as_written(repo: Path) -> None:
    rng = random.Random(7)
    versions = _versions(rng, 130)  # longer than a chain of deltas may be
    versions += [
        versions[3],
        packs.Version("g", b"", 0, 0),
        packs.Version("g", b"no newline", 0, 0),
        packs.Version("f", b"x", 5, 5),
    ]
    oids = packs.write_pack(repo / ".git" / "objects" / "pack", versions)
    assert oids == [packs.blob_id(v.data) for v in versions]
    shown = git(repo, "cat-file", "--batch", input="\n".join(oids) + "\n")
    expected = "".join(f"{oid} blob {len(v.data)}\n{v.data.decode()}\n" for oid, v in zip(oids, versions))
    assert shown == expected
    git(repo, "fsck", "--full", "--strict")
    (idx,) = (repo / ".git" / "objects" / "pack").glob("*.idx")
    stats = git(repo, "verify-pack", "-v", str(idx))
    assert "chain length = 50:" in stats and "chain length = 51" not in stats
    pack = idx.with_suffix(".pack").stat().st_size
    assert pack < sum(len(v.data) for v in versions) / 20


def test_nothing_to_write_leaves_no_pack(repo: Path) -> None:
    assert packs.write_pack(repo / ".git" / "objects" / "pack", []) == []
    assert list((repo / ".git" / "objects" / "pack").iterdir()) == []


_TYPES = {"commit": 1, "tree": 2, "blob": 3}


def _object(kind: str, data: bytes) -> tuple[bytes, int, bytes]:
    return hashlib.sha1(b"%s %d\0" % (kind.encode(), len(data)) + data).digest(), _TYPES[kind], data


def test_a_batch_of_objects_reads_back_as_written(repo: Path) -> None:
    # A queued series' new blobs, trees and commits, each whole (Repo.flush, #16).
    blobs = [_object("blob", f"line {i}\n".encode() * i) for i in range(150)]
    tree = _object("tree", b"".join(b"100644 f%03d\0" % i + oid for i, (oid, _, _) in enumerate(blobs)))
    who = b"A U Thor <a@example.com> 0 +0000"
    commit = _object(
        "commit", b"tree %s\nauthor %s\ncommitter %s\n\nA batch\n" % (tree[0].hex().encode(), who, who)
    )
    packs.write_objects(repo / ".git" / "objects" / "pack", [*blobs, tree, commit])
    git(repo, "fsck", "--full", "--strict")
    assert git(repo, "log", "-1", "--format=%s", commit[0].hex()) == "A batch\n"
    assert git(repo, "cat-file", "-p", f"{commit[0].hex()}:f149") == "line 149\n" * 149
    (idx,) = (repo / ".git" / "objects" / "pack").glob("*.idx")
    assert "non delta: 152 objects" in git(repo, "verify-pack", "-v", str(idx))


def test_no_objects_leave_no_pack(repo: Path) -> None:
    packs.write_objects(repo / ".git" / "objects" / "pack", [])
    assert list((repo / ".git" / "objects" / "pack").iterdir()) == []
