"""Throughput of the queue against `git am`: N micro-patches on a repository of F files.

Both sides start from the same commit and end at the same tree. patchpack queues the patches
with one `patchpack add MBOX` and commits them with one `patchpack apply --all` (the commit hooks
of `git commit` run for each patch); the baselines are one `git am MBOX`, and what a user
would run by hand to commit each micro-patch through the same four hooks: `git apply --index P`
then `git commit -q -F MSG`, per patch (issue 16: patchpack at most 0.6x of it). Every hook
each side can run is installed as the same tiny shell script, and the script logs its name, so the hooks
that really ran are printed. Both sides are timed again with no hooks installed, which shows
each side's own work apart from the hooks it runs (`git am` three per patch, `git commit`
four). Last, each side's hooks are run alone, one after another per patch: git runs a commit's
hooks in order, so four hooks alone are the least patchpack can take per patch.

    python bench/queue_throughput.py            # 100 patches on 3,000 files (under a minute)
    python bench/queue_throughput.py --full     # 500 patches on 3,000 files, as issue 3 asks
    python bench/queue_throughput.py --repeat 3 # on a busy machine: the best of 3 runs each
    python bench/queue_throughput.py --against /tmp/old  # another patchpack tree (`git archive`
                                                         # of an older commit), in the same rounds
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HOOKS = [
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",  # git commit
    "applypatch-msg",
    "pre-applypatch",
    "post-applypatch",
]  # git am
ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True, text=True).stdout


def build(root: Path, files: int, patches: int) -> tuple[Path, str]:
    """A repository of ``files`` files and an mbox of ``patches`` small patches on top of it."""
    repo = root / "origin"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for i in range(files):
        path = repo / f"src/m{i % 50:02d}/f{i:05d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"def f{i}_{k}():\n    return {k}\n\n" for k in range(15)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    for n in range(patches):
        i = (n * 7) % files
        path = repo / f"src/m{i % 50:02d}/f{i:05d}.py"
        text = path.read_text().replace("    return 3\n", f"    return 3 + {n}\n", 1)
        path.write_text(text + f"\ndef added_{n}():\n    return {n}\n")
        git(repo, "commit", "-q", "-am", f"Patch {n}")
    mbox = root / "series.mbox"
    mbox.write_text(git(repo, "format-patch", "--stdout", f"HEAD~{patches}"))
    # The same series as a user would commit it by hand: a diff and a message per patch.
    by_hand = root / "by-hand"
    by_hand.mkdir()
    for n, oid in enumerate(git(repo, "rev-list", "--reverse", f"HEAD~{patches}..").split()):
        (by_hand / f"{n:05d}.diff").write_text(git(repo, "diff-tree", "-p", "--root", oid))
        (by_hand / f"{n:05d}.msg").write_text(git(repo, "log", "-1", "--format=%B", oid))
    return repo, git(repo, "rev-parse", "HEAD^{tree}").strip()


def clone(root: Path, origin: Path, name: str, *, hooks: bool = True) -> Path:
    repo = root / name
    git(root, "clone", "-q", str(origin), str(repo))
    git(repo, "reset", "-q", "--hard", git(origin, "rev-list", "--max-parents=0", "HEAD").strip())
    for hook in HOOKS if hooks else ():
        path = repo / ".git" / "hooks" / hook
        path.write_text(f'#!/bin/sh\necho {hook} >> "$(git rev-parse --git-dir)/hooks.log"\n')
        path.chmod(0o755)
    return repo


def ran(repo: Path) -> str:
    log = repo / ".git" / "hooks.log"
    counts = collections.Counter(log.read_text().split()) if log.exists() else {}
    return ", ".join(f"{hook} x{n}" for hook, n in sorted(counts.items())) or "none"


def timed(repo: Path, *argv: str, stdin: Path | None = None) -> float:
    start = time.perf_counter()
    with open(stdin) if stdin else open(os.devnull) as data:
        subprocess.run(argv, cwd=repo, env=ENV, stdin=data, check=True, capture_output=True)
    return time.perf_counter() - start


def queued_and_applied(repo: Path, mbox: Path, env: dict[str, str]) -> float:
    """Seconds for `patchpack add MBOX` then `patchpack apply --all`, run with ``env``."""
    start = time.perf_counter()
    for args in (["add", str(mbox)], ["apply", "--all"]):
        subprocess.run(
            [sys.executable, "-m", "patchpack", *args],
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start


def by_hand(repo: Path, patches: Path) -> float:
    """Seconds to commit each patch as a user would without a queue: `git apply --index P`,
    then `git commit -q -F MSG` (its four hooks run), one patch after another."""
    start = time.perf_counter()
    for diff in sorted(patches.glob("*.diff")):
        for argv in (
            ["git", "apply", "--index", str(diff)],
            ["git", "commit", "-q", "-F", str(diff.with_suffix(".msg"))],
        ):
            subprocess.run(argv, cwd=repo, env=ENV, stdin=subprocess.DEVNULL, check=True, capture_output=True)
    return time.perf_counter() - start


def hooks_alone(repo: Path, hooks: list[str], patches: int) -> float:
    """Seconds to run ``hooks`` one after another once per patch, nothing else: the least a
    side that runs them in order can take."""
    env = {**ENV, "GIT_INDEX_FILE": ".git/index", "GIT_EDITOR": ":"}
    start = time.perf_counter()
    for _ in range(patches):
        for hook in hooks:
            subprocess.run(
                [str(repo / ".git" / "hooks" / hook)],
                cwd=repo,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=True,
            )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="500 patches (the issue's size)")
    parser.add_argument("--patches", type=int, help="number of patches (default 100)")
    parser.add_argument("--files", type=int, default=3000, help="files in the repository")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each side, alternating; the fastest of each is shown "
        "(a shared machine's load only ever adds time)",
    )
    parser.add_argument(
        "--against",
        metavar="TREE",
        help="a second patchpack source tree (e.g. `git archive` of an older commit) timed in "
        "the same rounds, hooks installed: before and after under the same load",
    )
    args = parser.parse_args()
    patches = args.patches or (500 if args.full else 100)
    # Byte code compiled first, as an installed package has it: with PYTHONDONTWRITEBYTECODE
    # set (as on the development machine) each run would compile patchpack again (0.1-0.2 s).
    for tree in (ENV["PYTHONPATH"], args.against or ENV["PYTHONPATH"]):
        subprocess.run([sys.executable, "-m", "compileall", "-q", tree + "/patchpack"], check=True)
    best: dict[str, float] = collections.defaultdict(lambda: float("inf"))
    with tempfile.TemporaryDirectory(prefix="patchpack-bench-") as tmp:
        root = Path(tmp)
        origin, expected = build(root, args.files, patches)
        mbox = root / "series.mbox"
        for n in range(args.repeat):
            for hooks in (True, False):
                side = "" if hooks else " bare"
                am = clone(root, origin, f"am{n}{side}", hooks=hooks)
                best["am" + side] = min(best["am" + side], timed(am, "git", "am", "-q", str(mbox)))
                assert git(am, "rev-parse", "HEAD^{tree}").strip() == expected

                pp = clone(root, origin, f"pp{n}{side}", hooks=hooks)
                patchpack = [sys.executable, "-m", "patchpack"]
                added = timed(pp, *patchpack, "add", str(mbox))
                applied = timed(pp, *patchpack, "apply", "--all")
                if added + applied < best["add" + side] + best["apply" + side]:
                    best["add" + side], best["apply" + side] = added, applied
                assert git(pp, "rev-parse", "HEAD^{tree}").strip() == expected

                hand = clone(root, origin, f"hand{n}{side}", hooks=hooks)
                best["hand" + side] = min(best["hand" + side], by_hand(hand, root / "by-hand"))
                assert git(hand, "rev-parse", "HEAD^{tree}").strip() == expected
                if hooks and args.against:
                    other = clone(root, origin, f"against{n}")
                    patchpack_env = {**ENV, "PYTHONPATH": args.against}
                    best["against"] = min(best["against"], queued_and_applied(other, mbox, patchpack_env))
                    assert git(other, "rev-parse", "HEAD^{tree}").strip() == expected
                if hooks:
                    am_hooks, pp_hooks = ran(am), ran(pp)
                    for side, names in (("commit", HOOKS[:4]), ("am", HOOKS[4:])):
                        best["hooks " + side] = min(best["hooks " + side], hooks_alone(pp, names, patches))

    per = lambda seconds: seconds * 1000 / patches  # noqa: E731
    print(f"{patches} patches on a repository of {args.files} files")
    for side, title in (("", "hooks installed"), (" bare", "no hooks (each side's own work)")):
        am_s, add_s, apply_s = best["am" + side], best["add" + side], best["apply" + side]
        print(f"{title}:")
        print(
            f"  git am (baseline)            {per(am_s):7.1f} ms/patch"
            + (f"   hooks: {am_hooks}" if not side else "")
        )
        print(
            f"  patchpack add + apply --all  {per(add_s + apply_s):7.1f} ms/patch   "
            f"(add {per(add_s):.1f}, apply {per(apply_s):.1f})"
            + (f"   hooks: {pp_hooks}" if not side else "")
        )
        print(f"  ratio patchpack / git am     {(add_s + apply_s) / am_s:7.2f}x")
        hand_s = best["hand" + side]
        print(f"  by hand: git apply --index, git commit -F, per patch {per(hand_s):7.1f} ms/patch")
        print(f"  ratio patchpack / by hand    {(add_s + apply_s) / hand_s:7.2f}x   (target: at most 0.6x)")
    if args.against:
        mine = best["add"] + best["apply"]
        print(f"against {args.against}, hooks installed, in the same rounds:")
        print(f"  patchpack add + apply --all  {per(best['against']):7.1f} ms/patch")
        print(f"  this tree / that one         {mine / best['against']:7.2f}x")
    print("the hooks alone, spawned one after another per patch and nothing else done:")
    print(f"  git am's three               {per(best['hooks am']):7.1f} ms/patch")
    print(
        f"  git commit's four            {per(best['hooks commit']):7.1f} ms/patch   "
        f"(a floor for patchpack, which runs them in order as `git commit` does; "
        f"{best['hooks commit'] / best['am']:.2f}x git am's whole run)"
    )


if __name__ == "__main__":
    main()
