"""Parse, measure and judge unified diffs.

The measures are those of DESIGN.md: *files* are the paths a diff changes (a rename is one
file), *diff lines* are the lines of the diff as `git diff -M` prints it with 3 lines of
context, headers included. A binary file counts as one file and as the lines git prints for it
(``Binary files a/x and b/x differ``), whether or not the input carried the binary data.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from patchpack.errors import BadInput
from patchpack.git.where import decode, encode
from patchpack.limits.hunks import quote, unquote

TYPE_CHECKING = False  # `check --staged` and `status` measure with none of the below (#16)
if TYPE_CHECKING:
    import email.message
    from collections.abc import Callable, Sequence

    import unidiff  # loaded by parse: a clean work tree's `status` has nothing to parse

# Extended header lines of a git diff, as git prints them (see git-diff(1)).
_GIT_HEADER = re.compile(
    r"(diff --git |diff --cc |diff -|old mode |new mode |deleted file mode |new file mode |"
    r"copy from |copy to |rename from |rename to |similarity index |dissimilarity index |"
    r"index |Binary files )"
)
# The first line of each mail written by `git format-patch`.
_MAIL_START = re.compile(rb"^From [0-9a-f]{40}(?:[0-9a-f]{24})? Mon Sep 17 00:00:00 2001\r?$", re.MULTILINE)
# A line that starts with @@ where a hunk header is due (after a +++ line or a hunk's line)
# but is not one: git calls the patch corrupt.
_CORRUPT_HUNK_HEADER = re.compile(r"^[ +\-\\].*\n(@@(?!@| -\d+(?:,\d+)? \+\d+(?:,\d+)? @@).*)$", re.MULTILINE)
_SUBJECT_TAG = re.compile(r"^\s*\[[^\]]*PATCH[^\]]*\]\s*")


class FileChange(NamedTuple):
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


class Measure(NamedTuple):
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
    text = ", ".join(
        dict.fromkeys(n.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for n in names)
    )
    return f"{text}: +{added} -{removed}" if added or removed else text


def describe_measure(m: Measure) -> str:
    # Names as git shows them: one that is not UTF-8 quoted, in octal escapes.
    return describe(
        [f"{quote(f.old_path)} -> {quote(f.path)}" if f.old_path else quote(f.path) for f in m.files],
        sum(f.added for f in m.files),
        sum(f.removed for f in m.files),
    )


class Limits(NamedTuple):
    max_files: int
    max_lines: int


class Verdict(NamedTuple):
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
            "files": {"count": self.measure.file_count, "max": self.limits.max_files, "ok": self.files_ok},
            "diff_lines": {"count": self.measure.lines, "max": self.limits.max_lines, "ok": self.lines_ok},
            "changes": [
                {
                    "path": f.path,
                    "old_path": f.old_path,
                    "status": f.status,
                    "binary": f.binary,
                    "added": f.added,
                    "removed": f.removed,
                    "lines": f.lines,
                }
                for f in self.measure.files
            ],
        }


class Mail(NamedTuple):
    """One patch of a `git format-patch` mail or mbox."""

    title: str
    author: str | None
    message: str
    diff: str


def parse(text: str) -> unidiff.PatchSet:
    """Parse a unified diff (git-style, `diff -u`, or the body of a mail); BadInput if malformed."""
    corrupt = _CORRUPT_HUNK_HEADER.search(text)
    if corrupt:
        # unidiff would take it for garbage between files, and the hunk's lines with it.
        raise BadInput(
            f"malformed diff: corrupt hunk header {corrupt[1]!r}",
            hint="a hunk header reads `@@ -START,COUNT +START,COUNT @@`; regenerate the diff with `git diff`",
        )
    import unidiff

    try:
        # unidiff splits on "\n" only when given a str, so CR, form feeds and other odd
        # characters inside lines stay where they are.
        return unidiff.PatchSet(text)
    except unidiff.UnidiffParseError as e:
        raise BadInput(f"malformed diff: {e}") from None


def measure(text: str) -> Measure:
    """Measure a diff text; an empty text measures zero files and zero lines."""
    if not text:
        return Measure(())
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
    headers = [line for line in info[starts[-1] :] if _GIT_HEADER.match(line)] if starts else []
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
    name = unquote(name.strip())  # a path git quoted is the path, as bytes kept in a str
    for prefix in ("a/", "b/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def split_mails(text: str) -> list[Mail] | None:
    """Split `git format-patch` output (one mail or an mbox) into patches; None if not mail.

    Bodies are read as bytes, as `git am` reads them (a patch is bytes whatever the mail's
    charset says); a mail whose lines end in CRLF has its CRs taken off, as `git am` does."""
    data = encode(text)
    starts = [m.start() for m in _MAIL_START.finditer(data)]
    if not starts or data[: starts[0]].strip():
        return None
    import email.parser  # mails only: a measure of a plain diff does without it (#16)

    mails = []
    for begin, end in zip(starts, [*starts[1:], len(data)]):
        chunk = data[begin:end]
        if chunk.split(b"\n", 1)[0].endswith(b"\r"):
            chunk = chunk.replace(b"\r\n", b"\n")  # as mailsplit does without --keep-cr
        head, _, body = chunk.partition(b"\n\n")
        # The default policy, compat32, keeps header values raw (fast); _subject and _author
        # decode them.
        message = email.parser.Parser().parsestr(decode(head), headersonly=True)
        body = _body(message, chunk, body)
        note, sep, rest = body.partition(b"\n---\n")
        title = _SUBJECT_TAG.sub("", _subject(message).replace("\n", " ")).strip()
        sender = message.get("From")
        mails.append(
            Mail(
                title=title,
                author=None if sender is None else _author(_unfold(str(sender))),
                message=(title + "\n\n" + decode(note).strip()).strip() if sep else title,
                diff=decode(rest if sep else body),
            )
        )
    return mails


def _body(message: email.message.Message, chunk: bytes, body: bytes) -> bytes:
    """A mail's body as bytes, its transfer encoding undone (as git mailinfo undoes it)."""
    if message.get_content_maintype() == "multipart":  # `format-patch --attach`
        import email.parser

        whole = email.parser.BytesParser().parsebytes(chunk)
        parts = [p.get_payload(decode=True) for p in whole.walk() if not p.is_multipart()]
        return b"\n".join(p for p in parts if isinstance(p, bytes))
    encoding = str(message.get("Content-Transfer-Encoding", "")).lower()
    if "base64" in encoding:
        import binascii

        try:
            return binascii.a2b_base64(body)
        except binascii.Error as e:
            raise BadInput(
                f"a mail's base64 body does not decode: {e}",
                hint="save the mail again from the mail client, or use `git format-patch` output",
            ) from None
    if "quoted-printable" in encoding:
        import quopri

        return quopri.decodestring(body)
    return body


