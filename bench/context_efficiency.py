"""Context efficiency of `patchpack context` on real history, against a naive agent.

Replays the last N non-merge commits of REPO that changed 1-5 text files, in two scenarios, and
prints per scenario the median and total token ratio (naive / patchpack) and the recall:

- review: the commit's change applied to the work tree of its parent; patchpack's pack is
  `context --function-context`; the naive context is every touched file whole plus the diff.
  Recall: share of the changed lines, and of the functions they sit in, wholly inside the pack
  (for Python, as function context defines them: the innermost def, the class for a change to
  its own statements, none at module level; a removed line's function as it is now). The
  ceiling is naive over the changed lines alone (`git diff -U0`).
- locate: at the parent, before the change; patchpack greps for the code identifiers the
  commit message names (words that occur as identifiers in the tracked files); the naive
  context is every file that matches, whole. Recall: share of the lines the commit later
  changed (parent's numbering) inside the context. Then the same with `--fill` at budgets
  that are fractions of the naive context's size (known before the change), each row with
  its recall next to naive's, and the smallest of those budgets whose recall (mean over the
  commits) is naive's with fewer tokens in total. Last, whether any commit's recall falls as
  the budget rises (the pack without fill standing at its own size): it must not (issue 15).

    python bench/context_efficiency.py REPO [N] [-v]           # -v: each commit, what was missed
    python bench/context_efficiency.py REPO [N] --no-related   # locate without the related hunks
    python bench/context_efficiency.py REPO [N] --unstaged-new # review: new files left untracked
    python bench/context_efficiency.py REPO [N] --unstaged-new --tracked-only  # ... and left out
    python bench/context_efficiency.py generate [N]            # a synthetic repository
    python bench/context_efficiency.py generate:SRC_DIR [N]    # real files of SRC_DIR, edited

``generate:SRC_DIR`` commits the ``.py`` files under SRC_DIR (e.g. an installed package), then
N commits that each edit 1-3 functions of 1-3 files, their messages naming the functions.
REPO is cloned to a temporary directory; it is never touched. Targets (issue 4): review at
least 5x fewer tokens than naive at 100% recall; locate beats naive on tokens at equal or
better recall.
"""

from __future__ import annotations

import ast
import itertools
import random
import re
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import unidiff

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from patchpack.context import blocks
from patchpack.context import pack as context
from patchpack.git import Repo
from patchpack.tokens import get_counter

COUNTER = get_counter("cl100k_base")
IDENT = re.compile(r"`([A-Za-z_][\w.]*)(?:\(\))?`|\b([A-Za-z_]\w*(?:_\w+|[a-z][A-Z]\w*)|\w+\(\))")
ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str, input: str | None = None) -> str:
    import os

    return subprocess.run(
        ["git", "-c", "core.quotePath=false", *args],
        cwd=repo,
        input=input,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **ENV},
        errors="surrogateescape",
    ).stdout


# -- repositories -----------------------------------------------------------------------------


def generate(where: Path, source: Path | None, commits: int, seed: int = 4) -> Path:
    """A repository of real (or synthetic) Python files and commits that edit functions."""
    rng = random.Random(seed)
    repo = where / "generated"
    repo.mkdir()
    git(repo, "init", "-q")
    files: dict[str, str] = {}
    if source is not None:
        for path in sorted(source.rglob("*.py")):
            text = path.read_text(errors="replace")
            if 30 < text.count("\n") < 3000 and _functions(text):
                files[path.relative_to(source).as_posix()] = text
    else:
        for m in range(12):
            files[f"pkg/mod{m}.py"] = '"""Module {m}."""\n\n' + "".join(
                f"def {w}_{m}_{f}(value):\n    total = value\n"
                + "".join(f"    total = total * {k} + {f}\n" for k in range(rng.randint(3, 15)))
                + "    return total\n\n\n"
                for f, w in enumerate(
                    rng.sample(
                        [
                            "parse",
                            "render",
                            "load",
                            "save",
                            "check",
                            "merge",
                            "split",
                            "count",
                            "fetch",
                            "apply",
                            "plan",
                            "score",
                        ],
                        10,
                    )
                )
            )
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "import the sources")
    names = sorted(files)
    for i in range(commits):
        touched = []
        for path in rng.sample(names, rng.randint(1, min(3, len(names)))):
            text = (repo / path).read_text()
            funcs = _functions(text)
            if not funcs:
                continue
            lines = text.split("\n")
            for name, start, end in rng.sample(funcs, min(len(funcs), rng.randint(1, 2))):
                at = rng.randint(start + 1, end) if end > start else start
                indent = re.match(r"\s*", lines[at - 1]).group() or "    "
                lines.insert(at, f"{indent}_ = {name}.__name__  # edit {i}")
                touched.append(name)
                funcs = _functions("\n".join(lines))
            (repo / path).write_text("\n".join(lines))
        if touched:
            git(repo, "commit", "-qam", f"Adjust {', '.join(f'`{t}`' for t in touched)}")
    return repo


