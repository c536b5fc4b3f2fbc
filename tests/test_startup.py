"""Start-up fit for a hook (#16): `apply` of a queued patch loads no tokenizer, its tokens
having been counted when it was queued, and the figures stay what they were."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from patchpack.errors import BadInput
from patchpack.tokens import counter_name, get_counter

from conftest import git, lines, write

REF = "refs/patchpack/queue/main"
# The command run as the console script runs it, then whether the tokenizer was imported.
PROBE = (
    "import sys\nfrom patchpack.cli import main\ntry:\n    main(sys.argv[1:])\n"
    "except SystemExit as e:\n    print(e.code, 'tiktoken' in sys.modules)"
)


def _probe(repo: Path, *argv: str) -> str:
    r = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=repo, capture_output=True, text=True)
    return r.stdout.splitlines()[-1] + (f"  ({r.stderr})" if r.stderr else "")


def _split_two(repo: Path, cli) -> list[int]:
    """Two patches queued by `split`; their tokens as `list` counts them (cl100k_base)."""
    write(repo / "a.txt", lines(30, "a"))
    write(repo / "b.txt", lines(30, "b"))
    assert cli("split", "-m", "Two", "--max-files", "1").exit_code == 0
    listed = json.loads(cli("list", "--json").stdout)
    assert listed["counter"] == "cl100k_base"
    return [p["tokens"] for p in listed["patches"]]


def _entries(repo: Path, rev: str) -> list[dict[str, object]]:
    note = git(repo, "notes", "--ref=patchpack", "show", rev)
    return [json.loads(line) for line in note.splitlines()]


def _series(repo: Path) -> list[dict[str, object]]:
    names = git(repo, "ls-tree", "-r", "--name-only", f"{REF}:series").split()
    return [json.loads(git(repo, "show", f"{REF}:series/{n}")) for n in names]


def _edit_series(repo: Path, **fields: object) -> None:
    """A new state whose patches have ``fields`` set (None: removed), as an older patchpack
    or a hand edit would leave them."""
    env = {**os.environ, "GIT_INDEX_FILE": str(repo / ".git" / "edit-index")}
    run = lambda *a, input=None: subprocess.run(  # noqa: E731
        ["git", *a], cwd=repo, env=env, input=input, check=True, capture_output=True, text=True
    ).stdout.strip()
    run("read-tree", REF)
    for name in run("ls-tree", "-r", "--name-only", f"{REF}:series").split():
        data = json.loads(run("show", f"{REF}:series/{name}"))
        for key, value in fields.items():
            data.pop(key, None) if value is None else data.__setitem__(key, value)
        blob = run("hash-object", "-w", "--stdin", input=json.dumps(data))
        run("update-index", "--cacheinfo", f"100644,{blob},series/{name}")
    old = run("rev-parse", REF)
    state = run("commit-tree", run("write-tree"), "-p", old, "-m", "edited")
    run("update-ref", REF, state, old)


def test_split_keeps_each_patchs_tokens_in_the_queue(committed: Path, cli) -> None:
    counts = _split_two(committed, cli)
    assert [(p["tokens"], p["counter"]) for p in _series(committed)] == [(n, "cl100k_base") for n in counts]


def test_apply_of_a_queued_patch_loads_no_tokenizer(committed: Path, cli) -> None:
    counts = _split_two(committed, cli)
    assert _probe(committed, "apply") == "0 False"
    assert [(e["kind"], e["in"], e["counter"]) for e in _entries(committed, "HEAD")] == [
        ("apply", counts[0], "cl100k_base")
    ]
    assert git(committed, "log", "--format=%s", "-1") == "Two (1/2): a.txt\n"


def test_a_queue_from_before_counts_at_apply_as_it_did(committed: Path, cli) -> None:
    counts = _split_two(committed, cli)
    _edit_series(committed, tokens=None, counter=None)
    assert _probe(committed, "apply", "--all") == "0 True"
    assert [_entries(committed, rev)[0]["in"] for rev in ("HEAD~1", "HEAD")] == counts


@pytest.mark.parametrize("tokens", ["12", -1, True, 1.5, [3]])
def test_kept_tokens_that_are_not_a_count_are_counted_again(committed: Path, cli, tokens: object) -> None:
    counts = _split_two(committed, cli)
    _edit_series(committed, tokens=tokens, counter="cl100k_base")
    assert _probe(committed, "apply") == "0 True"
    assert _entries(committed, "HEAD")[0]["in"] == counts[0]


def test_tokens_kept_by_another_counter_are_counted_with_todays(committed: Path, cli, monkeypatch) -> None:
    monkeypatch.setenv("PATCHPACK_TOKENIZER", "chars:4")
    write(committed / "a.txt", lines(30, "a"))
    assert cli("split", "-m", "One").exit_code == 0
    assert _series(committed)[0]["counter"] == "chars:4"
    monkeypatch.delenv("PATCHPACK_TOKENIZER")
    expected = json.loads(cli("list", "--json").stdout)["patches"][0]["tokens"]
    assert _probe(committed, "apply") == "0 True"
    entry = _entries(committed, "HEAD")[0]
    assert (entry["in"], entry["counter"]) == (expected, "cl100k_base")


@pytest.mark.parametrize("spec", ["cl100k_base", " cl100k_base ", "chars:4", "chars:2.50", "chars:1e1"])
def test_a_counters_name_is_known_without_loading_it(spec: str) -> None:
    assert counter_name(spec) == get_counter(spec).name


@pytest.mark.parametrize("spec", ["chars:0", "chars:x", "chars:inf"])
def test_a_bad_chars_counter_is_bad_input_either_way(spec: str) -> None:
    for make in (counter_name, get_counter):
        with pytest.raises(BadInput, match="chars:N needs a number"):
            make(spec)


# -- what a hot command imports ------------------------------------------------------------------


def _imported(code: str, *modules: str) -> list[str]:
    """Which of ``modules`` a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return r.stdout.split()


