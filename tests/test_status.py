"""`patchpack status`: one screen of where an agent stands, as text and as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from conftest import git, lines, run_patchpack, write

CLI = Callable[..., Result]


def status_json(cli: CLI) -> dict:
    r = cli("status", "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def test_empty_repository(repo: Path, cli: CLI) -> None:
    r = cli("status")
    assert r.exit_code == 0, r.stderr
    assert "branch:      on main (no commits yet)" in r.stdout
    assert "queue:       empty" in r.stdout
    assert "uncommitted: 0/2 files, 0/120 diff lines  ok" in r.stdout
    assert "today:       0/24,000,000 tokens" in r.stdout
    assert "next truncation reminder in 2 applies" in r.stdout
    data = status_json(cli)
    assert data["head"] is None and data["queue"] == {"name": "main", "applied": 0, "total": 0, "next": None}
    assert data["budget_line"] is None and data["counter"] == "cl100k_base"


def test_untracked_files_count_in_an_empty_repository(repo: Path, cli: CLI) -> None:
    for name in "abc":
        write(repo / f"{name}.py", lines(50))
    data = status_json(cli)
    assert data["uncommitted"]["files"] == {"count": 3, "max": 2, "ok": False}
    assert data["uncommitted"]["ok"] is False
    r = cli("status")
    assert "3/2 files" in r.stdout and "OVER the limits" in r.stdout
    assert "next step:   `patchpack split && patchpack apply --all`" in r.stdout


def test_queue_position_and_next_patch(committed: Path, cli: CLI) -> None:
    for name in ("a", "b", "c", "d", "e"):
        write(committed / f"{name}.py", lines(60, name))
    assert cli("split", "-m", "Five files").exit_code == 0
    data = status_json(cli)
    total = data["queue"]["total"]
    assert total >= 3 and data["queue"]["applied"] == 0
    nxt = data["queue"]["next"]
    assert nxt["position"] == 1 and nxt["title"].startswith("Five files (1/")
    assert data["uncommitted"]["files"]["count"] == 0
    assert cli("apply").exit_code == 0
    data = status_json(cli)
    assert data["queue"]["applied"] == 1 and data["queue"]["next"]["position"] == 2
    assert data["cadence"]["iterations"] == 1 and data["cadence"]["until_reminder"] == 1
    r = cli("status")
    assert f"queue:       1/{total} applied" in r.stdout
    assert f"next:        2/{total} Five files (2/" in r.stdout
    assert "next truncation reminder at the next apply" in r.stdout


def test_detached_head(committed: Path, cli: CLI) -> None:
    git(committed, "checkout", "-q", "--detach")
    r = cli("status")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("branch:      HEAD detached at ")
    data = status_json(cli)
    assert data["branch"] is None and data["detached"] is True
    assert data["queue"]["name"] == "detached"


def test_pending_and_today_spend(committed: Path, cli: CLI) -> None:
    assert cli("record", "--in", "1200", "--out", "300", "--agent", "pack-leader").exit_code == 0
    data = status_json(cli)
    assert data["pending"] == {"entries": 1, "tokens": 1500}
    assert data["today"] == {"tokens": 1500, "daily_budget": 24_000_000}
    assert "pending:     1,500 tokens in 1 entry" in cli("status").stdout


def test_budget_line_over_70_percent(committed: Path, cli: CLI) -> None:
    git(committed, "config", "patchpack.dailyBudget", "1000")
    cli("record", "--in", "700", "--out", "100")
    r = cli("status")
    assert r.exit_code == 0
    last = r.stdout.rstrip().splitlines()[-1]
    assert last.startswith("budget: daily 800/1,000 tokens (80%") and "[cl100k_base]" in last
    assert status_json(cli)["budget_line"] == last


def test_budget_line_names_what_the_code_puppy_plugin_did(committed: Path, cli: CLI) -> None:
    git(committed, "config", "patchpack.dailyBudget", "1000")
    cli("record", "--in", "700", "--out", "100")
    log = committed / ".git" / "patchpack" / "plugin-actions.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        '{"ts": "t", "kind": "route", "detail": "llama3.1-8b: daily 800/1,000"}\n'
        '{"ts": "t", "kind": "wait", "detail": "12 s"}\n'
    )
    line = cli("status").stdout.rstrip().splitlines()[-1]
    assert line.startswith("budget: daily 800/1,000 tokens (80%")
    assert "; plugin: 1 run routed (llama3.1-8b 1), 1 wait for the minute window; next: " in line
    # The same through the quick path, which answers `status` before click loads.
    assert run_patchpack("status", cwd=committed).stdout.rstrip().splitlines()[-1] == line
    log.unlink()
    assert "plugin:" not in cli("status").stdout


def test_outside_a_repository_is_exit_2(tmp_path: Path) -> None:
    r = run_patchpack("status", cwd=tmp_path)
    assert r.returncode == 2
    assert "not a git repository" in r.stderr and r.stdout == ""


def test_bare_repository(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "--bare", "bare.git")
    r = run_patchpack("status", "--json", cwd=tmp_path / "bare.git")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["uncommitted"] is None


def test_tracked_only_leaves_untracked_files_out(committed: Path, cli: CLI) -> None:
    write(committed / "README.md", "# test\nmore\n")
    write(committed / ".gitignore", "*.log\n")
    write(committed / "build.log", lines(500))
    for name in "ab":
        write(committed / f"{name}.py", lines(50))
    data = status_json(cli)
    assert data["uncommitted"]["files"] == {"count": 4, "max": 2, "ok": False}
    r = cli("status", "--tracked-only", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["uncommitted"]["files"] == {"count": 1, "max": 2, "ok": True}
    assert "uncommitted: 1/2 files, 7/120 diff lines  ok" in cli("status", "--tracked-only").stdout