def _unfold(value: str) -> str:
    return "".join(re.split(r"\n|\r", value))


def _subject(message: email.message.Message) -> str:
    """The subject, unfolded and decoded (RFC 2047), as ``policy.default`` gives it; its
    parser is slow, so a plain one (all `git format-patch` usually writes) skips it."""
    raw = message.get("Subject")
    if raw is None:
        return ""
    value = _unfold(str(raw))
    if value.isascii() and "=?" not in value:
        return value
    import email.policy  # its header parsers cost 10 ms to import

    return str(email.policy.default.header_factory("Subject", value))


# What git's ident.c trims off the ends of a name or address (its crud()).
_CRUD = "".join(map(chr, range(33))) + ",:;<>\"\\'"
_SPACE = " \t\n\v\f\r"  # C's isspace


def _author(value: str) -> str | None:
    """``Name <address>`` of a From header as `git am` makes it: RFC 2047 words decoded, then
    read as git's mailinfo.c reads it (handle_from: quotes and escapes taken off, the address
    is the word around the @, the rest the name, the address again where the name is none),
    then trimmed as git's ident.c trims it. ``dependabot[bot] <1+dependabot[bot]@users...>``
    stays as it is, where an RFC 5322 parser reads another address."""
    import contextlib
    import email.errors
    import email.header

    decoded = value = encode(value).decode("utf-8", "replace")  # git wants UTF-8 idents
    # git keeps a word it cannot decode as it is.
    with contextlib.suppress(LookupError, UnicodeError, email.errors.HeaderParseError):
        decoded = str(email.header.make_header(email.header.decode_header(value)))
    text = _unquote_pairs(decoded)
    at = text.find("@")
    if at < 0:  # parse_bogus_from: ``Name <address>`` without an @
        bra = decoded.find("<")
        ket = decoded.find(">", bra + 1) if bra >= 0 else -1
        name, mail = (
            (decoded[:bra].strip(_SPACE), decoded[bra + 1 : ket]) if ket >= 0 else (decoded.strip(_SPACE), "")
        )
    else:
        start = at
        while start > 0 and text[start - 1] not in _SPACE + "<":
            start -= 1
        if start > 0 and text[start - 1] == "<":
            text = text[: start - 1] + " " + text[start:]
        size = len(re.match(r"[^ \n\t\r\v\f>]*", text[start:])[0])  # type: ignore[index]
        mail = text[start : start + size]
        text = text[:start] + text[start + size + (1 if start + size < len(text) else 0) :]
        name = re.sub(r"[ \t\n\v\f\r]+", " ", text).strip(_SPACE)
        if name.startswith("(") and name.endswith(")"):
            name = name[1:-1]
    if not name or len(encode(name)) > 60 or any(c in name for c in "@<>"):
        name = mail  # get_sane_name
    name, mail = _without_crud(name), _without_crud(mail)
    return f"{name} <{mail}>" if mail else None  # no address: the change is the user's


