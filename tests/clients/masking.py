"""One scripted Code Puppy session, run with and without the plugin's observation masking, to
measure what masking saves (#18: "measure it, do not assume it").

The session reads four data files through the shell (each output well under Code Puppy's own
10,000-character limit, so the model gets it whole), lands two micro-patches (two iterations:
the cadence comes round) and reads one more file. With masking on, the requests after the
second apply carry stubs for all but the last ``KEEP`` outputs; with the cadence off
(``patchpack.truncateEvery 0``) they carry every output whole. Everything else is the same,
so the difference in the tokens the endpoint counted is what masking saved.

Used by tests/test_puppy_masking_e2e.py and bench/plugin_masking.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from clients.endpoint import Endpoint, Request, Turn, call, say
from clients.install import CodePuppy
from clients.sessions import Run, puppy_home, run_code_puppy

KEEP = 2
DATA = ("d1.txt", "d2.txt", "d3.txt", "d4.txt")
MASKED_FROM = 7
"""The first scripted request after the second apply: the first one the cadence masks."""


def data(name: str) -> str:
    # 120 lines of about 60 characters: ~7,000 characters, no line alike.
    return "".join(
        f"{name} line {i:03d}: the quick brown fox jumps over dog {i * 7919 % 997}\n" for i in range(120)
    )


def script() -> list[Turn]:
    def land(name: str) -> str:
        return f"git add {name} && patchpack split -m 'add {name}' && patchpack apply --all"

    return [
        call("shell", command=f"cat {DATA[0]}"),
        call("shell", command=f"cat {DATA[1]}"),
        call("shell", command=f"cat {DATA[2]}"),
        call("create_file", file_path="a.txt", content="a\n"),
        call("shell", command=land("a.txt")),
        call("create_file", file_path="b.txt", content="b\n"),
        call("shell", command=land("b.txt")),
        call("shell", command=f"cat {DATA[3]}"),
        say("Finished."),
    ]


def prepare(repo: Path, *, masked: bool, env: Mapping[str, str] | None = None) -> None:
    """Make ``repo`` (an empty directory) a repository with the data files committed, the
    cadence on (``masked``) or off."""

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=env)

    git("init", "-q", "-b", "main")
    for name in DATA:
        (repo / name).write_text(data(name))
    git("add", ".")
    git("commit", "-q", "-m", "data")
    git("config", "patchpack.truncateKeep", str(KEEP))
    git("config", "patchpack.truncateEvery", "2" if masked else "0")


def plugin_path(site: Path) -> str:
    """A PYTHONPATH under which Code Puppy's interpreter finds patchpack and its dependencies
    after its own packages, as one environment holding both has them."""
    packages = json.dumps(sysconfig.get_paths()["purelib"])
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(f"import sys\nsys.path.append({packages})\n")
    return f"{site}{os.pathsep}{Path(__file__).resolve().parents[2]}"


def session(puppy: CodePuppy, repo: Path, home: Path) -> tuple[Run, list[Request]]:
    """The session in ``repo`` (`prepare`d); the run and the scripted requests the endpoint
    received, in order."""
    with Endpoint(script()) as ep:
        puppy_home(home, endpoint=ep.url)
        run = run_code_puppy(puppy, "Read the data files, then add a and b.", cwd=repo, home=home)
    return run, ep.scripted
