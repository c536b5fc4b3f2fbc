"""Pacing within a run (#18): the plugin counts the requests it let through until the run's
usage reaches the ledger, so a long run waits for the per-minute window its own requests
filled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from patchpack.agents.code_puppy import gate
from patchpack.agents.code_puppy.session import Session
from patchpack.agents.loop import Budget
from patchpack.git import Repo

from conftest import git

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_requests_in_flight_fill_the_window_until_they_leave_it() -> None:
    window = Budget("minute", "per-minute", 0, 1_000)
    flying = [(at(0), 400), (at(20), 400)]
    assert gate.wait_seconds([window], request_tokens=300, in_flight=flying, now=at(30)) == 30
    # Both must leave for a request of 700: the second leaves at 80 s.
    assert gate.wait_seconds([window], request_tokens=700, in_flight=flying, now=at(30)) == 50
    assert gate.wait_seconds([window], request_tokens=100, in_flight=flying, now=at(30)) == 0
    # A request older than the window no longer counts.
    assert gate.wait_seconds([window], request_tokens=300, in_flight=flying, now=at(61)) == 0
    count = Budget("minute", "per-minute requests", 1, 3, unit="requests", reset_in=5)
    assert gate.wait_seconds([count], request_tokens=1, in_flight=flying, now=at(30)) == 30
    # Full without them: the ledger's own reset time.
    full = Budget("minute", "per-minute", 900, 1_000, reset_in=12)
    assert gate.wait_seconds([full], request_tokens=300, in_flight=flying, now=at(30)) == 12


def request(tokens: int) -> list[SimpleNamespace]:
    # What History.size counts: the text of each part (" hello" is one cl100k token).
    return [
        SimpleNamespace(
            parts=[SimpleNamespace(part_kind="user-prompt", content=" ".join(["hello"] * tokens))]
        )
    ]


def test_a_run_paces_itself_on_its_own_requests_until_its_usage_is_recorded(
    committed: Path, frozen_now: Callable[[datetime], datetime], monkeypatch: pytest.MonkeyPatch
) -> None:
    git(committed, "config", "patchpack.minuteTokens", "100000")
    monkeypatch.chdir(committed)
    repo = Repo.discover(committed)
    session = Session()
    frozen_now(T0)
    session.start("code-puppy")
    asyncio.run(session.before_request("code-puppy", request(60_000)))
    # Nothing in the ledger yet, but 60,000 tokens went out: another 60,000 would overfill.
    assert session.pace(repo, "code-puppy", 60_000) == 60
    frozen_now(at(45))
    assert session.pace(repo, "code-puppy", 60_000) == 15
    assert session.pace(repo, "code-puppy", 30_000) == 0
    # Its usage recorded (what the ledger charges a request against the window: the
    # provider's figures and the completion tokens it reserves), the ledger counts the run.
    session.end("code-puppy", "m", "run-1", {"usage_input_tokens": 100, "usage_output_tokens": 10})
    assert session.in_flight == {}
    assert session.pace(repo, "code-puppy", 50_000) == 0
    assert session.pace(repo, "code-puppy", 60_000) == 60
