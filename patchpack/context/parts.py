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
TITLES = {
    "diff": "diff",
    "located": "located",
    "related": "related",
    "explicit": "ranges",
    "widened": "widened",
}
_LANGS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".java": "java",
    ".rb": "ruby",
    ".sh": "sh",
    ".md": "markdown",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
}


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
    parts: tuple[Part, ...]
    dropped: tuple[Dropped, ...]
    notes: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def filled(self) -> bool:
        """Whether ``--fill`` spent the budget on widened hunks."""
        return any(p.section == "widened" for p in self.parts)

    def warnings(self) -> list[str]:
        """The budget guard: one line at 70% and at 90% of the budget."""
        used = self.tokens / self.budget if self.budget else 1.0
        level = next((w for w in WARN_AT if used >= w), None)
        if self.filled:
            level = None  # asked to fill the budget: being near it is the point
        if level is None and not self.dropped:
            return []
        what = "dropped or shortened parts to fit; " if self.dropped else ""
        return [
            f"warning: the context pack is at {used:.0%} of its budget ({self.tokens} of "
            f"{self.budget} tokens, {self.counter}); {what}narrow the request with "
            "--path GLOB, a tighter --grep, --at FILE:START-END, or --cached/--worktree"
        ]

    def as_json(self) -> str:
        sections = []
        for name in TITLES:
            parts = [p for p in self.parts if p.section == name]
            if parts:
                sections.append(
                    {
                        "kind": name,
                        "source": self.sources.get(name, ""),
                        "tokens": sum(p.tokens for p in parts),
                        "parts": [p.as_dict() for p in parts],
                    }
                )
        return json.dumps(
            {
                "tokens": self.tokens,
                "counter": self.counter,
                "budget": self.budget,
                "sections": sections,
                "dropped": [{"what": d.what, "ask": d.ask} for d in self.dropped],
                "notes": list(self.notes),
                "unmatched": list(self.unmatched),
            },
            indent=2,
        )


def fence(text: str, lang: str) -> str:
    ticks = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`{3,}", text)), default=0))
    return f"{ticks}{lang}\n{text if text.endswith(chr(10)) else text + chr(10)}{ticks}\n"
