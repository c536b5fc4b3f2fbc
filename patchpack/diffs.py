"""Parse, measure and judge unified diffs.

The measures are those of DESIGN.md: *files* are the paths a diff changes (a rename is one
file), *diff lines* are the lines of the diff as `git diff -M` prints it with 3 lines of
context, headers included. A binary file counts as one file and as the lines git prints for it
(``Binary files a/x and b/x differ``), whether or not the input carried the binary data.
"""

from __future__ import annotations

import email.message
import email.parser
import re
from collections.abc import Sequence
from dataclasses import dataclass

import unidiff

from patchpack.errors import BadInput

# Extended header lines of a git diff, as git prints them (see git-diff(1)).
_GIT_HEADER = re.compile(
    r"(diff --git |diff --cc |diff -|old mode |new mode |deleted file mode |new file mode |"
    r"copy from |copy to |rename from |rename to |similarity index |dissimilarity index |"
    r"index |Binary files )"
)
# The first line of each mail written by `git format-patch`.
_MAIL_START = re.compile(r"^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001$", re.MULTILINE)
_SUBJECT_TAG = re.compile(r"^\s*\[[^\]]*PATCH[^\]]*\]\s*")
# ``Name <address>`` as format-patch writes it, which policy.default would give back unchanged.
_PLAIN_ADDRESS = re.compile(r"[\w'-]+(?: [\w'-]+)* <[^<>()\s\\\",;:]+>")


@dataclass(frozen=True)
class FileChange:
    path: str
    old_path: str | None
    """The path before a rename or copy; None when the path did not change."""
    status: str
    """One of ``added``, ``deleted``, ``renamed``, ``modified``."""
    binary: bool
    added: int
    removed: int
    lines: int
    """This file's share of the diff lines."""


@dataclass(frozen=True)
class Measure:
    files: tuple[FileChange, ...]

    @property
    def file_count(self) -> int:
        return len(self.files)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)


def describe(names: Sequence[str], added: int, removed: int) -> str:
    """The title of a change given none: its files and its lines, ``a.py, b.py: +12 -3``
    (a rename named ``old -> new``; no counts when no line changes, as for a pure rename)."""
    # A path that is not UTF-8 (its bytes kept as surrogates) would make a message git
    # cannot write: its odd bytes read as U+FFFD in a title.
    text = ", ".join(dict.fromkeys(
        n.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for n in names))
    return f"{text}: +{added} -{removed}" if added or removed else text


def describe_measure(m: Measure) -> str:
    return describe([f"{f.old_path} -> {f.path}" if f.old_path else f.path for f in m.files],
                     sum(f.added for f in m.files), sum(f.removed for f in m.files))


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_lines: int


@dataclass(frozen=True)
class Verdict:
    measure: Measure
    limits: Limits

    @property
    def files_ok(self) -> bool:
        return self.measure.file_count <= self.limits.max_files

    @property
    def lines_ok(self) -> bool:
        return self.measure.lines <= self.limits.max_lines

    @property
    def ok(self) -> bool:
        return self.files_ok and self.lines_ok

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "files": {"count": self.measure.file_count, "max": self.limits.max_files,
                      "ok": self.files_ok},
            "diff_lines": {"count": self.measure.lines, "max": self.limits.max_lines,
                           "ok": self.lines_ok},
            "changes": [
                {"path": f.path, "old_path": f.old_path, "status": f.status,
                 "binary": f.binary, "added": f.added, "removed": f.removed, "lines": f.lines}
                for f in self.measure.files
            ],
        }


@dataclass(frozen=True)
class Mail:
    """One patch of a `git format-patch` mail or mbox."""

    title: str
    author: str | None
    message: str
    diff: str


def parse(text: str) -> unidiff.PatchSet:
    """Parse a unified diff (git-style, `diff -u`, or the body of a mail); BadInput if malformed."""
    try:
        # unidiff splits on "\n" only when given a str, so CR, form feeds and other odd
        # characters inside lines stay where they are.
        return unidiff.PatchSet(text)
    except unidiff.UnidiffParseError as e:
        raise BadInput(f"malformed diff: {e}") from None


def measure(text: str) -> Measure:
    """Measure a diff text; an empty text measures zero files and zero lines."""
    return Measure(tuple(_file_change(pf) for pf in parse(text)))


def measure_input(text: str, *, source: str) -> Measure:
    """Measure a diff given by the user: it must hold at least one file diff."""
    found = measure(text)
    if not found.files:
        raise BadInput(
            f"no diff found in {source}",
            hint="pass a unified diff, e.g. `git diff > change.patch`",
        )
    return found


def _file_change(pf: unidiff.PatchedFile) -> FileChange:
    info = [str(line) for line in pf.patch_info or []]
    starts = [i for i, line in enumerate(info) if line.startswith("diff ")]
    headers = [line for line in info[starts[-1]:] if _GIT_HEADER.match(line)] if starts else []
    lines = len(headers)
    if pf.is_binary_file and not any(h.startswith("Binary files ") for h in headers):
        lines += 1  # git diff prints one line for a binary change; a mail carries the data
    if len(pf):
        lines += 2 + sum(1 + len(hunk) for hunk in pf)  # ---/+++ and each hunk
    if pf.is_added_file:
        status = "added"
    elif pf.is_removed_file:
        status = "deleted"
    elif pf.is_rename:
        status = "renamed"
    else:
        status = "modified"
    path = _strip_prefix(pf.target_file if not pf.is_removed_file else pf.source_file)
    old = _strip_prefix(pf.source_file) if pf.is_rename else None
    return FileChange(
        path=path,
        old_path=old,
        status=status,
        binary=bool(pf.is_binary_file),
        added=pf.added,
        removed=pf.removed,
        lines=lines,
    )


def _strip_prefix(name: str) -> str:
    name = name.strip()
    if name.startswith('"') and name.endswith('"'):
        name = name[1:-1]
    for prefix in ("a/", "b/"):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def split_mails(text: str) -> list[Mail] | None:
    """Split `git format-patch` output (one mail or an mbox) into patches; None if not mail."""
    starts = [m.start() for m in _MAIL_START.finditer(text)]
    if not starts or text[: starts[0]].strip():
        return None
    mails = []
    for begin, end in zip(starts, [*starts[1:], len(text)]):
        chunk = text[begin:end]
        # The default policy, compat32, keeps header values raw (fast); _header reads them
        # as policy.default would.
        message = email.parser.Parser().parsestr(chunk)
        body = message.get_payload()
        assert isinstance(body, str)
        note, sep, rest = body.partition("\n---\n")
        diff = rest if sep else body
        subject = _header(message, "Subject") or ""
        title = _SUBJECT_TAG.sub("", subject.replace("\n", " ")).strip()
        mails.append(
            Mail(
                title=title,
                author=_header(message, "From") or None,
                message=(title + "\n\n" + note.strip()).strip() if sep else title,
                diff=diff,
            )
        )
    return mails


def _header(message: email.message.Message, name: str) -> str | None:
    """A header's value, unfolded and decoded (RFC 2047), as ``policy.default`` gives it; its
    parser is slow, so plain values (all a mail from `git format-patch` usually has) skip it."""
    raw = message.get(name)
    if raw is None:
        return None
    value = "".join(re.split(r"\n|\r", str(raw)))
    if value.isascii() and "=?" not in value and (
            name == "Subject" or _PLAIN_ADDRESS.fullmatch(value)):
        return value
    import email.policy  # its header parsers cost 10 ms to import

    return str(email.policy.default.header_factory(name, value))
