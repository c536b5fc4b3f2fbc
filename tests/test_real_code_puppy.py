"""The real Code Puppy (PyPI, pinned in tests/clients/install.py) set up by `patchpack integrate
code-puppy` and `integrate claude-code`, its hook engine trusted as `/hooks trust accept` does,
driven by a scripted model on 127.0.0.1: what the guard does reaches the model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clients.endpoint import Endpoint, call, say
from clients.install import CodePuppy
from clients.projects import MANY_TESTS
from clients.sessions import puppy_home, run_code_puppy, trust_project_hooks
from conftest import git, lines, run_patchpack, write

AGENT = "pack-leader-token-efficient"


@pytest.fixture
def project(committed: Path, code_puppy: CodePuppy, tmp_path: Path) -> Path:
    write(committed / "tests" / "test_many.py", MANY_TESTS)
    write(committed / "data.txt", lines(300))
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "tests")
    for agent in ("code-puppy", "claude-code"):
        done = run_patchpack("integrate", agent, cwd=committed)
        assert done.returncode == 0, done.stderr
    trust_project_hooks(code_puppy, committed, home=tmp_path / "puppy-home")
    return committed


def test_guard_refuses_a_plain_test_run_an_oversized_file_and_a_whole_read(
    code_puppy: CodePuppy, project: Path, tmp_path: Path
) -> None:
    home, usage = tmp_path / "puppy-home", tmp_path / "usage.json"
    script = [
        call("agent_run_shell_command", command="python -m pytest -v tests/test_many.py"),
        call("agent_run_shell_command", command="patchpack test -v tests/test_many.py"),
        call("create_file", file_path="big.py", content=lines(300)),
        call("read_file", file_path="data.txt"),
        say("Finished."),
    ]
    with Endpoint(script) as ep:
        puppy_home(home, endpoint=ep.url)
        run = run_code_puppy(
            code_puppy,
            "Run the tests, write big.py, read data.txt.",
            cwd=project,
            home=home,
            agent=AGENT,
            usage_file=usage,
        )
    assert run.proc.returncode == 0, run.describe()
    loop = ep.scripted
    assert len(loop) == 5, (run.describe(), [r.path for r in ep.requests])
    results = loop[4].tool_results()

    # Code Puppy's hook engine cannot take a rewritten command: the guard refuses the plain
    # test run, naming the command to run instead, and the model runs that.
    assert "run this instead: patchpack test -v tests/test_many.py" in results[0], results[0]
    # What the model gets back is patchpack's capped output (200 of 409 lines), which is still
    # over Code Puppy's own 10,000-character limit on a tool's output: it keeps it in a file
    # and shows the model a head-and-tail preview of it.
    spilled = re.match(r"\[Tool output too large \(([\d,]+) chars\)", results[1])
    assert spilled is not None and "400 passed" in results[1], results[1]
    assert int(spilled[1].replace(",", "")) < 20_000  # the whole -v output is over 32,000

    # The 300-line file was refused by the guard, its reason sent to the model; no file.
    assert "over the micro-patch limits" in results[2], results[2]
    assert not (project / "big.py").exists()

    # A whole-file read of 300 lines was refused, pointing to `patchpack context`.
    assert "data.txt has 300 lines" in results[3], results[3]
    # The agent `integrate code-puppy` wrote is the one that ran: its prompt went out.
    assert "patchpack context --grep" in json.dumps(loop[0].body)

    # Sane token counts, and Code Puppy's own usage file holds what the endpoint reported.
    assert all(1_000 < r.tokens < 100_000 for r in loop), [r.tokens for r in loop]
    assert [r.tokens for r in loop] == sorted(r.tokens for r in loop)
    reported = json.loads(usage.read_text())
    assert reported["input_tokens"] == sum(r.tokens for r in ep.requests if r.api == "openai")
    assert reported["requests"] == len(loop)


def test_the_default_agents_shell_tool_is_guarded_too(
    code_puppy: CodePuppy, project: Path, tmp_path: Path
) -> None:
    # Code Puppy's own agent runs commands with `shell` (0.0.946; `agent_run_shell_command` is
    # the older name, kept for JSON agents): its hook engine sends that name to the guard.
    home = tmp_path / "puppy-home"
    script = [call("shell", command="python -m pytest -q tests/test_many.py"), say("Finished.")]
    with Endpoint(script) as ep:
        puppy_home(home, endpoint=ep.url)
        run = run_code_puppy(code_puppy, "Run the tests.", cwd=project, home=home)
    assert run.proc.returncode == 0, run.describe()
    [refusal] = ep.scripted[1].tool_results()
    assert "run this instead: patchpack test -q tests/test_many.py" in refusal, refusal
