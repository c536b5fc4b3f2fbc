"""The one clock: PATCHPACK_NOW fixes or shifts every "now" patchpack reads."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from patchpack import clock
from patchpack.errors import BadInput

from conftest import run_patchpack


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-12-03T10:00:00Z", datetime(2027, 12, 3, 10, tzinfo=timezone.utc)),
        ("2027-12-03T12:00:00+02:00", datetime(2027, 12, 3, 10, tzinfo=timezone.utc)),
        ("2027-12-03 10:00", datetime(2027, 12, 3, 10, tzinfo=timezone.utc)),
        ("@1796292000", datetime(2026, 12, 3, 10, tzinfo=timezone.utc)),
    ],
)
def test_an_instant_fixes_the_clock(text: str, expected: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, text)
    assert clock.now() == expected and clock.now().tzinfo == timezone.utc


@pytest.mark.parametrize(
    ("text", "shift"),
    [
        ("+365d", timedelta(days=365)),
        ("-2h", timedelta(hours=-2)),
        ("+1w", timedelta(weeks=1)),
    ],
)
def test_an_offset_shifts_the_real_clock(
    text: str, shift: timedelta, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(clock.ENV, raising=False)
    before = clock.now()
    monkeypatch.setenv(clock.ENV, text)
    moved = clock.now()
    monkeypatch.delenv(clock.ENV)
    after = clock.now()
    assert before + shift <= moved <= after + shift


@pytest.mark.parametrize("text", ["junk", "+5y", "@x", "2027-13-45", "+99999999999d"])
def test_a_malformed_value_is_bad_input(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.ENV, text)
    with pytest.raises(BadInput, match=clock.ENV):
        clock.now()


def test_entries_and_budget_read_the_same_clock(committed: Path) -> None:
    env = {clock.ENV: "2030-01-02T03:04:05Z"}
    r = run_patchpack("record", "--in", "100", "--out", "5", cwd=committed, env=env)
    assert r.returncode == 0, r.stderr
    (line,) = (committed / ".git/patchpack/pending.jsonl").read_text().splitlines()
    assert json.loads(line)["ts"] == "2030-01-02T03:04:05Z"
    report = json.loads(run_patchpack("budget", "--json", cwd=committed, env=env).stdout)
    assert report["now"] == "2030-01-02T03:04:05Z"
    assert report["limits"][0]["used"] == 105


def test_a_malformed_clock_exits_2_and_records_nothing(committed: Path) -> None:
    r = run_patchpack("record", "--in", "100", "--out", "5", cwd=committed, env={clock.ENV: "soon"})
    assert r.returncode == 2 and "PATCHPACK_NOW" in r.stderr and "Traceback" not in r.stderr
    assert not (committed / ".git/patchpack/pending.jsonl").exists()