def test_settings_load_without_dataclasses_or_typing(committed: Path) -> None:
    # A fifth and a tenth of the guard's start-up (#16); the interpreter alone loads neither.
    assert _imported("pass", "dataclasses", "typing", "inspect") == []
    code = (
        "from patchpack.config import Settings\nassert Settings.load(lambda key: None).max_file_lines == 200"
    )
    assert _imported(code, "dataclasses", "typing", "inspect") == []


def test_a_hook_payload_is_parsed_without_typing() -> None:
    code = "from patchpack.safejson import loads\nassert loads('[{}]', max_depth=3) == [{}]"
    assert _imported(code, "dataclasses", "typing", "inspect") == []


def test_settings_stay_immutable_values(monkeypatch) -> None:
    from patchpack.config import Settings, names

    monkeypatch.setenv("PATCHPACK_MAX_FILES", "3")
    loaded = Settings.load(lambda key: "0.5" if key == "patchpack.runTimeout" else None)
    assert (loaded.max_files, loaded.run_timeout, loaded.max_lines) == (3, 0.5, 120)
    assert loaded == Settings(max_files=3, run_timeout=0.5) != Settings()
    assert hash(loaded) == hash(Settings(max_files=3, run_timeout=0.5))
    assert names()[:2] == ("max_files", "max_lines") and "truncate_command" in names()
    with pytest.raises(AttributeError, match="immutable"):
        loaded.max_files = 4  # type: ignore[misc]
    with pytest.raises(TypeError, match="unknown settings"):
        Settings.load(None, max_filez=3)


def test_a_bad_setting_names_its_source_and_a_fix(monkeypatch) -> None:
    from patchpack.config import Settings

    monkeypatch.setenv("PATCHPACK_CONTEXT_RELATED", "maybe")
    with pytest.raises(BadInput) as e:
        Settings.load(None)
    assert e.value.render() == (
        "patchpack: PATCHPACK_CONTEXT_RELATED: expected true or "
        "false, got 'maybe'\nhint: fix the value, e.g. `git config "
        "patchpack.contextRelated True`"
    )


# pygit2 itself is lazy; dataclasses (inspect) and typing cost a fifth and a tenth of a start-up.
HEAVY = ("click", "pygit2._pygit2", "tiktoken", "unidiff", "dataclasses", "typing", "patchpack.git.objects")


