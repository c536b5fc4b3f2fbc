"""The callbacks that keep state across a Code Puppy process: the history (history.py) before
each request, pacing before each request, the router and the budget gate before each run,
and the run's usage at its end.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableSequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patchpack import clock
from patchpack.agents.code_puppy import gate, history, plugin, router
from patchpack.agents.code_puppy.history import History
from patchpack.git import Repo
from patchpack.ledger import store as ledger
from patchpack.ledger import usage


@dataclass
class Session:
    history: History = field(default_factory=History)
    requests: dict[str, int] = field(default_factory=dict)
    """Requests made by each agent's current run (usage on agent_run_end has no count)."""
    in_flight: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)
    """The requests let through in each agent's current run (when, estimated tokens): its
    usage reaches the ledger only when it ends, and pacing must count them till then."""
    recent: list[str] = field(default_factory=list)
    """What the last request showed the model that may point at code: a narrowed read looks
    there for the part wanted (reads.py)."""

    # -- transform_model_messages: masking, pacing, counting ----------------------------------

    async def before_request(self, agent: str | None, messages: MutableSequence[Any]) -> None:
        self.requests[agent or ""] = self.requests.get(agent or "", 0) + 1
        repo = plugin.repo_at()
        if repo is None:
            return
        size = plugin.fail_open(0, "counting the request", lambda: History.size(repo, messages))
        plugin.fail_open(None, "masking", lambda: self.history.mask(agent, messages, repo, size))
        self.recent = plugin.fail_open([], "reading the context", lambda: history.recent(messages))
        wait = plugin.fail_open(0.0, "pacing", lambda: self.pace(repo, agent, size))
        if wait > 0:
            plugin.note(repo, "wait", f"{wait:.0f} s for the per-minute window")
            await asyncio.sleep(wait)
        self.in_flight.setdefault(agent or "", []).append((clock.now(), size))

    def pace(self, repo: Repo, agent: str | None, size: int) -> float:
        """Seconds a request of ``size`` tokens waits for the per-minute window, counting
        what the ledger holds and the requests of runs not recorded yet."""
        return gate.wait_seconds(
            plugin.spend(repo),
            request_tokens=size,
            now=clock.now(),
            in_flight=[r for runs in self.in_flight.values() for r in runs],
        )

    # -- model_select -------------------------------------------------------------------------

    def select(self, agent: str | None, current: str | None, prompt: str, session: str | None) -> str | None:
        """The routed model for this run, or None to keep Code Puppy's."""
        repo = plugin.repo_at()
        if repo is None:
            return None
        route = router.choose(
            agent=agent,
            prompt=prompt,
            current=current,
            rule=lambda kind: repo.config_get(f"patchpack.route.{kind}"),
            budgets=plugin.spend(repo),
        )
        if route is None:
            return None
        plugin.note(repo, "route", f"{route.model}: {route.reason}")
        # Every choice is a ledger entry too, with its reason: a spend of nothing, by the
        # model chosen.
        ledger.add_pending(
            repo,
            kind="route",
            counter=usage.COUNTER,
            model=route.model,
            agent=agent or None,
            session=session or None,
            reason=route.reason,
        )
        return route.model

    # -- agent_run_start, agent_run_context, agent_run_end ------------------------------------

    def start(self, agent: str | None) -> None:
        self.requests[agent or ""] = 0

    def stop_reason(self, agent: str | None) -> str | None:
        """Why the run must not start (a spent budget), or None."""
        repo = plugin.repo_at()
        if repo is None:
            return None
        reason = gate.stop_reason(plugin.spend(repo), agent)
        if reason is not None:
            plugin.note(repo, "stop", reason)
        return reason

    def end(self, agent: object, model: object, session: object, metadata: object) -> None:
        """The run's usage, as the provider reported it, into the ledger: once, under an id
        derived from Code Puppy's run id (``session_id``, a fresh uuid a run)."""
        requests = self.requests.pop(agent if isinstance(agent, str) else "", 0)
        # Recorded below (or lost with a run that reported nothing): no longer in flight.
        self.in_flight.pop(agent if isinstance(agent, str) else "", None)
        repo = plugin.repo_at()
        if repo is None:
            return

        def capture() -> None:
            run = usage.from_code_puppy_run(
                agent_name=agent,
                model_name=model,
                session_id=session,
                metadata=metadata,
                key=f"code-puppy:{session}" if isinstance(session, str) and session else None,
            )
            if run is not None:
                usage.capture(repo, [run._replace(requests=max(requests, 1))])

        plugin.fail_open(None, "recording the usage", capture)