def _functions(text: str) -> list[tuple[str, int, int]]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    return sorted(
        (n.name, n.body[0].lineno, n.end_lineno or n.lineno)
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    )


def candidates(repo: Path, n: int) -> list[tuple[str, str, str]]:
    """(commit, parent, message) of the last n non-merge commits changing 1-5 text files."""
    out = []
    for line in git(repo, "log", "--no-merges", "--format=%H %P").splitlines():
        oid, *parents = line.split()
        if len(parents) != 1:
            continue
        stat = git(repo, "diff", "--numstat", "-M", parents[0], oid).splitlines()
        if not 1 <= len(stat) <= 5 or any(s.startswith("-\t-\t") for s in stat):
            continue
        out.append((oid, parents[0], git(repo, "log", "-1", "--format=%B", oid)))
        if len(out) == n:
            break
    return out


# -- measuring --------------------------------------------------------------------------------


@dataclass
class Result:
    naive: int
    packed: int
    recall: float
    recall_functions: float | None = None
    naive_recall: float = 1.0
    name: str = ""
    missed: tuple[str, ...] = ()
    """What recall left out, for ``-v``."""
    note: str = ""
    floor: int = 0
    """The changed lines alone (`git diff -U0`): no pack at 100% recall is smaller."""
    budget: int = 0


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def review(
    repo: Path, oid: str, parent: str, *, unstaged_new: bool = False, tracked_only: bool = False
) -> Result:
    git(repo, "checkout", "-qf", "--detach", parent)
    git(repo, "clean", "-qfd")  # what --unstaged-new left untracked for the commit before
    git(repo, "read-tree", "-u", "--reset", oid)  # the change, uncommitted, on its parent
    diff = git(repo, "diff", "-M", "HEAD")
    patch = unidiff.PatchSet(diff)
    naive = diff + "".join(_text(repo / f.path) or git(repo, "show", f"{parent}:{f.path}") for f in patch)
    added = [f.path for f in patch if f.is_added_file]
    if unstaged_new and added:  # as an agent leaves the files it creates: untracked
        git(repo, "rm", "-q", "--cached", "--", *added)
    pack = context.build(
        Repo.discover(repo), context.Request(function_context=True, untracked=not tracked_only), COUNTER
    )
    shown: set[tuple[str, str, int]] = set()
    for part in pack.parts:
        for pf in unidiff.PatchSet(part.body):
            for row in (r for h in pf for r in h):
                if row.line_type in "+ " and row.target_line_no:
                    shown.add((pf.path, "+", row.target_line_no))
                if row.line_type == "-":
                    shown.add((pf.path, "-", row.source_line_no))
    changed = {
        (pf.path, r.line_type, r.target_line_no or r.source_line_no)
        for pf in patch
        for h in pf
        for r in h
        if r.line_type in "+-"
    }
    # The function each changed line sits in, as function context defines it: the innermost
    # def, or the class for a class-level statement; a removed line's function as it is now.
    funcs = set()
    for pf in patch:
        if not pf.path.endswith(".py") or pf.is_removed_file:
            continue
        new = blocks.python_scopes(_text(repo / pf.path)) or ()
        old = (
            ()
            if pf.is_added_file
            else blocks.python_scopes(git(repo, "show", f"{parent}:{pf.source_file[2:]}")) or ()
        )
        for r in (r for h in pf for r in h):
            if r.line_type == "+":
                now = [blocks.function_of(new, r.target_line_no)]
            elif r.line_type == "-":
                was = blocks.function_of(old, r.source_line_no)
                now = [s for s in new if was and (s.name, s.kind) == (was.name, was.kind)]
            else:
                continue
            funcs.update((pf.path, s.start, s.end) for s in now if s is not None)
    whole = [f for f in funcs if all((f[0], "+", n) in shown for n in range(f[1], f[2] + 1))]
    missed = [f"line {p}:{sign}{n}" for p, sign, n in sorted(changed - shown)]
    missed += [f"function {p}:{a}-{b}" for p, a, b in sorted(funcs - set(whole))]
    return Result(
        COUNTER.count(naive),
        pack.tokens,
        len(changed & shown) / max(1, len(changed)),
        len(whole) / len(funcs) if funcs else None,
        missed=tuple(missed),
        floor=COUNTER.count(git(repo, "diff", "-M", "-U0", "HEAD")),
    )


# Locate with --fill at budgets that are fractions of the naive context, which an agent knows
# before the change (the size of the files that match).
FILLS = (0.1, 0.25, 0.5, 0.75, 0.9)


