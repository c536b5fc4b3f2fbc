"""`patchpack demo`, the README's first command, end to end through the console script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def installed_script() -> str:
    """The console script of the installed package when there is one, else the test shim."""
    beside = Path(sys.executable).with_name("patchpack")
    return str(beside) if beside.exists() else shutil.which("patchpack") or "patchpack"


def test_demo_runs_end_to_end(tmp_path):
    r = subprocess.run([installed_script(), "demo", "--dir", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "$ patchpack check" in r.stdout and "FAIL" in r.stdout
    log = subprocess.run(["git", "log", "--format=%s"], cwd=tmp_path / "demo" / "repo",
                         capture_output=True, text=True).stdout
    assert log.split("\n")[0] == "Add the cart"
