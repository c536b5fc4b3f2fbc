"""`patchpack init`, the plain hooks in hooks/, and the pre-commit framework manifest."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from patchpack.limits import hooks

from conftest import ROOT, git, lines, write


def commit(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", "-m", "change", *args], cwd=repo, capture_output=True, text=True)


def three_tracked_files(repo: Path) -> None:
    for name in "abc":
        write(repo / f"{name}.txt", "one\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "three files", "--no-verify")


def test_scripts_in_hooks_dir_are_the_installed_ones():
    for name in hooks.HOOKS:
        shipped = ROOT / "hooks" / name
        assert shipped.read_text() == hooks.script(name)
        assert shipped.stat().st_mode & 0o111


def test_init_installs_and_commit_a_is_judged_through_the_hook(committed, cli):
    r = cli("init")
    assert r.exit_code == 0 and "pre-commit: installed" in r.stdout
    three_tracked_files(committed)
    for name in "abc":
        write(committed / f"{name}.txt", "two\n")
    # `git commit -a` stages through a temporary index (GIT_INDEX_FILE): the hook must see it.
    rejected = commit(committed, "-a")
    assert rejected.returncode != 0
    assert "files: 3 / 2  FAIL" in rejected.stdout + rejected.stderr
    assert git(committed, "log", "--format=%s", "-1").strip() == "three files"
    # `git commit PATH` of one file goes through.
    passed = commit(committed, "a.txt")
    assert passed.returncode == 0, passed.stderr
    assert git(committed, "status", "--porcelain").split() == ["M", "b.txt", "M", "c.txt"]


def test_hook_sees_lines_over_the_limit(committed, cli):
    cli("init")
    write(committed / "big.txt", lines(200))
    git(committed, "add", "big.txt")
    rejected = commit(committed)
    assert rejected.returncode != 0
    assert "diff lines: 206 / 120  FAIL" in rejected.stdout + rejected.stderr


def test_existing_hook_is_kept_chained_and_restored(committed, cli):
    hooks_dir = committed / ".git" / "hooks"
    user_hook = write(
        hooks_dir / "pre-commit", '#!/bin/sh\necho user-hook-ran >> "$(git rev-parse --git-dir)/ran"\n'
    )
    user_hook.chmod(0o755)
    original = user_hook.read_text()

    r = cli("init")
    assert "kept as pre-commit.pre-patchpack" in r.stdout
    assert (hooks_dir / "pre-commit.pre-patchpack").read_text() == original
    write(committed / "a.txt", "a\n")
    git(committed, "add", "a.txt")
    assert commit(committed).returncode == 0
    assert (committed / ".git" / "ran").read_text() == "user-hook-ran\n"

    second = cli("init")
    assert "pre-commit: updated" in second.stdout
    assert (hooks_dir / "pre-commit.pre-patchpack").read_text() == original

    removed = cli("init", "--uninstall")
    assert "restored" in removed.stdout
    assert (hooks_dir / "pre-commit").read_text() == original
    assert not (hooks_dir / "pre-commit.pre-patchpack").exists()


def test_failing_user_hook_still_blocks(committed, cli):
    user_hook = write(committed / ".git" / "hooks" / "pre-commit", "#!/bin/sh\nexit 7\n")
    user_hook.chmod(0o755)
    cli("init")
    write(committed / "a.txt", "a\n")
    git(committed, "add", "a.txt")
    assert commit(committed).returncode != 0


def test_uninstall_leaves_foreign_hooks_alone(committed, cli):
    user_hook = write(committed / ".git" / "hooks" / "pre-commit", "#!/bin/sh\nexit 0\n")
    r = cli("init", "--uninstall")
    assert r.exit_code == 0 and "left alone" in r.stdout
    assert user_hook.read_text() == "#!/bin/sh\nexit 0\n"


def test_init_respects_core_hooks_path(committed, cli):
    git(committed, "config", "core.hooksPath", "my-hooks")
    assert cli("init").exit_code == 0
    assert hooks.is_ours(committed / "my-hooks" / "pre-commit")
    assert not (committed / ".git" / "hooks" / "pre-commit").exists()


def test_init_sets_notes_rewrite_ref_once(committed, cli):
    git(committed, "config", "--add", "notes.rewriteRef", "refs/notes/commits")
    cli("init")
    cli("init")
    assert git(committed, "config", "--get-all", "notes.rewriteRef").split() == [
        "refs/notes/commits",
        hooks.NOTES_REF,
    ]


def test_init_refuses_when_both_foreign_hooks_exist(committed, cli):
    hooks_dir = committed / ".git" / "hooks"
    write(hooks_dir / "pre-commit", "#!/bin/sh\n")
    write(hooks_dir / "pre-commit.pre-patchpack", "#!/bin/sh\n")
    r = cli("init")
    assert r.exit_code == 1 and "neither is patchpack's" in r.stderr
    assert (hooks_dir / "pre-commit").read_text() == "#!/bin/sh\n"


def test_init_outside_a_repository(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("init").exit_code == 2


# -- the pre-commit framework ----------------------------------------------------------------


def pre_commit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)


def test_manifest_is_valid():
    r = pre_commit("validate-manifest", str(ROOT / ".pre-commit-hooks.yaml"), cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    check = next(h for h in manifest if h["id"] == "patchpack-check")
    assert check["pass_filenames"] is False and check["always_run"] is True
    assert check["require_serial"] is True and check["stages"] == ["pre-commit"]


@pytest.fixture
def framework_repo(committed: Path) -> Path:
    """A repository whose .pre-commit-config.yaml runs our manifest's hook with the real
    pre-commit framework. The hook is taken from .pre-commit-hooks.yaml as it is, but run as
    a local `system` hook so the test needs no network to build the hook's environment."""
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = {**next(h for h in manifest if h["id"] == "patchpack-check"), "language": "system"}
    hook.pop("minimum_pre_commit_version")
    config = {"repos": [{"repo": "local", "hooks": [hook]}]}
    write(committed / ".pre-commit-config.yaml", yaml.safe_dump(config))
    git(committed, "add", ".pre-commit-config.yaml")
    git(committed, "commit", "-qm", "pre-commit config")
    r = pre_commit("install", cwd=committed)
    assert r.returncode == 0, r.stdout + r.stderr
    return committed


def test_pre_commit_framework_rejects_three_files_and_passes_one(framework_repo):
    for name in "abc":
        write(framework_repo / f"{name}.txt", "x\n")
    git(framework_repo, "add", ".")
    rejected = commit(framework_repo)
    assert rejected.returncode != 0
    output = rejected.stdout + rejected.stderr
    assert "patchpack micro-patch check" in output and "files: 3 / 2  FAIL" in output
    git(framework_repo, "reset", "-q")
    git(framework_repo, "add", "a.txt")
    passed = commit(framework_repo)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert git(framework_repo, "log", "-1", "--format=%s").strip() == "change"
