"""Provider limits as the provider counts them: `budget --wait-for N` and `--sleep` (#17)."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import Result

from conftest import git

MINUTE_TOKENS, MINUTE_REQUESTS, DAILY, RESERVE = 12_000, 5, 90_000, 1_000
LIMITS = {"PATCHPACK_MINUTE_TOKENS": str(MINUTE_TOKENS),
          "PATCHPACK_MINUTE_REQUESTS": str(MINUTE_REQUESTS),
          "PATCHPACK_DAILY_BUDGET": str(DAILY),
          "PATCHPACK_MAX_COMPLETION_TOKENS": str(RESERVE)}


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
        return (sum(p + RESERVE for _, p, _ in window) + prompt + RESERVE <= MINUTE_TOKENS
                and len(window) + 1 <= MINUTE_REQUESTS
                and today + prompt + RESERVE <= DAILY)

    def earliest(self, ms: int, prompt: int) -> int:
        """The first instant from ``ms`` on when the request fits: its window frees when a
        spend leaves it, or at midnight."""
        midnight = datetime.fromisoformat(at(ms)[:10]).replace(tzinfo=timezone.utc) \
            + timedelta(days=1)
        candidates = sorted({ms, int(midnight.timestamp() * 1000)}
                            | {t + 60_000 for t, _, _ in self.sent if t + 60_000 > ms})
        return next(c for c in candidates if self.fits(c, prompt))

    def send(self, ms: int, prompt: int, written: int) -> None:
        assert self.fits(ms, prompt), f"a window is exceeded at {at(ms)}"
        self.sent.append((ms, prompt, written))


def wait_for(cli: Callable[..., Result], ms: int, prompt: int) -> Result:
    os.environ["PATCHPACK_NOW"] = at(ms)
    return cli("budget", "--wait-for", str(prompt))


@pytest.mark.parametrize("seed", range(4))
def test_generated_streams_never_exceed_a_window_and_wait_at_most_a_second_late(
        committed: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch,
        seed: int) -> None:
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATCHPACK_NOW", "")
    rng = random.Random(seed)
    truth = Provider()
    # Ten minutes before a UTC midnight: the daily limit is reached, and frees at midnight.
    ms = int(datetime(2026, 11, 24, 23, 50, 0, 123_000, tzinfo=timezone.utc).timestamp()
             * 1000) + rng.randrange(1000)
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
                f.write(json.dumps({"v": 1, "id": f"msg_{i}", "ts": at(send)[:19] + "Z",
                                    "kind": "request", "in": prompt, "out": written,
                                    "requests": 1, "counter": "usage"}) + "\n")
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
