"""Context packs: the work diff and located code, fitted to a token budget.

A pack has four sections in this order of priority: the diff of the work, the hunks located
by ``--grep``, the explicit ``--at`` ranges, and the related hunks: what the located Python
code uses from its own file (its imports, the module-level definitions it names), printed after
the located hunks. When they do not fit the budget, the related hunks go first, then the
explicit ranges, then every located hunk is shortened to its matches and their def (weakest
first) before the weakest go whole, then each file's diff is shortened to its
headers and changed lines, largest first, then dropped. What went is
listed at the end of the pack with the command that asks for it. The pack is deterministic for
the same repository state, and its total is counted on the exact text printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from pathlib import PurePosixPath

import unidiff

from patchpack import git
from patchpack.context import blocks, locate, untracked, widen
from patchpack.context.parts import (
    ASK_AT,
    TITLES,
    Dropped,
    Pack,
    Part,
    Request,
    counted,
)
from patchpack.git.files import Worktree
from patchpack.limits import diffs
from patchpack.tokens import Counter

# A guess at the tokens of a section's heading, for the first, cheap fitting pass.
_HEADING = 15
# The dropped list shows this many lines at most; `--json` lists them all.
_DROPPED_LINES = 10
# Rounds of --fill: each spends what the exact count of the pack leaves.
_FILL_ROUNDS = 3
# Located hunks this close to a changed line count as next to the diff.
_NEAR = 20


def build(repo: git.Repo, request: Request, counter: Counter) -> Pack:
    """Gather the sections of ``request`` and fit them to its budget."""
    base_name = request.base or "HEAD"
    diff_cmd = {
        "both": f"git diff {base_name}",
        "cached": f"git diff --cached {base_name}",
        "worktree": "git diff",
    }[request.side]
    new, notes = untracked.select(repo) if request.untracked and request.side != "cached" else ([], [])
    diff_parts, changed, shown = _diff_parts(
        git.work_diff(
            repo, base=request.base, side=request.side, whole_files=request.function_context, untracked=new
        ),
        counter,
        diff_cmd=diff_cmd,
        function_context=request.function_context,
        max_block_lines=request.max_file_lines,
        untracked=frozenset(new),
    )
    located_parts: list[Part] = []
    related_parts: list[Part] = []
    unmatched: tuple[str, ...] = ()
    if request.greps:
        found = locate.locate(
            repo, request.greps, paths=request.paths, cap=request.max_hunk_lines, with_related=request.related
        )
        notes += found.notes
        unmatched = found.unmatched

        def fresh(h: locate.Hunk) -> bool:
            return not all((h.path, n) in shown for n in range(h.start, h.end + 1))

        notes += [f"{h.where}: already in the diff" for h in found.hunks if not fresh(h)]
        ranked = sorted(filter(fresh, found.hunks), key=lambda h: _rank(h, changed))
        located_parts = [_hunk_part("located", h, counter) for h in ranked]
        # A file's related hunks follow its strongest hit: the weakest file's go first.
        order: dict[str, int] = {}
        for i, h in enumerate(ranked):
            order.setdefault(h.path, i)
        related = sorted(
            filter(fresh, found.related), key=lambda h: (order.get(h.path, len(order)), h.path, h.start)
        )
        related_parts = [_hunk_part("related", h, counter) for h in related]
    explicit = [
        _hunk_part("explicit", locate.at(repo, spec, max_file_lines=request.max_file_lines), counter)
        for spec in request.ats
    ]
    sources = {
        "diff": diff_cmd + (", untracked files as new" if new else ""),
        "located": " ".join(f"--grep {_quote(g)}" for g in request.greps)
        + "".join(f" --path {_quote(p)}" for p in request.paths),
        "explicit": " ".join(f"--at {a}" for a in request.ats),
        "related": "imports and module-level definitions the located code uses",
        "widened": "--fill: headers, file ends, paired tests, module level, the rest of "
        "matched blocks, their classes, calls, neighbours",
    }
    pack = fit(
        diff_parts,
        located_parts,
        explicit,
        related_parts,
        counter=counter,
        budget=request.budget,
        sources=sources,
        notes=tuple(notes),
        unmatched=unmatched,
    )
    if request.fill and request.greps and not pack.dropped:
        tests = widen.paired_tests({h.path for h in found.hunks}, git.tracked_files(repo))
        units, texts = widen.plan(
            Worktree.of(repo),
            sorted(found.hunks, key=lambda h: _rank(h, changed)),
            cap=request.max_hunk_lines,
            tests=tests,
            strength=lambda h: _strength(h, changed),
        )
        shown |= {(p.path, n) for p in pack.parts if p.section != "diff" for n in range(p.start, p.end + 1)}
        pack = _fill(pack, units, texts, shown, counter=counter, max_file_lines=request.max_file_lines)
    return pack


# -- the diff section -------------------------------------------------------------------------


def _diff_parts(
    text: str,
    counter: Counter,
    *,
    diff_cmd: str,
    function_context: bool,
    max_block_lines: int,
    untracked: frozenset[str] = frozenset(),
) -> tuple[list[Part], dict[str, list[int]], set[tuple[str, int]]]:
    """One part per file of the diff, each file's changed lines and the (path, line) it shows.

    Line numbers are those of the new side, the work tree. An ``untracked`` file's diff is
    asked for again with `git diff --no-index`, as `git diff` does not show it.
    """
    parts: list[Part] = []
    changed: dict[str, list[int]] = {}
    shown: set[tuple[str, int]] = set()
    for chunk in re.split(r"(?m)^(?=diff --(?:git|cc|combined) )", text):
        if not chunk.strip():
            continue
        if not chunk.startswith("diff --git "):  # a merge's combined diff: shown as git prints it
            path = chunk.split("\n", 1)[0].split(" ", 2)[-1]
            parts.append(counted(Part("diff", path, chunk, f"{diff_cmd} -- {path}"), counter))
            continue
        change = diffs.measure(chunk).files[0]
        pf = diffs.parse(chunk)[0]
        header = chunk.split("\n@@ ", 1)[0] + "\n" if "\n@@ " in chunk else chunk
        rows = [row for hunk in pf for row in hunk]
        changed[change.path] = [
            r.target_line_no for r in rows if r.line_type == "+" and r.target_line_no is not None
        ]
        want = _function_keep(change.path, rows, max_block_lines) if function_context else lambda r: True
        if function_context:
            chunk = header + diffs.windows(pf, want)
        shown.update(
            (change.path, r.target_line_no) for r in rows if r.target_line_no is not None and want(r)
        )
        short = header + diffs.windows(pf, lambda r: r.line_type in "+-")
        ask = (
            f"git diff --no-index -- /dev/null {_quote(change.path)}"
            if change.path in untracked
            else f"{diff_cmd} -- {change.path}"
        )
        short_part = None
        if short != chunk:
            short_part = counted(Part("diff", change.path, short, ask, label="shortened"), counter)
        parts.append(counted(Part("diff", change.path, chunk, ask, short=short_part), counter))
    return parts, changed, shown


def _function_keep(
    path: str, rows: list[unidiff.patch.Line], cap: int
) -> Callable[[unidiff.patch.Line], bool]:
    """Keep changed rows and the function each sits in (new side), else 3 lines around.

    ``rows`` are a whole-file diff's. For Python the function is :func:`blocks.function_of`:
    the innermost def, or the class for a class-level statement; a removed line widens to the
    function it sat in, as that function is now (found by name). Changes at module level or
    between definitions get the 3 lines. Other languages, and Python that does not parse (work
    in progress), get the indentation heuristic's function or type block, else the 3 lines.
    """
    new = [r.value.rstrip("\n") for r in rows if r.line_type in "+ "]
    if not new:
        return lambda r: r.line_type in "+-"
    scopes = blocks.python_scopes("\n".join(new)) if path.endswith((".py", ".pyi")) else None
    old_scopes = (
        None
        if scopes is None
        else blocks.python_scopes("\n".join(r.value.rstrip("\n") for r in rows if r.line_type in "- "))
    )
    keep: set[int] = set()
    anchor = 0  # the last line of the new side seen
    for row in rows:
        if row.target_line_no is not None:
            anchor = row.target_line_no
        if row.line_type not in "+-":
            continue
        line = max(1, anchor if row.line_type == "+" else min(anchor + 1, len(new)))
        block: blocks.Block | None = None
        if scopes is None:
            found = locate.block_for(path, new, line, cap=cap)
            block = found if found.label else None
        else:
            scope = (
                blocks.function_of(scopes, line)
                if row.line_type == "+"
                else _now(scopes, old_scopes, row.source_line_no, line)
            )
            if scope is not None:
                block = blocks.cut(scope.block, min(max(line, scope.start), scope.end), cap)
        keep.update(range(block.start, block.end + 1) if block else range(line - 3, line + 4))
    return lambda r: r.line_type in "+-" or r.target_line_no in keep


def _now(
    scopes: Sequence[blocks.Scope], old_scopes: Sequence[blocks.Scope] | None, old_line: int | None, line: int
) -> blocks.Scope | None:
    """The function a removed line sat in, as it is now: same name, the nearest if several."""
    if old_scopes is None or old_line is None:
        # The old side does not parse: where the line was, in the new side.
        return blocks.function_of(scopes, line)
    was = blocks.function_of(old_scopes, old_line)
    if was is None:
        return None
    same = [s for s in scopes if s.name == was.name and s.kind == was.kind]
    return min(same, key=lambda s: (abs(s.start - line), s.start), default=None)


# -- located and explicit hunks ---------------------------------------------------------------


def _rank(h: locate.Hunk, changed: dict[str, list[int]]) -> tuple[object, ...]:
    """Strongest first (:func:`_strength`), then by path and line."""
    return (*_strength(h, changed), h.path, h.start)


def _strength(h: locate.Hunk, changed: dict[str, list[int]]) -> tuple[int, ...]:
    """Smaller is stronger: next to the diff, in a changed file, its directory; then the hunks
    that define what was searched for, those that read it where their file binds it nowhere
    (a missing import), then by matches."""
    lines = changed.get(h.path)
    if lines is not None and any(h.start - _NEAR <= n <= h.end + _NEAR for n in lines):
        distance = 0
    elif lines is not None:
        distance = 1
    elif any(PurePosixPath(p).parent == PurePosixPath(h.path).parent for p in changed):
        distance = 2
    else:
        distance = 3
    return (distance, -len(h.defines), -len(h.unbound), -len(h.patterns), -len(h.hits))


def _hunk_part(section: str, h: locate.Hunk, counter: Counter) -> Part:
    part = Part(
        section, h.path, h.text, f"patchpack context --at {h.where}", start=h.start, end=h.end, label=h.label
    )
    keep = sorted({*h.hits, *h.heads}) if section == "located" else []
    if keep and len(keep) < h.end - h.start + 1:  # the matches and their def, for a tight budget
        rows = h.text.splitlines(keepends=True)
        body = "".join(
            ("...\n" if n > (keep[i - 1] if i else h.start - 1) + 1 else "") + rows[n - h.start]
            for i, n in enumerate(keep)
        )
        label = "; ".join(filter(None, (h.label, "matching lines")))
        part = replace(
            part,
            short=counted(
                replace(
                    part, body=body + ("...\n" if keep[-1] < h.end else ""), label=label, only=tuple(keep)
                ),
                counter,
            ),
        )
    return counted(part, counter)


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w./*:,=+-]+", text) else "'" + text.replace("'", "'\\''") + "'"


# -- fitting ----------------------------------------------------------------------------------


def fit(
    diff_parts: Sequence[Part],
    located: Sequence[Part],
    explicit: Sequence[Part],
    related: Sequence[Part] = (),
    *,
    counter: Counter,
    budget: int,
    sources: dict[str, str] | None = None,
    notes: tuple[str, ...] = (),
    unmatched: tuple[str, ...] = (),
) -> Pack:
    """The largest pack that fits ``budget`` by the order of degradation in the module doc.

    ``located`` and ``related`` are ranked strongest first. The total is counted on the final
    text, so it is never over the budget, however the counter merges tokens across parts.
    """
    sources = sources or {}
    current: list[Part] = [*diff_parts, *located, *related, *explicit]
    dropped: dict[str, Dropped] = {}  # by its command, so a diff shortened then dropped is one

    def drop(part: Part) -> None:
        gone = next(p for p in current if p is part or p is part.short)
        current.remove(gone)
        dropped[part.ask] = Dropped(part.describe(), part.ask)

    def shorten(part: Part) -> None:
        assert part.short is not None
        current[current.index(part)] = part.short
        kind = "changed" if part.section == "diff" else "matching"
        dropped[part.ask] = Dropped(f"{part.describe()} shortened to its {kind} lines", part.ask)

    biggest = sorted(diff_parts, key=lambda p: (-p.tokens, p.path))
    # Every located hunk keeps its matches and their def before any is dropped whole (#15):
    # the weakest is often the one the change is about.
    steps: list[Callable[[], None]] = [
        *(partial(drop, p) for p in [*reversed(related), *reversed(explicit)]),
        *(partial(shorten, p) for p in reversed(located) if p.short is not None),
        *(partial(drop, p) for p in reversed(located)),
        *(partial(shorten, p) for p in biggest if p.short is not None),
        *(partial(drop, p) for p in biggest),
    ]

    # First on the sum of the parts (cheap), then on the whole text, which the counter's
    # merges across parts can make a little different.
    def estimate() -> int:
        return (
            _HEADING * len({p.section for p in current})
            + sum(p.tokens for p in current)
            + counter.count(_render_dropped(list(dropped.values())))
        )

    while steps and estimate() > budget:
        steps.pop(0)()
    while True:
        text = _render(current, list(dropped.values()), sources, unmatched)
        tokens = counter.count(text)
        if tokens <= budget:
            break
        if not steps:  # nothing left to drop but the list of what was dropped
            text, tokens = _trim_dropped(list(dropped.values()), counter, budget)
            break
        steps.pop(0)()
    # What the last shortening left goes back to the strongest hits, whole.
    for part in located if tokens <= budget and current else ():
        at = next((i for i, p in enumerate(current) if p is part.short), None)
        if at is None or part.short is None or tokens + part.tokens - part.short.tokens > budget:
            continue
        trial = [*current[:at], part, *current[at + 1 :]]
        left = {k: d for k, d in dropped.items() if k != part.ask}
        trial_text = _render(trial, list(left.values()), sources, unmatched)
        if (trial_tokens := counter.count(trial_text)) <= budget:
            current, dropped, text, tokens = trial, left, trial_text, trial_tokens
    return Pack(
        text, tokens, counter.name, budget, tuple(current), tuple(dropped.values()), notes, unmatched, sources
    )


def _trim_dropped(dropped: list[Dropped], counter: Counter, budget: int) -> tuple[str, int]:
    """The list of what was dropped, cut until it fits; an empty pack fits any budget."""
    for keep in range(min(len(dropped), _DROPPED_LINES) - 1, -1, -1):
        more = Dropped(f"{len(dropped) - keep} parts", "patchpack context --json")
        text = _render_dropped([*dropped[:keep], more])
        tokens = counter.count(text)
        if tokens <= budget:
            return text, tokens
    return "", 0


def _render(
    parts: Sequence[Part], dropped: Sequence[Dropped], sources: dict[str, str], unmatched: tuple[str, ...]
) -> str:
    out = []
    for name, title in TITLES.items():
        chosen = [p for p in parts if p.section == name]
        if name != "diff":  # code in file order; the ranking only decides what is dropped
            chosen.sort(key=lambda p: (p.path, p.start))
        if chosen:
            body = "\n".join(p.text for p in chosen)
            noun = "file" if name == "diff" else "hunk"
            out.append(
                f"## {title}: {sources.get(name, '')} ({len(chosen)} {noun}"
                f"{'s' if len(chosen) > 1 else ''}, "
                f"{sum(p.tokens for p in chosen)} tokens)\n\n{body}"
            )
    if unmatched and parts:
        out.append("no match: " + ", ".join(_quote(u) for u in unmatched) + "\n")
    if dropped:
        out.append(_render_dropped(dropped))
    return "\n".join(out)


def _render_dropped(dropped: Sequence[Dropped]) -> str:
    if not dropped:
        return ""
    shown = dropped if len(dropped) <= _DROPPED_LINES else dropped[: _DROPPED_LINES - 1]
    more = len(dropped) - len(shown)
    return (
        f"## dropped to fit the budget; ask for a hunk with `{ASK_AT}PATH:START-END`\n"
        + "".join(d.line() + "\n" for d in shown)
        + (f"- {more} more: see `patchpack context --json`, or narrow the request\n" if more else "")
    )


# -- filling the budget -----------------------------------------------------------------------


def _fill(
    pack: Pack,
    units: Sequence[widen.Unit],
    texts: dict[str, list[str]],
    shown: set[tuple[str, int]],
    *,
    counter: Counter,
    max_file_lines: int,
) -> Pack:
    """``pack`` with the ``units`` that fit what its budget leaves, taken in order, a unit
    that does not fit passed over for the smaller ones after it. A file over
    ``max_file_lines`` is never shown whole: when the units would show every line of it, the
    code of its last unit in that order (the farthest from the matches) that is not shown yet
    stays out, for ``--at`` to ask for.
    Widened lines and the hunks they touch print as one hunk (:func:`_widened_parts`).
    """
    # The code lines each unit would add first, in order: the last unit's, per large file,
    # are kept out.
    first: dict[str, dict[int, set[int]]] = {}
    seen = set(shown)
    for i, unit in enumerate(units):
        lines = texts[unit.path]
        if len(lines) > max_file_lines:
            code = {
                n
                for n in range(unit.start, unit.end + 1)
                if (unit.path, n) not in seen and lines[n - 1].strip()
            }
            if code:
                first.setdefault(unit.path, {})[i] = code
                seen.update((unit.path, n) for n in code)
    # Only where the units would show the file whole: the end of a paired test file is not.
    kept_out = {
        (path, n)
        for path, owned in first.items()
        if all((path, n) in seen for n, text in enumerate(texts[path], 1) if text.strip())
        for n in owned[max(owned)]
    }
    shown = shown | kept_out
    taken: list[tuple[widen.Unit, list[int]]] = []
    result, left = pack, list(units)
    room = pack.budget - pack.tokens - 2 * _HEADING
    # The cost of a unit is an estimate (merged hunks save headings, the counter merges
    # tokens across lines); a few rounds spend what the exact count of the text leaves.
    for _ in range(_FILL_ROUNDS):
        chosen = {(u.path, n) for u, new in taken for n in new}
        passed: list[widen.Unit] = []
        for unit in left:
            lines = texts[unit.path]
            new = [
                n
                for n in range(unit.start, unit.end + 1)
                if (unit.path, n) not in shown and (unit.path, n) not in chosen
            ]
            if not new:
                continue
            cost = counter.count("".join(lines[n - 1] + "\n" for n in new))
            if not any(
                ((unit.path, n) in shown and (unit.path, n) not in kept_out) or (unit.path, n) in chosen
                for n in (new[0] - 1, new[-1] + 1)
            ):  # a hunk of its own
                cost += _HEADING
            if cost > room:
                passed.append(unit)
                continue
            chosen.update((unit.path, n) for n in new)
            taken.append((unit, new))
            room -= cost
        if len(passed) == len(left):
            break
        left = passed
        while taken:
            parts, absorbed = _widened_parts(taken, texts, pack.parts, counter)
            current = (*(p for p in pack.parts if p not in absorbed), *parts)
            text = _render(current, [], pack.sources, pack.unmatched)
            tokens = counter.count(text)
            if tokens <= pack.budget:
                result = replace(pack, text=text, tokens=tokens, parts=current)
                break
            taken.pop()
        room = pack.budget - result.tokens - _HEADING
    return result


def _widened_parts(
    taken: Sequence[tuple[widen.Unit, list[int]]],
    texts: dict[str, list[str]],
    others: Sequence[Part],
    counter: Counter,
) -> tuple[list[Part], set[Part]]:
    """The lines ``taken`` as hunks, one per run of lines, labelled with what they hold, and
    the hunks of ``others`` they take in: a located, related or explicit hunk that widened
    lines touch prints inside the widened hunk around it, which saves a heading and reads as
    one piece of the file."""
    labels: dict[tuple[str, int], str] = {}
    for unit, new in taken:
        labels.update(((unit.path, n), unit.label) for n in new)
    widened = {path for path, _ in labels}
    held: dict[str, list[Part]] = {}
    for p in others:
        if p.section != "diff" and p.path in widened:
            held.setdefault(p.path, []).append(p)
    parts, absorbed = [], set()
    for path in sorted(widened):
        lines = texts[path]
        mine = {n for p, n in labels if p == path}
        every = mine | {n for p in held.get(path, ()) for n in range(p.start, p.end + 1)}
        runs: list[list[int]] = []
        for n in sorted(every):
            if runs and runs[-1][-1] == n - 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        for run in runs:
            if not mine.intersection(run):
                continue
            inside = [p for p in held.get(path, ()) if run[0] <= p.start <= run[-1]]
            absorbed.update(inside)
            # What the hunk holds: the matches first, then in line order.
            names = [
                " ".join(filter(None, (p.label, f"[{TITLES[p.section]}]")))
                for p in sorted(inside, key=lambda p: (p.section != "located", p.start))
            ]
            names += [labels[path, n] for n in run if (path, n) in labels]
            names = list(dict.fromkeys(names))
            label = names[0] + (f" and {len(names) - 1} more" if len(names) > 1 else "")
            h = locate.Hunk(path, run[0], run[-1], "".join(lines[n - 1] + "\n" for n in run), label=label)
            parts.append(_hunk_part("widened", h, counter))
    return parts, absorbed
