"""Provider limits as the provider counts them: `budget --wait-for N` and `--sleep` (#17)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import Result

from conftest import git, run_patchpack

MINUTE_TOKENS, MINUTE_REQUESTS, DAILY, RESERVE = 12_000, 5, 90_000, 1_000
LIMITS = {
    "PATCHPACK_MINUTE_TOKENS": str(MINUTE_TOKENS),
    "PATCHPACK_MINUTE_REQUESTS": str(MINUTE_REQUESTS),
    "PATCHPACK_DAILY_BUDGET": str(DAILY),
    "PATCHPACK_MAX_COMPLETION_TOKENS": str(RESERVE),
}


def at(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")


class Provider:
    """The truth: Cerebras admitting requests at exact instants (milliseconds)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, int, int]] = []  # (ms, prompt tokens, tokens written)

    def fits(self, ms: int, prompt: int) -> bool:
        window = [s for s in self.sent if ms - s[0] < 60_000]
        day = at(ms)[:10]
        today = sum(p + o for t, p, o in self.sent if at(t)[:10] == day)
        return (
            sum(p + RESERVE for _, p, _ in window) + prompt + RESERVE <= MINUTE_TOKENS
            and len(window) + 1 <= MINUTE_REQUESTS
            and today + prompt + RESERVE <= DAILY
        )

    def earliest(self, ms: int, prompt: int) -> int:
        """The first instant from ``ms`` on when the request fits: its window frees when a
        spend leaves it, or at midnight."""
        midnight = datetime.fromisoformat(at(ms)[:10]).replace(tzinfo=timezone.utc) + timedelta(days=1)
        candidates = sorted(
            {ms, int(midnight.timestamp() * 1000)} | {t + 60_000 for t, _, _ in self.sent if t + 60_000 > ms}
        )
        return next(c for c in candidates if self.fits(c, prompt))

    def send(self, ms: int, prompt: int, written: int) -> None:
        assert self.fits(ms, prompt), f"a window is exceeded at {at(ms)}"
        self.sent.append((ms, prompt, written))


def wait_for(cli: Callable[..., Result], ms: int, prompt: int) -> Result:
    os.environ["PATCHPACK_NOW"] = at(ms)
    return cli("budget", "--wait-for", str(prompt))


