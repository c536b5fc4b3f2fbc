"""The plugin's repository and config reads, remembered for its process (#18): the git program
is asked once, and again only when what it said may have changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from patchpack.agents.code_puppy import decide
from patchpack.git import where

from conftest import git, write


@pytest.fixture
def asked(committed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A log of every git command run from here on (a git on PATH that notes and runs the
    real one), with the plugin's memory on, for this test only."""
    real, log, shim = shutil.which("git"), tmp_path / "git.log", tmp_path / "shim" / "git"
    write(shim, f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n').chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(where, "_found", None)
    monkeypatch.setattr(where, "_configs", {})
    where.remember()
    return log


def runs(log: Path, command: str) -> int:
    # run_git puts `-c core.quotePath=false` first.
    return sum(command in line for line in log.read_text().splitlines()) if log.exists() else 0


def test_the_repository_and_its_config_are_read_once_a_process(committed: Path, asked: Path) -> None:
    for _ in range(5):
        assert decide.settings_at(committed).max_file_lines == 200
        assert decide.settings_at(committed / ".git").max_file_lines == 200
    # Found once for each directory asked from; its config read once.
    assert runs(asked, "rev-parse --absolute-git-dir") == 2
    assert runs(asked, "config --list") == 1


def test_a_config_change_is_seen_at_the_next_call(committed: Path, asked: Path) -> None:
    assert decide.settings_at(committed).max_file_lines == 200
    git(committed, "config", "patchpack.maxFileLines", "50")
    assert decide.settings_at(committed).max_file_lines == 50
    (Path.home() / ".gitconfig").write_text("[patchpack]\n\toutputLines = 7\n")
    assert decide.settings_at(committed).output_lines == 7
    assert runs(asked, "config --list") == 3


def test_a_repository_that_is_gone_is_looked_for_again(committed: Path, asked: Path, tmp_path: Path) -> None:
    assert where.find(committed)[0] == str(committed / ".git")
    shutil.rmtree(committed / ".git")
    git(tmp_path, "init", "-q")  # the directory above is a repository now
    assert where.find(committed)[0] == str(tmp_path / ".git")
