"""Claude Code transcripts in its real line format, made by the tests (and bench/ledger_import).

Each assistant response is written as one line per content block, each repeating
``message.usage`` as it stood: ``output_tokens`` grows to the last line, which alone has a
``stop_reason`` (Claude Code 2.1; see ccusage issues 888 and 938). `Truth` sums what the
provider billed: each ``(message.id, requestId)`` once, with its last figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

VERSION = "2.1.197"
MODEL = "claude-sonnet-4-5-20250929"


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)  # as JSON.stringify


@dataclass
class Truth:
    fresh: int = 0
    cache_write: int = 0
    cache_read: int = 0
    out: int = 0
    responses: int = 0
    by_agent: dict[str, int] = field(default_factory=dict)

    @property
    def tokens_in(self) -> int:
        return self.fresh + self.cache_write + self.cache_read


@dataclass
class Session:
    """Lines of one transcript file; `respond` adds a response's lines and to ``truth``."""

    session: str
    cwd: str
    truth: Truth
    sidechain: str | None = None  # the subagent's agentId
    lines: list[str] = field(default_factory=list)
    clock: int = 0

    def _base(self, kind: str) -> dict[str, Any]:
        self.clock += 1
        minute, second = divmod(self.clock, 60)
        base: dict[str, Any] = {
            "parentUuid": None,
            "isSidechain": self.sidechain is not None,
            "userType": "external",
            "cwd": self.cwd,
            "sessionId": self.session,
            "version": VERSION,
            "gitBranch": "main",
            "type": kind,
            "uuid": f"{self.session}-{self.clock}",
            "timestamp": f"2026-11-24T10:{minute % 60:02d}:{second:02d}.{self.clock % 1000:03d}Z",
        }
        if self.sidechain is not None:
            base["agentId"] = self.sidechain
        return base

    def user(self, text: str) -> None:
        self.lines.append(_line({**self._base("user"), "message": {"role": "user", "content": text}}))

    def task_result(self, call: str, agent_id: str) -> None:
        line = {
            **self._base("user"),
            "message": {
                "role": "user",
                "content": [
                    {
                        "tool_use_id": call,
                        "type": "tool_result",
                        "content": [{"type": "text", "text": "done"}],
                    }
                ],
            },
            "toolUseResult": {"status": "completed", "agentId": agent_id, "totalTokens": 1234},
        }
        self.lines.append(_line(line))

    def respond(
        self,
        n: int,
        *,
        fresh: int,
        write: int,
        read: int,
        out: int,
        blocks: int = 3,
        stop: str | None = "end_turn",
        task: tuple[str, str] | None = None,
        count: bool = True,
        agent: str = "claude-code",
    ) -> list[str]:
        """The ``blocks`` lines of response ``n``; the last holds the final output count and
        ``stop`` (None: interrupted, every line without one). ``task``: (tool_use id,
        subagent_type) of a Task call in its last block."""
        written = []
        for b in range(blocks):
            last = b == blocks - 1
            block: dict[str, Any] = {"type": "text", "text": f"part {b} of {n}"}
            if last and task is not None:
                block = {
                    "type": "tool_use",
                    "id": task[0],
                    "name": "Task",
                    "input": {"description": "look", "prompt": "find it", "subagent_type": task[1]},
                }
            usage = {
                "input_tokens": fresh,
                "cache_creation_input_tokens": write,
                "cache_read_input_tokens": read,
                "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
                "output_tokens": out if last else min(out, 1 + b),
                "service_tier": "standard",
            }
            ident = f"{self.session}{self.sidechain or ''}_{n}"
            message = {
                "id": f"msg_{ident}",
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [block],
                "stop_reason": stop if last else None,
                "stop_sequence": None,
                "usage": usage,
            }
            written.append(
                _line({**self._base("assistant"), "message": message, "requestId": f"req_{ident}"})
            )
        self.lines += written
        if count:
            t = self.truth
            t.fresh, t.cache_write, t.cache_read = t.fresh + fresh, t.cache_write + write, t.cache_read + read
            t.out += out
            t.responses += 1
            t.by_agent[agent] = t.by_agent.get(agent, 0) + fresh + write + read + out
        return written

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def project(cwd: str, truth: Truth) -> dict[str, str]:
    """A project's transcripts, file name -> text: two sessions (the second resumes the first
    and repeats its last response), a subagent's sidechain file, an interrupted response, and
    a response whose lines are split across two files."""
    a = Session("a1", cwd, truth)
    a.user("fix the bug")
    a.respond(1, fresh=10, write=2000, read=15000, out=180, stop="tool_use", task=("toolu_1", "Explore"))
    a.task_result("toolu_1", "ag1")
    a.respond(2, fresh=4, write=300, read=17000, out=250)
    a.user("and the other one")
    a.respond(3, fresh=3, write=100, read=17300, out=40, blocks=2, stop=None)  # interrupted
    a.user("[Request interrupted by user]")
    repeated = a.respond(4, fresh=5, write=50, read=17400, out=90)
    sub = Session("a1", cwd, truth, sidechain="ag1")
    sub.user("find it")
    sub.respond(1, fresh=7, write=900, read=0, out=60, stop="tool_use", agent="claude-code:Explore")
    sub.user("tool output")
    sub.respond(2, fresh=2, write=40, read=900, out=30, agent="claude-code:Explore")
    b = Session("b2", cwd, truth)
    b.lines += repeated  # a resumed session repeats earlier lines: counted once
    b.user("go on")
    split = b.respond(5, fresh=6, write=80, read=17500, out=300, blocks=4)
    a.lines += split[:2]  # the first snapshots in one file, the rest in the other
    b.lines[:] = [line for line in b.lines if line not in split[:2]]
    return {"a1.jsonl": a.text(), "a1/subagents/agent-ag1.jsonl": sub.text(), "b2.jsonl": b.text()}
