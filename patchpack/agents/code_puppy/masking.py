"""The history kept short in code: observation masking of old tool outputs.

The truncation cadence (every ``patchpack.truncateEvery`` iterations, an iteration being an
applied micro-patch) used to be a reminder to type ``/truncate 6``. Here it is an action: when
the cadence comes round, or whenever the conversation passes the context budget, every tool
output older than the last ``patchpack.truncateKeep`` is replaced, in what is sent to the model,
by a one-line stub that says how to get it back. The system prompt, the user's messages, the
model's own replies and the last outputs are sent whole. Masking, not summarising: published
results on SWE-bench agents found masking halves cost at an equal solve rate, where LLM
summaries lost solve rate on GLM models.

A masked output stays masked for the rest of the session (the masker remembers its call id):
the model's view of the history only ever shrinks, so the provider's prompt cache is broken
once a cadence, not on every request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from patchpack.text import counted

_RUN_ID = re.compile(r"patchpack run --show (\w+)")


@dataclass(frozen=True)
class Observation:
    """One tool output in the history, as the masker sees it."""

    call_id: str
    tool: str
    args: Mapping[str, Any]
    text: str


@dataclass
class Masker:
    """Which outputs are masked; one per agent session."""

    keep: int = 6
    every: int = 2
    masked: set[str] = field(default_factory=set)
    seen: int | None = None
    """The iteration count at the last request: the cadence is due when it passes a multiple
    of ``every``."""

    def update(
        self, outputs: Sequence[Observation], *, iterations: int, over_budget: bool
    ) -> list[Observation]:
        """Mask what is due before a request; return the outputs masked now."""
        due = over_budget or (
            self.every > 0 and self.seen is not None and iterations // self.every > self.seen // self.every
        )
        self.seen = iterations
        if not due:
            return []
        old = outputs[: -self.keep] if self.keep > 0 else outputs
        new = [o for o in old if o.call_id not in self.masked]
        self.masked.update(o.call_id for o in new)
        return new

    def is_masked(self, call_id: str) -> bool:
        return call_id in self.masked


def stub(o: Observation) -> str:
    """The one line that stands for a masked output: what it was, and how to get it back."""
    found = _RUN_ID.search(o.text)
    what = f"[patchpack masked this {o.tool} output ({counted(_lines(o.text), 'line')})"
    if found:
        return f"{what}; `patchpack run --show {found[1]}` prints it again]"
    command = o.args.get("command")
    if isinstance(command, str):
        return f"{what} of `{_short(command)}`; run it again if you need it]"
    path = o.args.get("file_path")
    if isinstance(path, str):
        start, count = o.args.get("start_line"), o.args.get("num_lines")
        where = (
            f" lines {start}-{start + count - 1}" if isinstance(start, int) and isinstance(count, int) else ""
        )
        return f"{what} of {_short(path)}{where}; read it again if you need it]"
    return f"{what}; call the tool again if you need it]"


def _lines(text: str) -> int:
    # Code Puppy's tools return a JSON object (a shell's stdout and stderr, a read's content)
    # that comes to the model on one line: count the lines of the text inside it.
    try:
        fields = json.loads(text)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        return len(text.splitlines())
    inner = [v for k, v in fields.items() if k in ("stdout", "stderr", "content") and isinstance(v, str)]
    return sum(len(v.splitlines()) for v in inner) if inner else len(text.splitlines())


def _short(text: str, most: int = 120) -> str:
    one = " ".join(text.split())
    return one if len(one) <= most else one[: most - 3] + "..."
