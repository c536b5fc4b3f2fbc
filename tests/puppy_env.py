"""The real Code Puppy for the plugin's tests: installed from PyPI once into a cached virtual
environment, with patchpack and its dependencies importable beside it.

The install is tests/clients/install.py's (the real-client tests' cache, one place that pins
the version) when it is there; until then, the same layout is made here.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("puppy_driver.py")
VERSION = "0.0.946"


def python() -> Path:
    """The interpreter of the cached Code Puppy environment, installed if it is not yet."""
    try:
        from clients.install import code_puppy  # type: ignore[import-not-found]
    except ImportError:
        return _own_install()
    return Path(code_puppy().python)


def _own_install() -> Path:
    cache = Path(os.environ.get("PATCHPACK_CLIENTS_CACHE") or ROOT / ".cache" / "clients")
    venv = cache / f"code-puppy-{VERSION}"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second pytest waits, then finds it done
        if not (venv / ".installed").exists():
            for command in (
                [sys.executable, "-m", "venv", "--clear", str(venv)],
                [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"code-puppy=={VERSION}"],
            ):
                done = subprocess.run(command, capture_output=True, text=True, timeout=1200)
                assert done.returncode == 0, f"{command} failed:\n{done.stderr[-3000:]}"
            (venv / ".installed").write_text("ok\n")
    return venv / "bin" / "python"


def paths() -> str:
    """Where patchpack and its dependencies are: this checkout, then the tests' own packages
    (appended after Code Puppy's, so that its own versions of shared packages win)."""
    return os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])


def drive(steps: list[dict[str, Any]], *, tmp: Path, beside: bool = True) -> dict[str, Any]:
    """Run ``steps`` (scenario, args, cwd) of puppy_driver.py in Code Puppy's interpreter, in
    one process; its JSON output: what loaded, the callbacks' owners, each step's result.
    Without ``beside``, patchpack is not importable there (a Code Puppy installed elsewhere)."""
    env = {**os.environ, "PATCHPACK_TEST_PATHS": paths() if beside else ""}
    if not beside:
        env.pop("PYTHONPATH", None)
    plan = tmp / "steps.json"
    plan.write_text(json.dumps([{**s, "cwd": str(s["cwd"])} for s in steps]))
    done = subprocess.run(
        [str(python()), str(DRIVER), str(plan)], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-4000:]}"
    out: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return out
