"""Running git, and the plain values the door hands out: object ids, decoded text, git's
errors. pygit2 is loaded here, lazily, for the rest of the door."""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple, NewType

from patchpack.git.where import DIFF_OPTIONS as DIFF_OPTIONS
from patchpack.git.where import ENCODING as ENCODING
from patchpack.git.where import ERRORS as ERRORS
from patchpack.git.where import GitFailed as GitFailed
from patchpack.git.where import decode as decode
from patchpack.git.where import encode as encode
from patchpack.git.where import run_git as run_git


def _lazy(name: str) -> ModuleType:
    """``name`` imported on first use of one of its attributes (importlib's LazyLoader)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    import pygit2 as pygit2  # re-exported: the door's other modules take it from here
else:
    # libgit2 costs 30 ms of start-up and 17 MB: `check` (the pre-commit hook) and `run` do
    # their work with the git program and never load it.
    pygit2 = _lazy("pygit2")

Oid = NewType("Oid", str)
"""A full hexadecimal object id."""
FULL_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?\Z")
"""A full object id, sha1 or sha256 (``.match`` it)."""


class CommitDiff(NamedTuple):
    oid: Oid
    title: str
    diff: str


ZERO_OID = Oid("0" * 40)
FILE_MODE = 0o100644
TREE_MODE = 0o040000


def _signature(ident: str) -> pygit2.Signature:
    """A signature from `git var`'s ``Name <email> 1700000000 +0000``."""
    who, _, when = ident.rpartition("> ")
    name, _, mail = who.partition(" <")
    seconds, zone = when.split()
    minutes = int(zone[1:3]) * 60 + int(zone[3:5])
    return pygit2.Signature(name, mail, int(seconds), -minutes if zone[0] == "-" else minutes)


@functools.lru_cache(maxsize=64)  # a series has few authors and many commits
def _person(text: str) -> tuple[str, str]:
    """Name and address of ``Name <address>`` as git splits an ident (the name is what comes
    before the ``<``: it may hold commas or brackets, ``dependabot[bot]``)."""
    m = re.fullmatch(r"([^<>]*?)\s*<([^<>]*)>\s*", text)
    if m:
        return (m[1].strip() or m[2], m[2])
    import email.utils

    name, mail = email.utils.parseaddr(text)
    return (name or mail, mail)


def _zone(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    return f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is rewritten (git writes a new index and renames it)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _utf8(text: str) -> bool:
    """Whether ``text`` is valid UTF-8 as it came (no bytes kept by surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _prune_empty_dirs(directory: Path, top: Path) -> None:
    while directory != top and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
