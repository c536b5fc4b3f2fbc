"""What the Code Puppy plugin's observation masking saves, measured (#18: "measure it, do not
assume it").

The real `code-puppy -p` (tests/clients/install.py's cached install), with patchpack's plugin,
runs one scripted session (tests/clients/masking.py: four data files read through the shell,
two micro-patches landed, which brings the cadence round, one more read) against the scripted
endpoint, which counts the cl100k tokens of every request it receives: once with the
cadence on (`patchpack.truncateEvery 2`, `truncateKeep 2`) and once with it off
(`truncateEvery 0`), the baseline. Prints the input tokens of each request, both totals and
their ratio.

    python bench/plugin_masking.py
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from clients import masking  # noqa: E402
from clients.install import code_puppy  # noqa: E402


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    puppy = code_puppy()
    sent = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PYTHONPATH"] = masking.plugin_path(Path(tmp) / "site")
        for who in ("AUTHOR", "COMMITTER"):  # `patchpack apply` commits
            os.environ.setdefault(f"GIT_{who}_NAME", "Bench")
            os.environ.setdefault(f"GIT_{who}_EMAIL", "bench@example.com")
        repo = Path(tmp) / "repo"  # one path for both runs: the system prompt names it
        for masked in (True, False):
            repo.mkdir()
            masking.prepare(repo, masked=masked)
            run, requests = masking.session(puppy, repo, Path(tmp) / f"home-{masked}")
            if run.proc.returncode != 0 or len(requests) != len(masking.script()):
                sys.exit(f"the {'masked' if masked else 'unmasked'} session failed:\n{run.describe()}")
            sent[masked] = [r.tokens for r in requests]
            repo.rename(Path(tmp) / f"repo-{masked}")
    on, off = sent[True], sent[False]
    print(
        f"Code Puppy {puppy.python.parent.parent.name}, one scripted session, input tokens "
        f"(cl100k) of each request as the endpoint received it\n"
        f"{'request':<9}{'unmasked':>10}{'masked':>10}{'saved':>10}"
    )
    for i, (a, b) in enumerate(zip(off, on), 1):
        mark = "  <- cadence" if i == masking.MASKED_FROM + 1 else ""
        print(f"{i:<9}{a:>10,}{b:>10,}{a - b:>10,}{mark}")
    print(
        f"{'total':<9}{sum(off):>10,}{sum(on):>10,}{sum(off) - sum(on):>10,}\n"
        f"masked / unmasked: {sum(on) / sum(off):.3f} of the input tokens "
        f"(keep {masking.KEEP}, every 2 iterations)"
    )


if __name__ == "__main__":
    main()
