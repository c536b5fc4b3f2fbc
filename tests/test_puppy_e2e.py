"""End to end: the real `code-puppy -p` (PyPI, pinned in tests/clients/install.py) with patchpack
importable beside it, as `pip install patchpack` into its environment makes it, driven by a
scripted model on 127.0.0.1 (tests/clients/endpoint.py). No hook, no agent file: the plugin
alone, loaded through its entry point, does what each assertion checks (#18)."""

from __future__ import annotations

import json
import re
import sysconfig
from pathlib import Path

import pytest

from clients.endpoint import OUTPUT_TOKENS, Endpoint, call, say
from clients.install import CodePuppy
from clients.projects import MANY_TESTS
from clients.sessions import PUPPY_MODEL, puppy_home, run_code_puppy
from conftest import ROOT, git, lines, run_patchpack, write

ROUTED = "routed"


@pytest.fixture
def project(committed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(committed / "tests" / "test_many.py", MANY_TESTS)
    git(committed, "add", ".")
    git(committed, "commit", "-q", "-m", "tests")
    git(committed, "config", "patchpack.truncateKeep", "2")
    git(committed, "config", "patchpack.route.edit", ROUTED)
    # patchpack's dependencies after Code Puppy's own packages, as one environment holds them.
    site = tmp_path / "site"
    packages = json.dumps(sysconfig.get_paths()["purelib"])
    write(site / "sitecustomize.py", f"import sys\nsys.path.append({packages})\n")
    monkeypatch.setenv("PYTHONPATH", f"{site}:{ROOT}")
    return committed


def test_code_puppy_with_the_plugin_caps_refuses_masks_routes_and_records(
    code_puppy: CodePuppy, project: Path, tmp_path: Path
) -> None:
    home, usage = tmp_path / "puppy-home", tmp_path / "usage.json"
    script = [
        call("shell", command="python -m pytest -v tests/test_many.py"),
        call("create_file", file_path="big.py", content=lines(300)),
        call("create_file", file_path="a.txt", content="a\n"),
        call("shell", command="git add a.txt && patchpack split -m 'add a' && patchpack apply --all"),
        call("create_file", file_path="b.txt", content="b\n"),
        call("shell", command="git add b.txt && patchpack split -m 'add b' && patchpack apply --all"),
        say("Finished."),
    ]
    with Endpoint(script) as ep:
        config = puppy_home(home, endpoint=ep.url)
        models = json.loads((config / "extra_models.json").read_text())
        models[ROUTED] = {**models[PUPPY_MODEL], "name": f"{ROUTED}-model"}
        (config / "extra_models.json").write_text(json.dumps(models))
        run = run_code_puppy(
            code_puppy, "Run the tests, then add a and b.", cwd=project, home=home, usage_file=usage
        )
    assert run.proc.returncode == 0, run.describe()
    loop = ep.scripted
    assert len(loop) == len(script), (run.describe(), [r.path for r in ep.requests])
    results = loop[-1].tool_results()

    # The test run was rewritten in place (no refusal round trip): its capped output came back.
    # (Over Code Puppy's own 10,000-character limit, it is kept in a file and previewed.)
    first = loop[1].tool_results()[0]
    spilled = re.match(r"\[Tool output too large \(([\d,]+) chars\)", first)
    assert spilled is not None and int(spilled[1].replace(",", "")) < 20_000, first
    assert '"command":"patchpack test -v tests/test_many.py"' in first and "400 passed" in first
    # The oversized file was refused with the next command to run; nothing was written.
    assert "over the micro-patch limits" in loop[2].tool_results()[1]
    assert not (project / "big.py").exists()
    # Two applies make the cadence come round: every output but the last 2 is a stub now.
    assert all(r.startswith("[patchpack masked this ") for r in results[:4]), results
    assert not any(r.startswith("[patchpack masked") for r in loop[-2].tool_results())
    assert results[4:] == loop[-1].tool_results()[4:] and len(results) == 6
    # The router's model is the one requested, every time.
    assert {r.body["model"] for r in loop} == {f"{ROUTED}-model"}
    # The ledger holds exactly the usage the endpoint reported for the run.
    # (Each apply moved what was pending into its commit's note: read notes and spool.)
    notes = git(project, "log", "--notes=patchpack", "--format=%N").splitlines()
    spool = (project / ".git" / "patchpack" / "pending.jsonl").read_text().splitlines()
    entries = [json.loads(line) for line in notes + spool if line.startswith("{")]
    runs = [e for e in entries if e["kind"] == "request"]
    served = [r for r in ep.requests if r.api == "openai" and r.has_tools]
    assert [(e["in"], e["out"], e["model"]) for e in runs] == [
        (sum(r.tokens for r in served), OUTPUT_TOKENS * len(served), ROUTED)
    ]
    assert json.loads(usage.read_text())["input_tokens"] == runs[0]["in"]
    assert [e["model"] for e in entries if e["kind"] == "route"] == [ROUTED]


def test_a_spent_daily_budget_stops_code_puppy_before_any_request(
    code_puppy: CodePuppy, project: Path, tmp_path: Path
) -> None:
    git(project, "config", "patchpack.dailyBudget", "100")
    recorded = run_patchpack("record", "--in", "500", "--out", "10", cwd=project)
    assert recorded.returncode == 0, recorded.stderr
    with Endpoint([call("shell", command="echo hi"), say("Finished.")]) as ep:
        puppy_home(tmp_path / "puppy-home", endpoint=ep.url)
        run = run_code_puppy(code_puppy, "Go on.", cwd=project, home=tmp_path / "puppy-home")
    assert ep.requests == [], run.describe()  # not one token spent
    said = " ".join(run.proc.stdout.split())
    assert "patchpack: over budget (daily 510/100 tokens); the run was not started." in said
    assert "git config patchpack.dailyBudget N" in said
