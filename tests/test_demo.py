"""`patchpack demo`, the README's first command, end to end through the console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from patchpack.cli.demo import capped

from conftest import git


def installed_script() -> str:
    """The console script of the installed package when there is one, else the test shim."""
    beside = Path(sys.executable).with_name("patchpack")
    return str(beside) if beside.exists() else shutil.which("patchpack") or "patchpack"


def section(out: str, command: str) -> str:
    """What the demo printed under ``$ command``, up to the next step."""
    after = out.split(f"$ {command}\n", 1)[1]
    return after.split("\n## ", 1)[0].split("\n$ ", 1)[0]


def test_demo_plays_the_whole_loop(tmp_path: Path) -> None:
    # No identity anywhere: the demo brings its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    r = subprocess.run(
        [installed_script(), "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for command in (
        "patchpack init",
        "patchpack check",
        "patchpack split -m 'Add the shop'",
        "patchpack list",
        "patchpack next",
        "patchpack apply --all",
        "git log --notes=patchpack --oneline",
        "patchpack budget",
        "patchpack status",
    ):
        assert f"\n$ {command}" in out, command
    assert "record --in 5400 --out 820 --model zai-glm-4.7 --agent pack-leader" in out
    assert "FAIL" in section(out, "patchpack check")
    assert "queue done: all applied" in section(out, "patchpack apply --all")
    assert "queue:       5/5 applied" in section(out, "patchpack status")
    assert "today (" in section(out, "patchpack budget")
    assert all(
        len(section(out, c).splitlines()) <= 16
        for c in ("patchpack next", "patchpack budget", "patchpack status")
    )

    repo = tmp_path / "demo" / "repo"
    subjects = git(repo, "log", "--format=%s").splitlines()
    patches = [s for s in subjects if s.startswith("Add the shop (")]
    assert len(patches) >= 3 and subjects[-1] == "Start the shop"
    assert len(subjects) == len(patches) + 1  # apply --all committed every patch
    for oid in git(repo, "rev-list", f"HEAD~{len(patches)}..HEAD").split():
        assert '"kind":"apply"' in git(repo, "notes", "--ref=patchpack", "show", oid)
    first = git(repo, "rev-list", "--reverse", "HEAD").split()[1]
    assert '"agent":"pack-leader"' in git(repo, "notes", "--ref=patchpack", "show", first)
    assert git(repo, "status", "--porcelain") == ""


def test_demo_refuses_a_directory_it_already_used(tmp_path: Path) -> None:
    (tmp_path / "demo" / "repo").mkdir(parents=True)
    r = subprocess.run(
        [installed_script(), "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "already exists" in r.stderr


def test_capped_counts_what_it_leaves_out() -> None:
    assert capped("a\nb\n", 2) == ["a", "b"]
    assert capped("\n".join(map(str, range(20))), 15)[-1] == "... 5 more lines"