def _fill_name(share: float) -> str:
    return f"--fill --budget {share:.0%} of naive"


def locate_scenario(
    repo: Path, oid: str, parent: str, message: str, *, related: bool = True
) -> dict[str, Result] | None:
    """The locate results of one commit: without fill, then each of :data:`FILLS`."""
    git(repo, "checkout", "-qf", "--detach", parent)
    git(repo, "clean", "-qfd")
    words = []
    for m in IDENT.finditer(message):
        word = (m.group(1) or m.group(2)).rstrip("()").split(".")[-1]
        if len(word) > 2 and word not in words:
            words.append(word)
    idents = [
        w for w in words if subprocess.run(["git", "grep", "-q", "-w", "-F", w], cwd=repo).returncode == 0
    ]
    if not idents:
        return None
    greps = tuple(f"(^|[^A-Za-z0-9_]){re.escape(w)}([^A-Za-z0-9_]|$)" for w in idents)
    matched = sorted(
        set(git(repo, "grep", "-l", "-w", *(arg for w in idents for arg in ("-e", w))).split("\n")) - {""}
    )
    naive = COUNTER.count("".join(_text(repo / p) for p in matched))
    targets = set()
    for pf in unidiff.PatchSet(git(repo, "diff", "-M", parent, oid)):
        if pf.is_added_file:
            continue
        for h in pf:
            last = max(1, h.source_start)
            for r in h:
                if r.source_line_no:
                    last = r.source_line_no
                if r.line_type == "-":
                    targets.add((pf.source_file[2:], r.source_line_no))
                elif r.line_type == "+":
                    targets.add((pf.source_file[2:], last))  # where the lines go in
    naive_recall = len({t for t in targets if t[0] in matched}) / max(1, len(targets))
    requests = {"": context.Request(greps=greps, related=related)}
    for share in FILLS:
        requests[_fill_name(share)] = context.Request(
            greps=greps, related=related, fill=True, budget=int(naive * share)
        )
    out = {}
    for name, request in requests.items():
        pack = context.build(Repo.discover(repo), request, COUNTER)
        # A hunk shortened to its matching lines shows those lines only.
        inside = {(p.path, n) for p in pack.parts for n in (p.only or range(p.start, p.end + 1))}
        # What naive has and the pack does not: lines of the matching files.
        missed = [f"line {p}:{n}" for p, n in sorted(targets - inside) if p in matched]
        missed += [f"dropped {d.what}" for d in pack.dropped]
        out[name] = Result(
            naive,
            pack.tokens,
            len(targets & inside) / max(1, len(targets)),
            naive_recall=naive_recall,
            missed=tuple(missed),
            note=f"grep {' '.join(idents)}",
            budget=request.budget,
        )
    return out


def falls(results: dict[str, Result]) -> list[str]:
    """Where one commit's recall falls as the budget rises (issue 15): a pack without fill
    stands at its own size (any budget from there gives it), each --fill pack at its budget."""
    points = sorted(
        (r.packed if not name else r.budget, r.recall, name or "no fill") for name, r in results.items()
    )
    return [
        f"{a[2]} ({a[0]} tokens) {a[1]:.0%} > {b[2]} ({b[0]} tokens) {b[1]:.0%}"
        for a, b in itertools.pairwise(points)
        if b[0] > a[0] and b[1] < a[1]
    ]


def fill_report(results: list[dict[str, Result]], verbose: bool = False) -> None:
    """Recall and token ratio of each fill budget next to naive's, and the smallest budget at
    naive's recall (mean over commits) with fewer tokens in total."""
    if not results:
        return
    fills = [name for name in results[0] if name]
    for r in results if verbose else ():
        print(
            f"  {r[''].name[:50]:50} fill recall "
            + ", ".join(f"{s:.0%}: {r[n].recall:.0%}" for s, n in zip(FILLS, fills))
            + f"; naive {r[''].naive_recall:.0%}"
        )
        for what in r[fills[-1]].missed[:8]:
            print(f"      missed at {FILLS[-1]:.0%}: {what}")
    print("  with --fill (budget from the naive context's size, known before the change):")
    print(f"    {'patchpack':36} {'median':>7} {'total':>7} {'recall':>7}  at naive's recall")
    naive_recall = statistics.mean(r[""].naive_recall for r in results)
    naive_tokens = sum(r[""].naive for r in results)
    smallest = None
    for name in results[0]:
        rs = [r[name] for r in results]
        ratios = [r.naive / max(1, r.packed) for r in rs]
        total = naive_tokens / max(1, sum(r.packed for r in rs))
        recall = statistics.mean(r.recall for r in rs)
        equal = sum(r.recall >= r.naive_recall for r in rs)
        verdict = "below naive" if recall < naive_recall else "equal or better"
        if name and smallest is None and recall >= naive_recall and total > 1:
            smallest = name
        print(
            f"    {name or 'no fill (default)':36} {statistics.median(ratios):6.1f}x "
            f"{total:6.1f}x {recall:6.1%}  {equal} of {len(rs)} commits; {verdict}"
        )
    print(f"    {'naive (every matching file whole)':36} {1:6.1f}x {1:6.1f}x {naive_recall:6.1%}")
    shares = ", ".join(f"{s:.0%}" for s in FILLS)
    print(
        f"  smallest fill budget at naive's recall with fewer tokens: {smallest}"
        if smallest
        else f"  no fill budget ({shares} of naive) reaches naive's recall with fewer tokens"
    )
    fallen = [(r[""].name, f) for r in results for f in falls(r)]
    print(
        f"  recall never falls as the budget rises: {'yes' if not fallen else 'NO'}, "
        f"{len(results) - len({n for n, _ in fallen})} of {len(results)} commits"
    )
    for name, what in fallen:
        print(f"    falls: {name[:40]}: {what}")


