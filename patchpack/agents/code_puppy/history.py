"""The history kept short: the masker (masking.py) applied to the messages Code Puppy is about
to send (``transform_model_messages``, once a request).

Messages are pydantic-ai's (``ModelRequest``/``ModelResponse`` with ``parts``), read by their
documented attributes (``part_kind``, ``tool_call_id``, ``tool_name``, ``content``, ``args``) and
replaced with ``dataclasses.replace`` in the list Code Puppy sends (its history keeps the
originals), so patchpack needs neither pydantic-ai nor Code Puppy to import this.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import MutableSequence
from dataclasses import dataclass, field
from typing import Any

from patchpack import tokens
from patchpack.agents import loop as agents
from patchpack.agents.code_puppy import masking, plugin
from patchpack.agents.code_puppy.masking import Observation
from patchpack.git import Repo


def _text(part: Any) -> str:
    render = getattr(part, "model_response_str", None)
    if callable(render):
        return str(render())
    content = getattr(part, "content", None)
    if content is None:
        content = getattr(part, "args", "")
    return content if isinstance(content, str) else json.dumps(content, default=str)


def _args(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


RECENT = 4
"""The texts a narrowed read looks in for what the agent is after (reads.py), newest last."""
RECENT_CHARS = 20_000
"""Of each, the end: a failure's file:line is near it, and a read never scans megabytes."""
# Outputs that point at code the agent will read next; a read's own output names every def of
# its file, and would point each read at the file's first def.
_POINTERS = frozenset({"shell", "agent_run_shell_command", "run_shell_command", "grep"})


def recent(messages: MutableSequence[Any]) -> list[str]:
    """The user's prompts and the shell and grep outputs among ``messages``: the last
    ``RECENT``."""
    texts = []
    for message in messages:
        for part in getattr(message, "parts", ()):
            kind = getattr(part, "part_kind", None)
            if kind == "user-prompt" and isinstance(getattr(part, "content", None), str):
                texts.append(part.content)
            elif kind == "tool-return" and getattr(part, "tool_name", None) in _POINTERS:
                texts.append(_text(part))
    return [text[-RECENT_CHARS:] for text in texts[-RECENT:]]


@dataclass
class History:
    maskers: dict[str, masking.Masker] = field(default_factory=dict)
    stubs: dict[str, str] = field(default_factory=dict)
    """The stub of each masked output, by call id: the same text on every request."""

    @staticmethod
    def size(repo: Repo, messages: MutableSequence[Any]) -> int:
        """The tokens of what is about to be sent (the masker's context budget measure)."""
        counter = tokens.get_counter(plugin.settings(repo).tokenizer)
        return sum(counter.count(_text(p)) for m in messages for p in getattr(m, "parts", ()))

    def mask(self, agent: str | None, messages: MutableSequence[Any], repo: Repo, size: int) -> None:
        """Replace, in ``messages``, the outputs the masker of ``agent`` has masked."""
        settings = plugin.settings(repo)
        masker = self.maskers.setdefault(
            agent or "", masking.Masker(keep=settings.truncate_keep, every=settings.truncate_every)
        )
        calls: dict[str, Any] = {}
        outputs = []
        for message in messages:
            for part in getattr(message, "parts", ()):
                kind = getattr(part, "part_kind", None)
                if kind == "tool-call":
                    calls[part.tool_call_id] = part.args
                elif kind == "tool-return" and part.tool_call_id not in self.stubs:
                    outputs.append(
                        Observation(
                            part.tool_call_id,
                            part.tool_name,
                            _args(calls.get(part.tool_call_id)),
                            _text(part),
                        )
                    )
                elif kind == "tool-return":
                    outputs.append(Observation(part.tool_call_id, part.tool_name, {}, ""))
        iterations = agents.cadence(repo, settings).iterations
        for o in masker.update(outputs, iterations=iterations, over_budget=size > settings.context_budget):
            self.stubs[o.call_id] = masking.stub(o)
            plugin.note(repo, "mask", self.stubs[o.call_id])
        for i, message in enumerate(messages):
            parts = getattr(message, "parts", None)
            if parts is None or not any(self._masked(p) for p in parts):
                continue
            messages[i] = dataclasses.replace(
                message,
                parts=[
                    dataclasses.replace(p, content=self.stubs[p.tool_call_id]) if self._masked(p) else p
                    for p in parts
                ],
            )

    def _masked(self, part: Any) -> bool:
        return getattr(part, "part_kind", None) == "tool-return" and part.tool_call_id in self.stubs
