"""A piece of a large file measured on a window gives the diff git gives for the whole file."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchpack.queue import windows

from conftest import git, write

REF = "refs/patchpack/queue/main"
# Lines that git slides runs of edits over, names a hunk by, or neither.
KINDS = [
    "def f{}():\n",
    "    return {}\n",
    "\n",
    "}}\n",
    "    pass\n",
    "_x = {}\n",
    "$y\n",
    "# {}\n",
    "  {}\n",
    "x\n",
    "x\n",
    "\tif a:\n",
]


def _text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(KINDS).format(rng.randrange(5)) for _ in range(n))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_windowed_diffs_are_the_diffs_git_prints(cli, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(windows, "MIN_LINES", 0)  # every piece of every file through a window
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        git(root, "init", "-q")
        lines = _text(rng, rng.choice([300, 600])).splitlines(keepends=True)
        write(root / "big.py", "".join(lines))
        git(root, "add", "big.py")
        git(root, "commit", "-q", "-m", "big")
        for _ in range(rng.randrange(3, 12)):
            at, size = rng.randrange(len(lines)), rng.choice([1, 2, 5, 30, 80])
            lines[at : at + rng.choice([0, 1, size])] = _text(rng, size).splitlines(True)
        text = "".join(lines)
        write(root / "big.py", text.rstrip("\n") if rng.random() < 0.3 else text)
        monkeypatch.chdir(root)
        r = cli("split", "--max-lines", rng.choice(["40", "120"]))
        assert r.exit_code in (0, 1), r.stderr  # 1: nothing changed
        rows = json.loads(cli("list", "--json").stdout)["patches"] if r.exit_code == 0 else []
        for n, row in enumerate(rows):
            kept = git(root, "cat-file", "blob", f"{REF}:diffs/{n // 100:04d}/{n % 100:02d}")
            assert kept == git(root, "show", "--format=", "-M", row["commit"]).lstrip("\n")