def report(name: str, results: list[Result], verbose: bool = False) -> None:
    if not results:
        print(f"{name}: no commits to measure")
        return
    for r in results if verbose else ():
        funcs = "" if r.recall_functions is None else f" functions {r.recall_functions:4.0%}"
        note = f"ceiling {r.naive / max(1, r.floor):5.1f}x" if r.floor else r.note
        print(
            f"  {r.name[:50]:50} {r.naive:6} / {r.packed:6} = "
            f"{r.naive / max(1, r.packed):5.1f}x  recall {r.recall:4.0%}{funcs}  {note}"
        )
        for what in r.missed[:8]:
            print(f"      missed {what}")
    ratios = [r.naive / max(1, r.packed) for r in results]
    naive, packed = sum(r.naive for r in results), sum(r.packed for r in results)
    funcs = [r.recall_functions for r in results if r.recall_functions is not None]
    print(f"{name}: {len(results)} commits; naive {naive} vs patchpack {packed} tokens ({COUNTER.name})")
    print(
        f"  ratio naive/patchpack: median {statistics.median(ratios):.1f}x, "
        f"total {naive / max(1, packed):.1f}x"
    )
    if all(r.floor for r in results):
        ceilings = [r.naive / r.floor for r in results]
        floor = sum(r.floor for r in results)
        print(
            f"  ceiling at 100% recall, naive/changed lines alone (git diff -U0): median "
            f"{statistics.median(ceilings):.1f}x, total {naive / floor:.1f}x; "
            f"{sum(c < 5 for c in ceilings)} of {len(results)} commits under 5x"
        )
    print(
        f"  recall: changed lines {statistics.mean(r.recall for r in results):.1%}"
        + (f", functions {statistics.mean(funcs):.1%}" if funcs else "")
        + (f"; naive {statistics.mean(r.naive_recall for r in results):.1%}" if name == "locate" else "")
    )


def _title(oid: str, message: str) -> str:
    return f"{oid[:7]} {message.partition(chr(10))[0]}"


def main(argv: list[str]) -> None:
    verbose, related = "-v" in argv, "--no-related" not in argv
    options = {"unstaged_new": "--unstaged-new" in argv, "tracked_only": "--tracked-only" in argv}
    argv = [a for a in argv if a not in ("-v", "--no-related", "--unstaged-new", "--tracked-only")]
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return
    n = int(argv[1]) if len(argv) > 1 else 30
    with tempfile.TemporaryDirectory(prefix="patchpack-bench-") as tmp:
        if argv[0].startswith("generate"):
            source = argv[0].partition(":")[2]
            repo = generate(Path(tmp), Path(source) if source else None, n)
        else:
            repo = Path(tmp) / "clone"
            subprocess.run(["git", "clone", "-q", "--no-local", argv[0], str(repo)], check=True)
        commits = candidates(repo, n)
        print(f"{argv[0]}: {len(commits)} commits changing 1-5 text files")
        report(
            "review",
            [
                replace(review(repo, oid, parent, **options), name=_title(oid, msg))
                for oid, parent, msg in commits
            ],
            verbose,
        )
        if options["unstaged_new"]:  # a review scenario; locate is the same as without
            return
        located = [locate_scenario(repo, oid, parent, msg, related=related) for oid, parent, msg in commits]
        found = [
            {k: replace(r, name=_title(oid, msg)) for k, r in rs.items()}
            for rs, (oid, _, msg) in zip(located, commits)
            if rs is not None
        ]
        print(f"  ({len(located) - len(found)} commits name no identifier for locate)")
        report("locate", [r[""] for r in found], verbose)
        fill_report(found, verbose)


if __name__ == "__main__":
    main(sys.argv[1:])