def _unquote_pairs(text: str) -> str:
    """mailinfo.c's unquote_quoted_pair: ``"..."`` loses its quotes, ``(...)`` keeps its
    parentheses, and a backslash takes the next character as it is, in both."""
    out: list[str] = []
    i, depth, quoted = 0, 0, False
    while i < len(text):
        c = text[i]
        i += 1
        if (quoted or depth) and c == "\\":
            out.append(text[i : i + 1])
            i += 1
        elif quoted:
            if c == '"':
                quoted = False
            else:
                out.append(c)
        elif c == '"' and not depth:
            quoted = True
        else:
            depth += (c == "(") - (c == ")" and depth > 0)
            out.append(c)
    return "".join(out)


def _without_crud(text: str) -> str:
    """ident.c's strbuf_addstr_without_crud."""
    return re.sub(r"[\n<>]", "", text.strip(_CRUD))


def windows(pf: unidiff.PatchedFile, want: Callable[[unidiff.patch.Line], bool]) -> str:
    """The hunks of ``pf`` cut down to the rows ``want`` keeps, with their @@ headers redone."""
    out = []
    for hunk in pf:
        rows = list(hunk)
        kept = [want(r) if r.line_type != "\\" else False for r in rows]
        for i, r in enumerate(rows):  # "\ No newline at end of file" follows its line
            if r.line_type == "\\" and i and kept[i - 1]:
                kept[i] = True
        # The lines before the window; an empty side's start already names that line.
        old = hunk.source_start - (1 if hunk.source_length else 0)
        new = hunk.target_start - (1 if hunk.target_length else 0)
        i = 0
        while i < len(rows):
            if not kept[i]:
                old, new = rows[i].source_line_no or old, rows[i].target_line_no or new
                i += 1
                continue
            j = i
            while j < len(rows) and kept[j]:
                j += 1
            group = rows[i:j]
            olds = [r.source_line_no for r in group if r.source_line_no is not None]
            news = [r.target_line_no for r in group if r.target_line_no is not None]
            out.append(f"@@ -{_span(olds, old)} +{_span(news, new)} @@\n")
            out.extend(str(r) for r in group)
            old, new = (olds or [old])[-1], (news or [new])[-1]
            i = j
    return "".join(out)


def _span(numbers: list[int], before: int) -> str:
    if not numbers:
        return f"{before},0"
    return f"{numbers[0]}" if len(numbers) == 1 else f"{numbers[0]},{len(numbers)}"