@pytest.mark.parametrize("seed", range(4))
def test_generated_streams_never_exceed_a_window_and_wait_at_most_a_second_late(
    committed: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATCHPACK_NOW", "")
    rng = random.Random(seed)
    truth = Provider()
    # Ten minutes before a UTC midnight: the daily limit is reached, and frees at midnight.
    ms = int(
        datetime(2026, 11, 24, 23, 50, 0, 123_000, tzinfo=timezone.utc).timestamp() * 1000
    ) + rng.randrange(1000)
    spool = git(committed, "rev-parse", "--git-path", "patchpack/pending.jsonl").strip()
    late = []
    for i in range(36):
        prompt = rng.choice([100, 500, 2_000, 4_000, 5_000])
        result = wait_for(cli, ms, prompt)
        assert result.exit_code == 0, result.stderr
        waited = round(float(result.stdout) * 1000)
        send = ms + waited
        first = truth.earliest(ms, prompt)
        assert send >= first, f"request {i}: --wait-for is early by {first - send} ms"
        assert send - first <= 1000, f"request {i}: --wait-for is {send - first} ms late"
        late.append(send - first)
        assert (waited == 0) == (result.stderr.startswith("fits now"))
        written = rng.randrange(RESERVE + 1)
        truth.send(send, prompt, written)
        if i % 4 == 3:  # as an import writes it: an id without patchpack's milliseconds
            with open(committed / spool, "a") as f:
                f.write(
                    json.dumps(
                        {
                            "v": 1,
                            "id": f"msg_{i}",
                            "ts": at(send)[:19] + "Z",
                            "kind": "request",
                            "in": prompt,
                            "out": written,
                            "requests": 1,
                            "counter": "usage",
                        }
                    )
                    + "\n"
                )
        else:
            os.environ["PATCHPACK_NOW"] = at(send)
            recorded = cli("record", "--in", str(prompt), "--out", str(written))
            assert recorded.exit_code == 0, recorded.stderr
        if i % 9 == 8:  # some spend in notes, some pending
            git(committed, "commit", "-q", "--allow-empty", "-m", f"step {i}")
            assert cli("ledger", "attach", "-q").exit_code == 0
        ms = send + rng.choice([0, 0, 250, 1_500, 7_000, 20_000])
    # The stream met each limit: it waited for the minute and for midnight.
    assert max(late) <= 1000 and len({at(t)[:10] for t, _, _ in truth.sent}) == 2


def test_cerebras_counts_the_reserved_completion_anthropic_what_was_written(
    repo: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHPACK_NOW", "2026-11-24T10:00:00Z")
    assert cli("record", "--in", "1000", "--out", "50").exit_code == 0

    def minute(provider: str) -> tuple[int, str]:
        monkeypatch.setenv("PATCHPACK_PROVIDER", provider)
        result = cli("budget", "--json")
        data = json.loads(result.stdout)
        return next(s["used"] for s in data["limits"] if s["what"] == "minute tokens"), data["provider"]

    assert minute("cerebras") == (1000 + 40_960, "cerebras")  # the model's maximum
    assert minute("anthropic") == (1050, "anthropic")
    assert cli("record", "--in", "7", "--out", "0", "--requests", "0").exit_code == 0
    assert minute("cerebras") == (1007 + 40_960, "cerebras")  # no request: nothing reserved
    monkeypatch.setenv("PATCHPACK_MAX_COMPLETION_TOKENS", "8192")
    assert minute("cerebras") == (1007 + 8192, "cerebras")
    assert minute("openai") == (1007 + 8192, "openai")
    text = cli("budget").stdout
    assert "last minute: 9,199 of 1,000,000 tokens as openai counts them" in text


def test_a_request_that_never_fits_fails_and_a_provider_not_known_is_bad_input(
    repo: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHPACK_NOW", "2026-11-24T10:00:00Z")
    spool = repo / ".git" / "patchpack" / "pending.jsonl"
    assert cli("record", "--in", "10", "--out", "5").exit_code == 0
    before = spool.read_bytes()
    never = cli("budget", "--wait-for", "990000")
    assert never.exit_code == 1 and never.stdout == ""
    assert "never fits: it is charged 1,030,960 against tokens/minute of 1,000,000" in never.stderr
    assert "patchpack.maxCompletionTokens" in never.stderr
    monkeypatch.setenv("PATCHPACK_PROVIDER", "acme")
    unknown = cli("budget", "--wait-for", "10")
    assert unknown.exit_code == 2 and "unknown provider 'acme'" in unknown.stderr
    assert "git config patchpack.provider cerebras" in unknown.stderr
    monkeypatch.setenv("PATCHPACK_PROVIDER", "none")  # no provider limits: never waits
    assert cli("budget", "--wait-for", "990000").stdout == "0\n"
    alone = cli("budget", "--sleep")
    assert alone.exit_code == 2 and "go with --wait-for" in alone.stderr
    assert spool.read_bytes() == before


def test_an_agents_daily_budget_holds_its_requests_until_midnight(
    repo: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHPACK_NOW", "2026-11-24T23:00:00Z")
    monkeypatch.setenv("PATCHPACK_PROVIDER", "anthropic")
    git(repo, "config", "patchpack.agent.bot.dailyBudget", "5000")
    assert cli("record", "--in", "4000", "--out", "500", "--agent", "bot").exit_code == 0
    assert cli("budget", "--wait-for", "600").stdout == "0\n"  # any agent: the day has room
    held = cli("budget", "--wait-for", "600", "--agent", "bot", "--json")
    assert json.loads(held.stdout)["wait"] == 3600
    assert json.loads(held.stdout)["held_by"] == "agent bot tokens/day"
    assert cli("budget", "--wait-for", "600", "--agent", "other").stdout == "0\n"
    git(repo, "config", "patchpack.agent.bot.dailyBudget", "lots")
    bad = cli("budget", "--wait-for", "400", "--agent", "bot")
    assert bad.exit_code == 2 and "expected a whole number" in bad.stderr


def _full_window(repo: Path, seconds_left: float) -> dict[str, str]:
    """A spool whose minute window frees ``seconds_left`` after the instant returned."""
    env = {"PATCHPACK_NOW": "2026-11-24T10:00:00.500Z", "PATCHPACK_MINUTE_REQUESTS": "1"}
    assert run_patchpack("record", "--in", "1", "--out", "1", cwd=repo, env=env).returncode == 0
    now = datetime(2026, 11, 24, 10, 1, 0, 501_000, tzinfo=timezone.utc) - timedelta(seconds=seconds_left)
    return {**env, "PATCHPACK_NOW": now.isoformat()}


def test_sleep_waits_as_long_as_it_prints(repo: Path) -> None:
    env = _full_window(repo, 1.2)
    started = time.monotonic()
    slept = run_patchpack("budget", "--wait-for", "1", "--sleep", cwd=repo, env=env)
    took = time.monotonic() - started
    assert slept.returncode == 0 and slept.stdout == "1.2\n", slept.stderr
    assert 1.2 <= took < 10
    assert "wait 1.2 s: requests/minute holds 1 of 1" in slept.stderr


def test_ctrl_c_during_sleep_exits_130(repo: Path) -> None:
    env = _full_window(repo, 50)
    proc = subprocess.Popen(
        ["patchpack", "budget", "--wait-for", "1", "--sleep"],
        cwd=repo,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "50\n"  # printed before it sleeps
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "interrupted" in err


def test_the_budget_line_weighs_the_minute_as_the_provider_counts_it(
    committed: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHPACK_NOW", "2026-11-24T10:00:00Z")
    monkeypatch.setenv("PATCHPACK_MINUTE_TOKENS", "50000")
    assert cli("record", "--in", "100", "--out", "20").exit_code == 0
    reserved = cli("context")
    assert reserved.exit_code == 0
    assert "budget: per-minute 41,060/50,000 tokens (82%, 8,940 left)" in reserved.stderr
    monkeypatch.setenv("PATCHPACK_PROVIDER", "anthropic")  # 120 tokens written: no line
    assert "budget:" not in cli("context").stderr


@pytest.mark.parametrize(
    ("recorded", "asked", "printed"),
    [("10:00:00.014", "10:00:58.815", "1.2"), ("10:00:00.000", "10:00:47.656", "12.345")],
)
def test_waits_are_exact_to_the_millisecond(
    repo: Path,
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    recorded: str,
    asked: str,
    printed: str,
) -> None:
    monkeypatch.setenv("PATCHPACK_MINUTE_REQUESTS", "1")
    monkeypatch.setenv("PATCHPACK_NOW", f"2026-11-24T{recorded}Z")
    assert cli("record", "--in", "1", "--out", "1").exit_code == 0
    monkeypatch.setenv("PATCHPACK_NOW", f"2026-11-24T{asked}Z")
    assert cli("budget", "--wait-for", "1").stdout == f"{printed}\n"  # not a millisecond more
