"""The same transcripts read by the real ccusage (npm) and by `patchpack ledger import` (#17).

ccusage is the one tests/clients/install.py installs beside Claude Code, in the clients' cache
outside the test's HOME (pinned there: the first version whose deduplication keeps a
response's last figures, not its first; 18.x undercounted output).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from claude_fixture import Truth, project

from patchpack.git import Repo
from patchpack.ledger import store as ledger

import clients.install
from conftest import write


@pytest.fixture(scope="session")
def ccusage(npm_clients: clients.install.NpmClients) -> Path:
    return npm_clients.ccusage


def ccusage_totals(binary: Path, config: Path, home: Path) -> dict[str, int]:
    proc = subprocess.run(
        [str(binary), "daily", "--json", "--offline"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": str(home), "CLAUDE_CONFIG_DIR": str(config), "TZ": "UTC"},
    )
    assert proc.returncode == 0, proc.stderr
    totals: dict[str, int] = json.loads(proc.stdout)["totals"]
    return totals


def test_ccusage_agrees_with_the_import_on_the_same_transcripts(
    committed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, ccusage: Path
) -> None:
    truth = Truth()
    config = tmp_path / "claude"
    where = config / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(committed))
    for name, text in project(str(committed), truth).items():
        write(where / name, text)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    assert cli("ledger", "import", "--claude-code").exit_code == 0
    entries = [e for e in ledger.pending(Repo.discover(committed))[0] if e.counter == "usage"]
    ours = {
        "in": sum(e.tokens_in for e in entries),
        "out": sum(e.tokens_out for e in entries),
        "read": sum(e.cache_read for e in entries),
        "write": sum(e.cache_write for e in entries),
    }
    theirs = ccusage_totals(ccusage, config, tmp_path / "home")
    # ccusage keeps fresh input apart: patchpack's `in` is all input, cached included.
    theirs_in = theirs["inputTokens"] + theirs["cacheReadTokens"] + theirs["cacheCreationTokens"]
    assert ours == {
        "in": truth.tokens_in,
        "out": truth.out,
        "read": truth.cache_read,
        "write": truth.cache_write,
    }
    for mine, its in (
        (ours["in"], theirs_in),
        (ours["out"], theirs["outputTokens"]),
        (ours["read"], theirs["cacheReadTokens"]),
        (ours["write"], theirs["cacheCreationTokens"]),
    ):
        assert abs(mine - its) <= mine / 100, (ours, theirs)
    assert theirs["totalTokens"] == ours["in"] + ours["out"]