def _guard(repo: Path, event: dict[str, object], *argv: str) -> tuple[int, str, str, list[str]]:
    """`patchpack guard ARGV` through the console script's entry point, in a fresh
    interpreter: exit code, stdout, stderr and which of HEAVY it loaded."""
    probe = (
        "import sys\nfrom patchpack.__main__ import main\nsys.argv[1:] = sys.argv[2:]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        f"print(code, *[m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, "-", "guard", *argv],
        cwd=repo,
        input=json.dumps(event),
        capture_output=True,
        text=True,
    )
    *told, last = r.stderr.splitlines()
    code, *loaded = last.split()
    return int(code), r.stdout, "\n".join(told), loaded


def _read(repo: Path, name: str) -> dict[str, object]:
    return {
        "session_id": "s",
        "cwd": str(repo),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Read",
        "tool_input": {"file_path": str(repo / name)},
        "tool_use_id": "t",
    }


def test_the_guard_answers_an_allowed_read_without_click_or_libgit2(committed: Path) -> None:
    assert _guard(committed, _read(committed, "README.md")) == (0, "", "", [])


def test_the_guard_denies_a_large_read_without_them_too(committed: Path) -> None:
    write(committed / "big.txt", lines(300))
    code, out, err, loaded = _guard(committed, _read(committed, "big.txt"), "--limit-all")
    assert (code, err, loaded) == (0, "", [])
    answer = json.loads(out)["hookSpecificOutput"]
    assert (
        answer["permissionDecision"] == "deny"
        and "big.txt has 300 lines" in answer["permissionDecisionReason"]
    )


def test_the_guard_rewrites_a_test_run_without_them(committed: Path) -> None:
    event = {**_read(committed, "x"), "tool_name": "Bash", "tool_input": {"command": "pytest -x"}}
    code, out, err, loaded = _guard(committed, event)
    assert (code, err, loaded) == (0, "", [])
    assert json.loads(out)["hookSpecificOutput"]["updatedInput"]["command"] == "patchpack test -x"


def test_guard_help_and_unknown_options_still_go_to_click(committed: Path) -> None:
    code, out, err, loaded = _guard(committed, {}, "--help")
    assert code == 0 and "Usage: patchpack guard" in out and "click" in loaded
    code, out, err, loaded = _guard(committed, {}, "--limit-some")
    assert code == 2 and "No such option '--limit-some'" in err


# What `next` and `status` leave out: dataclasses (inspect) was a sixth of their start-up; the
# tokenizer's checks (hashlib), the retry pause (random), a split's recovery and drop and undo
# serve other commands; unidiff only a work tree with a change.
NOT_FOR_THE_LOOP = (
    "click",
    "pygit2._pygit2",
    "dataclasses",
    "inspect",
    "random",
    "hashlib",
    "unidiff",
    "patchpack.tokens",
    "patchpack.queue.recovery",
    "patchpack.queue.changes",
)


def _loaded(repo: Path, *argv: str) -> tuple[int, list[str]]:
    """``patchpack ARGV`` through the console script's entry point in a fresh interpreter:
    its exit code and which of NOT_FOR_THE_LOOP it loaded."""
    probe = (
        "import sys\nfrom patchpack.__main__ import main\nsys.argv[1:] = sys.argv[2:]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        f"print(code, *[m for m in {NOT_FOR_THE_LOOP!r} if m in sys.modules], "
        "file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", probe, "-", *argv], cwd=repo, capture_output=True, text=True)
    code, *loaded = r.stderr.splitlines()[-1].split()
    return int(code), loaded


@pytest.mark.parametrize(
    "argv", [("next",), ("next", "--json"), ("status",), ("status", "--json"), ("status", "--tracked-only")]
)
def test_next_and_status_of_a_queue_load_no_dataclasses(committed: Path, cli, argv) -> None:
    _split_two(committed, cli)
    assert _loaded(committed, *argv) == (0, [])


def test_status_of_a_change_loads_unidiff_only(committed: Path) -> None:
    write(committed / "README.md", "# changed\n")
    assert _loaded(committed, "status") == (0, ["unidiff"])


# What a plain install's interpreter does not load at start-up, and an allowed call's guard no
# longer either: each was 7-15 ms of its start-up (#16). Run without `site`, as the editable
# install's finder loads `re` and more for every interpreter of the test venv.
STDLIB_HEAVY = ("json", "re", "pathlib", "subprocess", "typing", "dataclasses")


def _guard_bare(repo: Path, event: dict[str, object]) -> tuple[str, list[str]]:
    probe = (
        "import sys\nfrom patchpack.__main__ import main\nsys.argv[1:] = ['guard']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
        f"print(code, *[m for m in {STDLIB_HEAVY!r} if m in sys.modules], file=sys.stderr)"
    )
    import patchpack

    env = {**os.environ, "PYTHONPATH": str(Path(patchpack.__file__).parent.parent)}
    r = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        cwd=repo,
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
    )
    code, *loaded = r.stderr.splitlines()[-1].split()
    return r.stdout + code, loaded


@pytest.mark.parametrize("command", ["ls -la", "git status", "make lint | head -5"])
def test_an_allowed_call_loads_no_json_re_pathlib_or_subprocess(committed: Path, command: str) -> None:
    assert _guard_bare(committed, _read(committed, "README.md")) == ("0", [])
    shell = {**_read(committed, "x"), "tool_name": "Bash", "tool_input": {"command": command}}
    assert _guard_bare(committed, shell) == ("0", [])


def test_a_test_run_rewritten_loads_re_and_json_only_then(committed: Path) -> None:
    event = {**_read(committed, "x"), "tool_name": "Bash", "tool_input": {"command": "pytest -x"}}
    out, loaded = _guard_bare(committed, event)
    assert '"patchpack test -x"' in out and loaded == ["json", "re"]


def test_the_guards_launcher_answers_as_patchpack_guard(committed: Path) -> None:
    # bin/patchpack-guard, installed beside `patchpack`: the same answers without pip's `re`.
    launcher = shutil.which("patchpack-guard")
    assert launcher is not None, "pip install the project: its launcher is not on PATH"
    write(committed / "big.txt", lines(300))
    for event, argv in ((_read(committed, "README.md"), []), (_read(committed, "big.txt"), ["--limit-all"])):
        ran = [
            subprocess.run(command, cwd=committed, input=json.dumps(event), capture_output=True, text=True)
            for command in ([launcher, *argv], [sys.executable, "-m", "patchpack", "guard", *argv])
        ]
        assert [(r.returncode, r.stdout, r.stderr) for r in ran] == [
            (ran[1].returncode, ran[1].stdout, ran[1].stderr)
        ] * 2
    assert '"permissionDecision": "deny"' in ran[0].stdout
