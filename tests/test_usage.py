"""Usage capture (#17): Claude Code transcripts, Code Puppy, one usage object, into the ledger."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from claude_fixture import Session, Truth, project

from patchpack.git import Repo
from patchpack.ledger import store as ledger

from conftest import git, run_patchpack, write


def project_dir(home_or_config: Path, root: Path) -> Path:
    return home_or_config / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(root))


def lay_out(where: Path, files: dict[str, str]) -> list[Path]:
    return [write(where / name, text) for name, text in files.items()]


def usage_entries(repo: Path) -> list[ledger.Entry]:
    return [e for e in ledger.pending(Repo.discover(repo))[0] if e.counter == "usage"]


def totals(entries: list[ledger.Entry]) -> tuple[int, int, int, int, int]:
    return (
        len(entries),
        sum(e.tokens_in for e in entries),
        sum(e.tokens_out for e in entries),
        sum(e.cache_read for e in entries),
        sum(e.cache_write for e in entries),
    )


def expected(truth: Truth) -> tuple[int, int, int, int, int]:
    return truth.responses, truth.tokens_in, truth.out, truth.cache_read, truth.cache_write


def test_import_counts_each_response_once_with_its_last_figures(committed: Path, cli, tmp_path: Path) -> None:
    truth = Truth()
    files = lay_out(tmp_path / "t", project(str(committed), truth))
    result = cli("ledger", "import", "--claude-code", *map(str, files))
    assert result.exit_code == 0, result.output
    entries = usage_entries(committed)
    assert totals(entries) == expected(truth)
    assert f"imported {truth.responses} of {truth.responses} responses" in result.stdout
    by_agent: dict[str, int] = {}
    for e in entries:
        assert e.kind == "request" and e.requests == 1 and e.model
        by_agent[str(e.agent)] = by_agent.get(str(e.agent), 0) + e.tokens
    assert by_agent == truth.by_agent
    assert {e.session for e in entries} == {"a1", "b2"}
    again = cli("ledger", "import", "--claude-code", *map(str, reversed(files)))
    assert again.exit_code == 0
    assert f"imported 0 of {truth.responses}" in again.stdout
    assert totals(usage_entries(committed)) == expected(truth)


def test_a_second_import_after_the_commit_adds_nothing(committed: Path, cli, tmp_path: Path) -> None:
    truth = Truth()
    files = lay_out(tmp_path / "t", project(str(committed), truth))
    assert cli("ledger", "import", "--claude-code", *map(str, files)).exit_code == 0
    write(committed / "a.txt", "a\n")
    git(committed, "add", "a.txt")
    git(committed, "commit", "-q", "-m", "a")
    assert cli("ledger", "attach", "-q").exit_code == 0
    assert usage_entries(committed) == []
    assert "imported 0" in cli("ledger", "import", "--claude-code", *map(str, files)).stdout
    assert usage_entries(committed) == []
    assert cli("budget", "--json").exit_code == 0  # the report reads the new fields
    notes = git(committed, "notes", "--ref=patchpack", "show", "HEAD")
    assert notes.count('"counter":"usage"') == truth.responses


def test_default_is_this_projects_transcripts_under_claude_config_dir(
    committed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    truth = Truth()
    config = tmp_path / "claude-config"
    lay_out(project_dir(config, committed), project(str(committed), truth))
    lay_out(project_dir(config, tmp_path / "other"), project("/other", Truth()))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    result = cli("ledger", "import", "--claude-code")
    assert result.exit_code == 0, result.output
    assert totals(usage_entries(committed)) == expected(truth)


def test_no_transcripts_fails_naming_where_it_looked(
    committed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "none"))
    proc = run_patchpack("ledger", "import", "--claude-code", cwd=committed)
    assert proc.returncode == 1
    assert "no Claude Code transcripts" in proc.stderr and "--claude-code FILE" in proc.stderr
    assert usage_entries(committed) == []
    truth = Truth()
    [good, *_] = lay_out(tmp_path / "t", project(str(committed), truth))
    gone = run_patchpack(
        "ledger", "import", "--claude-code", str(good), str(tmp_path / "gone"), cwd=committed
    )
    assert gone.returncode == 2 and f"no transcript at {tmp_path / 'gone'}" in gone.stderr
    assert usage_entries(committed) == []
    nothing = run_patchpack("ledger", "import", cwd=committed)
    assert nothing.returncode == 2 and "nothing to import" in nothing.stderr


def test_a_response_still_streaming_waits_for_the_next_import(committed: Path, cli, tmp_path: Path) -> None:
    truth = Truth()
    s = Session("s", str(committed), truth)
    s.user("hi")
    s.respond(1, fresh=1, write=2, read=3, out=10)
    lines = s.respond(2, fresh=4, write=5, read=6, out=70, blocks=3, count=False)
    path = write(tmp_path / "s.jsonl", "".join(line + "\n" for line in [*s.lines[:-1]]))
    result = cli("ledger", "import", "--claude-code", str(path))
    assert "1 response(s) still being written" in result.stderr
    assert totals(usage_entries(committed)) == (1, 6, 10, 3, 2)
    write(path, s.text())  # the last line arrives, with the stop reason and the final count
    cli("ledger", "import", "--claude-code", str(path))
    assert totals(usage_entries(committed)) == (2, 21, 80, 9, 7)
    assert lines[-1] in s.text()
