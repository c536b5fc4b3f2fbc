"""What a context pack is made of: the request, its parts (one file's diff, one hunk), what
was dropped to fit the budget, and the pack as printed or as JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from patchpack.tokens import Counter

WARN_AT = (0.9, 0.7)
ASK_AT = "patchpack context --at "
# Sections in the order printed, with their titles.
TITLES = {"diff": "diff", "located": "located", "related": "related", "explicit": "ranges",
           "widened": "widened"}
_LANGS = {".py": "python", ".pyi": "python", ".js": "javascript", ".ts": "typescript",
          ".go": "go", ".rs": "rust", ".c": "c", ".h": "c", ".cpp": "cpp", ".java": "java",
          ".rb": "ruby", ".sh": "sh", ".md": "markdown", ".toml": "toml", ".yaml": "yaml",
          ".yml": "yaml", ".json": "json"}


@dataclass(frozen=True)
class Request:
    """What to pack; the CLI's options as plain values."""

    base: str | None = None
    side: str = "both"
    """``both`` (staged and unstaged), ``cached`` or ``worktree``."""
    function_context: bool = False
    greps: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    ats: tuple[str, ...] = ()
    budget: int = 50_000
    max_file_lines: int = 200
    max_hunk_lines: int = 80
    related: bool = True
    """Add what the located Python code uses from its own file (:func:`locate.related`)."""
    fill: bool = False
    """Spend what the budget leaves on the code around the located hunks (:mod:`widen`)."""
    untracked: bool = True
    """Untracked files that are not ignored join the diff as new files (:mod:`untracked`)."""


@dataclass(frozen=True)
class Part:
    """One droppable piece of a pack: a file's diff, or a hunk of code."""

    section: str
    """``diff``, ``located``, ``related`` or ``explicit``."""
    path: str
    body: str
    """The diff or the lines of code, unfenced."""
    ask: str
    """The command that gets it back when it is dropped."""
    start: int = 0
    end: int = 0
    label: str = ""
    short: Part | None = None
    """A shorter form (a diff's headers and changed lines only)."""
    tokens: int = 0
    """The count of :attr:`text`, set by :func:`counted`."""
    only: tuple[int, ...] = ()
    """A shortened hunk's lines (its matches and their ``def``); ``...`` stands for the rest."""

    @property
    def text(self) -> str:
        """As printed: a fenced block, under a heading for hunks."""
        if self.section == "diff":
            return fence(self.body, "diff")
        label = f" ({self.label})" if self.label else ""
        lang = _LANGS.get(PurePosixPath(self.path).suffix, "")
        return f"### {self.path}:{self.start}-{self.end}{label}\n" + fence(self.body, lang)

    def describe(self) -> str:
        if self.section == "diff":
            return f"diff of {self.path}"
        label = f" ({self.label})" if self.label else ""
        return f"{self.section} {self.path}:{self.start}-{self.end}{label}"

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"path": self.path, "tokens": self.tokens}
        if self.section == "diff":
            out["shortened"] = self.label == "shortened"
        else:
            out.update(start=self.start, end=self.end, label=self.label)
            out.update({"lines": list(self.only)} if self.only else {})
        return {**out, "text": self.body}


def counted(part: Part, counter: Counter) -> Part:
    return replace(part, tokens=counter.count(part.text))


@dataclass(frozen=True)
class Dropped:
    what: str
    ask: str

    def line(self) -> str:
        # Hunks come back with `--at` and what names them; the heading says so once.
        return f"- {self.what}" + ("" if self.ask.startswith(ASK_AT) else f": `{self.ask}`")


@dataclass(frozen=True)
class Pack:
    """A fitted pack; ``text`` is what is printed and ``tokens`` its exact count."""

    text: str
    tokens: int
    counter: str
    budget: int
