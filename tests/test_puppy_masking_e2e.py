"""Observation masking measured (#18: "measure it, do not assume it"): the same scripted session
through the real `code-puppy -p`, with the plugin's cadence on and off, and the tokens the
endpoint counted in every request it received (tests/clients/masking.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from patchpack.tokens import get_counter

from clients import masking
from clients.install import CodePuppy


def same(results: list[str]) -> list[str]:
    """Tool results less what differs between two runs of one session: the time a command
    took."""
    return [re.sub(r'"execution_time":[0-9.e-]+', "", r) for r in results]


def test_masked_requests_are_smaller_by_the_masked_outputs_less_their_stubs(
    code_puppy: CodePuppy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", masking.plugin_path(tmp_path / "site"))
    sent = {}
    repo = tmp_path / "repo"  # one path for both: it is in the system prompt and in outputs
    for masked in (True, False):
        repo.mkdir()
        masking.prepare(repo, masked=masked)
        run, sent[masked] = masking.session(code_puppy, repo, tmp_path / f"home-{masked}")
        assert run.proc.returncode == 0, run.describe()
        assert len(sent[masked]) == len(masking.script()), run.describe()
        repo.rename(tmp_path / f"repo-{masked}")
    on, off = sent[True], sent[False]
    (tmp_path / "sent.json").write_text(
        json.dumps({str(k): [[r.tokens, r.tool_results()] for r in v] for k, v in sent.items()})
    )
    counter = get_counter()

    def size(text: str) -> int:  # as the body carries it: a JSON string
        return counter.count(json.dumps(text))

    # Before the cadence comes round the two sessions send the same outputs.
    for before_on, before_off in zip(on[: masking.MASKED_FROM], off[: masking.MASKED_FROM]):
        assert same(before_on.tool_results()) == same(before_off.tool_results())
    for i in range(masking.MASKED_FROM, len(on)):
        results_on, results_off = on[i].tool_results(), off[i].tool_results()
        stubbed = [j for j, text in enumerate(results_on) if text.startswith("[patchpack masked this ")]
        # What the cadence masked (every output but the last KEEP then) stays masked; newer
        # outputs wait for the next cadence.
        assert stubbed == list(range(masking.MASKED_FROM - masking.KEEP)), results_on
        kept = range(len(stubbed), len(results_on))
        saved = sum(size(results_off[j]) - size(results_on[j]) for j in stubbed)
        assert saved > 3 * 1500  # the three data files alone are ~2,000 tokens each
        # The kept outputs differ only in timings and the cadence's reminder (with the
        # cadence off `apply` does not print it): by so many tokens.
        jitter = sum(size(results_off[j]) - size(results_on[j]) for j in kept)
        # Tokens can join across the edges of a JSON string: one either side of each stub.
        assert off[i].tokens - on[i].tokens >= saved + jitter - 2 * len(stubbed), (i, saved)
