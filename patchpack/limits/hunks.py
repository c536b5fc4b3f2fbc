"""Git diffs applied to file contents in process, exactly as `git apply` applies them, or not
at all.

`patchpack add` fits every queued diff to the tree it targets. Asking `git apply --cached` costs
two processes per diff; this module does the plain cases in process (text files modified,
added or deleted, no renames, no mode changes), as `git apply` does without fuzz: context must
match byte for byte, a hunk may move by an offset (git's search order, nearest first), lines an
earlier hunk wrote cannot be matched again, whitespace is never fixed. Whatever it is not sure
of, it *declines* (returns None) and the caller asks git, so the outcome, and every error
message, is always git's. Paths are decoded with ``surrogateescape``, as everywhere else.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from patchpack.errors import BadInput
from patchpack.git.where import decode, encode

_OCTAL = re.compile(r"[0-3][0-7]{2}")
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_HUNK = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_INDEX = re.compile(rb"index [0-9a-f]{4,64}\.\.[0-9a-f]{4,64}(?: ([0-7]{6}))?\n\Z")
REGULAR_MODES = (0o100644, 0o100755)
"""The modes of the files this module patches (not links, submodules or trees)."""
# Header lines of a git diff this module leaves to git (see gitdiff_* in git's apply.c).
_OTHER_HEADERS = (
    b"old mode ",
    b"new mode ",
    b"copy ",
    b"rename ",
    b"similarity index ",
    b"dissimilarity index ",
    b"GIT binary patch",
    b"Binary files ",
    b"literal ",
    b"delta ",
)
# Lines that would make git read something this module did not (another patch's header).
_LOOKS_LIKE_PATCH = (b"--- ", b"+++ ", b"@@ ", b"diff ", b"*** ", b"Index: ", b"GIT binary")


class Hunk(NamedTuple):
    old_start: int
    new_start: int
    before: tuple[bytes, ...]
    """The lines the hunk expects (context and removed), each with its newline if it has one."""
    after: tuple[bytes, ...]
    """The lines it leaves (context and added)."""
    trailing: int
    """Context lines after its last change: none means it must match at the end of the file."""


class FilePatch(NamedTuple):
    path: str
    status: str
    """``modified``, ``added`` or ``deleted``."""
    mode: int | None
    """The mode the diff names (``new file mode``, ``deleted file mode``, ``index`` line)."""
    hunks: tuple[Hunk, ...]


def unquote(name: str) -> str:
    """A path as git quotes it (``"a/\\303\\244"``), unquoted; other names as they are.
    BadInput for an escape git does not read (``unquote_c_style``: three octal digits, the
    first 0-3, or one of ``abtnvfr"\\``)."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    raw = bytearray()
    body, i = name[1:-1], 0
    while i < len(body):
        if body[i] != "\\":
            raw += encode(body[i])
            i += 1
        elif _OCTAL.match(body, i + 1):
            raw.append(int(body[i + 1 : i + 4], 8))
            i += 4
        elif body[i + 1 : i + 2] in _ESCAPES:
            raw.append(_ESCAPES[body[i + 1]])
            i += 2
        else:
            raise BadInput(f"{name}: a quoted path with an escape git does not read ({body[i : i + 4]!r})")
    return decode(bytes(raw))


_QUOTED = {byte: letter for letter, byte in _ESCAPES.items()}


def quote(path: str) -> str:
    """``path`` as git shows it: as it is if it is UTF-8 free of control characters, quotes
    and backslashes; else in double quotes, C escapes, every other byte over 0x7e in octal
    (``"caf\\351.txt"``), as git quotes names by default (core.quotePath)."""
    raw = encode(path)
    if _utf8(raw) and not any(b < 32 or b in b'"\\\x7f' for b in raw):
        return path
    out = [f"\\{_QUOTED[b]}" if b in _QUOTED else chr(b) if 32 <= b < 127 else f"\\{b:03o}" for b in raw]
    return '"' + "".join(out) + '"'


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- parsing -------------------------------------------------------------------------------------


class _Decline(Exception):
    """Not a case this module is sure about: git decides."""


def parse(diff: bytes) -> list[FilePatch] | None:
    """The file patches of a git-style diff, or None when it holds anything but plain text
    changes to distinct regular files (or anything git might read differently)."""
    try:
        return _Parser(diff).files()
    except (_Decline, BadInput):  # a name git may not read either: its message, not ours
        return None


class _Parser:
    def __init__(self, diff: bytes) -> None:
        if not diff.endswith(b"\n"):
            raise _Decline
        self.lines = [line + b"\n" for line in diff[:-1].split(b"\n")]
        self.i = 0
        self._last = b""  # the kind of the last hunk line read: b" ", b"-" or b"+"

    def files(self) -> list[FilePatch]:
        out: list[FilePatch] = []
        self._garbage()
        while self.i < len(self.lines):
            out.append(self._file())
            self._garbage()
        if not out or len({f.path for f in out}) != len(out):
            raise _Decline  # nothing (git: "no valid patches"), or one path patched twice
        return out

    def _garbage(self) -> None:
        """Skip what git skips around patches (a mail's diffstat and signature), up to the
        next header; anything that might be part of a patch is left to git."""
        after_patch = self.i > 0 and self.lines[self.i - 1][:1] in b"+- \\\n"
        while self.i < len(self.lines) and not self.lines[self.i].startswith(b"diff --git "):
            line = self.lines[self.i]
            if line.startswith(_LOOKS_LIKE_PATCH):
                raise _Decline
            if after_patch and line[:1] in b"+- @\\" and line != b"-- \n":
                raise _Decline  # more hunk lines than the hunk header counts
            after_patch = False
            self.i += 1

    def _file(self) -> FilePatch:
        path = _header_path(self.lines[self.i][len(b"diff --git ") : -1])
        self.i += 1
        status, mode, index_mode = "modified", None, None
        names: list[str | None] = []  # of the ---/+++ lines; None for /dev/null
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.startswith((b"new file mode ", b"deleted file mode ")):
                if status != "modified":
                    raise _Decline
                status, mode = "added" if line.startswith(b"new") else "deleted", _mode(line)
            elif line.startswith(b"index "):
                m = _INDEX.match(line)
                if not m or index_mode is not None:
                    raise _Decline
                index_mode = _mode(line) if m[1] else 0
            elif line.startswith((b"--- ", b"+++ ")):
                if len(names) == 2 or line[:4] != (b"--- ", b"+++ ")[len(names)]:
                    raise _Decline
                names.append(_name(line[4:-1]))
            elif line.startswith(_OTHER_HEADERS):
                raise _Decline
            else:
                break
            self.i += 1
        if index_mode:
            if status != "modified":
                raise _Decline
            mode = index_mode
        hunks: list[Hunk] = []
        if names:
            want = [None if status == "added" else "a/" + path, None if status == "deleted" else "b/" + path]
            if names != want:
                raise _Decline  # names that disagree: git says how
            while self.i < len(self.lines) and self.lines[self.i].startswith(b"@@ -"):
                hunks.append(self._hunk())
            if not hunks:
                raise _Decline
        elif status == "modified":
            raise _Decline  # a header alone: a mode change or something else git knows
        return FilePatch(path, status, mode, tuple(hunks))

    def _hunk(self) -> Hunk:
        m = _HUNK.match(self.lines[self.i])
        if not m:
            raise _Decline
        old_left = 1 if m[2] is None else int(m[2])
        new_left = 1 if m[4] is None else int(m[4])
        self.i += 1
        before: list[bytes] = []
        after: list[bytes] = []
        trailing, changed = 0, False
        while old_left or new_left:
            if self.i >= len(self.lines):
                raise _Decline
            line = self.lines[self.i]
            last, text = line[:1], line[1:]
            if last == b"\\" and before + after:
                self._no_newline(before, after)
                continue
            if last == b"\n":  # an empty context line, as newer GNU diff writes it
                last, text = b" ", b"\n"
            if last not in (b" ", b"-", b"+"):
                raise _Decline
            if last != b"+":
                before.append(text)
                old_left -= 1
            if last != b"-":
                after.append(text)
                new_left -= 1
            if old_left < 0 or new_left < 0:
                raise _Decline  # more lines than the header counts: git calls it corrupt
            changed, trailing = (True, 0) if last != b" " else (changed, trailing + 1)
            self._last = last
            self.i += 1
        if self.i < len(self.lines) and self.lines[self.i].startswith(b"\\"):
            self._no_newline(before, after)
        if not changed:
            raise _Decline  # git: a hunk that changes nothing is a corrupt patch
        if any(not line.endswith(b"\n") for line in (*before[:-1], *after[:-1])):
            raise _Decline  # "\\ No newline" in the middle of a hunk
        return Hunk(int(m[1]), int(m[3]), tuple(before), tuple(after), trailing)

    def _no_newline(self, before: list[bytes], after: list[bytes]) -> None:
        """``\\ No newline at end of file``: the line before it has no newline."""
        marker = self.lines[self.i]
        if len(marker) < 12 or not marker.startswith(b"\\ "):
            raise _Decline  # git: a corrupt patch
        sides = {b" ": (before, after), b"-": (before,), b"+": (after,)}[self._last]
        for side in sides:
            if not side[-1].endswith(b"\n") or (side[-1] == b"\n" and self._last == b" "):
                raise _Decline  # twice; or after an empty context line, which git drops
            side[-1] = side[-1][:-1]
        self.i += 1


def _header_path(rest: bytes) -> str:
    """P of ``diff --git a/P b/P``, only when the line says it without doubt."""
    text = decode(rest)
    if text.startswith('"'):
        m = re.fullmatch(r'("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*")', text)
        if not m:
            raise _Decline
        old, new = unquote(m[1]), unquote(m[2])
    else:
        half = (len(text) - 1) // 2
        old, new = text[:half], text[half + 1 :]
        if text[half : half + 1] != " ":
            raise _Decline
    if not (old.startswith("a/") and new.startswith("b/") and old[2:] == new[2:]):
        raise _Decline
    path = old[2:]
    if not _plain_path(path):
        raise _Decline
    return path


def _plain_path(path: str) -> bool:
    """A path git takes as it is: no quoting doubts, nothing `verify_path` might refuse."""
    if not path or path != path.strip() or '"' in path or "\\" in path:
        return False
    if any(ord(c) < 32 or ord(c) == 127 or 0xDC80 <= ord(c) <= 0xDCFF for c in path):
        return False  # control characters; bytes that are not UTF-8 (libgit2 takes none)
    for part in path.split("/"):
        # What git refuses on some file system (.git, .GIT., git~1, .g\u200cit...) is left to it.
        folded = "".join(c for c in part if c.isascii()).lower()
        if part in ("", ".", "..") or folded.startswith((".git", "git~")):
            return False
    return True


def _name(field: bytes) -> str | None:
    """The name of a ``---``/``+++`` line (None for /dev/null); git ends it at a tab."""
    text = decode(field)
    if text.startswith('"'):
        m = re.fullmatch(r'("(?:[^"\\]|\\.)*")(\t.*)?', text)
        if not m:
            raise _Decline
        return unquote(m[1])
    name = text.split("\t", 1)[0]
    return None if name == "/dev/null" else name


def _mode(line: bytes) -> int:
    """The mode that ends a header line; only a regular file's is taken."""
    mode = line.rsplit(b" ", 1)[1].strip()
    if not re.fullmatch(rb"[0-7]{6}", mode) or int(mode, 8) not in REGULAR_MODES:
        raise _Decline
    return int(mode, 8)


# -- applying ------------------------------------------------------------------------------------


def apply(old: bytes, hunks: tuple[Hunk, ...]) -> bytes | None:
    """``old`` with ``hunks`` applied as `git apply` does, or None (declined: git decides, and
    it says which hunk failed)."""
    image = _lines(old)
    patched = [False] * len(image)  # lines an earlier hunk wrote (git's LINE_PATCHED)
    for hunk in hunks:
        try:
            at = _find(image, patched, hunk)
        except _Decline:
            return None
        if at is None:
            return None
        end = at + len(hunk.before)
        image[at:end] = hunk.after
        patched[at:end] = [True] * len(hunk.after)
    return b"".join(image)


def _lines(data: bytes) -> list[bytes]:
    """Lines as git splits them: at LF only, each with its LF; the last may have none."""
    parts = data.split(b"\n")
    out = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _find(image: list[bytes], patched: list[bool], hunk: Hunk) -> int | None:
    """Where ``hunk`` applies, as git's find_pos finds it: first where the diff says, then one
    line after, one before, two after..., the context never reduced."""
    at_start = hunk.old_start <= 1  # git: a hunk at the top must match at the top
    at_end = hunk.trailing == 0  # and one without trailing context at the end
    size = len(image)
    if at_start:
        line = 0
    elif at_end:
        line = size - len(hunk.before)
    else:
        line = hunk.new_start - 1 if hunk.new_start else 0
    if not 0 <= line <= size:
        line = size
    if at_start or at_end:  # only one place can match: spare the search git makes around it
        return line if _matches(image, patched, hunk, line, at_end=at_end) else None
    back = forth = here = line
    step = 0
    while True:
        if _matches(image, patched, hunk, here, at_end=False):
            return here
        while True:
            if back == 0 and forth == size:
                return None
            if step % 2:
                if back == 0:
                    step += 1
                    continue
                back -= 1
                here = back
            else:
                if forth == size:
                    step += 1
                    continue
                forth += 1
                here = forth
            break
        step += 1


def _matches(image: list[bytes], patched: list[bool], hunk: Hunk, at: int, *, at_end: bool) -> bool:
    want = len(hunk.before)
    if at + want > len(image) or (at_end and at + want != len(image)):
        return False
    if any(patched[at : at + want]):
        return False
    here = image[at : at + want]
    if here == list(hunk.before):
        return True
    if (
        want
        and not hunk.before[-1].endswith(b"\n")
        and here[:-1] == list(hunk.before[:-1])
        and here[-1].startswith(hunk.before[-1])
    ):
        # git compares bytes, so a last line without its newline also matches the start of
        # a longer line; what it makes of that is left to it.
        raise _Decline
    return False
