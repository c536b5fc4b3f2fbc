"""The smart router: which model a run goes to, from a rule table in git config.

``patchpack.route.<kind>`` names the model for a task kind (``edit``, ``test-fix``, ``plan``,
``review``, ``research``), told from the agent's name and the prompt; ``patchpack.route.cheap``
names the model to step down to near a budget: 80% of the day's, or the per-minute window
about to fill. A kind without a rule keeps the model Code Puppy would use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from patchpack.agents.loop import Budget

KINDS = ("edit", "test-fix", "plan", "review", "research")
STEP_DOWN_DAY = 0.80
STEP_DOWN_MINUTE = 0.90
# The first rule whose pattern is found wins; the agent's name is tried before the prompt.
_RULES = (
    (
        "test-fix",
        r"\b(?:failing|fails?|failed|failure|broken)\b.*\btests?\b|\btests?\b.*"
        r"\b(?:failing|fails?|failed|failure|broken)\b|\btraceback\b|\bpytest\b",
    ),
    ("review", r"\breview(?:er|ing)?\b|\bcode review\b|\bcritique\b"),
    ("plan", r"\bplan(?:ner|ning)?\b|\bdesign\b|\barchitect"),
    (
        "research",
        r"\bresearch(?:er)?\b|\binvestigate\b|\bexplain\b|\bwhy does\b|\bhow does\b"
        r"|\bfind out\b|\bretriever\b",
    ),
)


@dataclass(frozen=True)
class Route:
    model: str
    kind: str
    reason: str


def task_kind(agent: str | None, prompt: str) -> str:
    """The kind of task a run is: the agent's name decides when it says, else the prompt."""
    return detect(agent, prompt)[0]


def detect(agent: str | None, prompt: str) -> tuple[str, str]:
    """The kind of task and what told it: ``the agent's name ("code reviewer")``,
    ``the prompt ("test fails")``, or the default."""
    for where, text in (("the agent's name", agent or ""), ("the prompt", prompt)):
        low = text.lower().replace("-", " ").replace("_", " ")
        for kind, pattern in _RULES:
            found = re.search(pattern, low, re.S)
            if found:
                said = " ".join(found[0].split())
                said = said if len(said) <= 40 else said[:37] + "..."
                return kind, f'{where} ("{said}")'
    return "edit", "the default: nothing else named"


def choose(
    *,
    agent: str | None,
    prompt: str,
    current: str | None,
    rule: Callable[[str], str | None],
    budgets: Iterable[Budget],
) -> Route | None:
    """The model for this run and why; None to keep ``current`` (no rule, or it is the one).

    ``rule(name)`` reads ``patchpack.route.<name>``.
    """
    kind, told = detect(agent, prompt)
    model = (rule(kind) or "").strip()
    reason = f"task kind {kind} from {told}: patchpack.route.{kind}"
    hot = _near_limit(budgets)
    cheap = (rule("cheap") or "").strip()
    if hot is not None and cheap:
        model, reason = cheap, (f"task kind {kind} from {told}, stepped down to patchpack.route.cheap: {hot}")
    if not model or model == current:
        return None
    return Route(model, kind, reason)


def _near_limit(budgets: Iterable[Budget]) -> str | None:
    for b in budgets:
        if b.limit <= 0:
            continue
        figure = f"{b.used:,}/{b.limit:,} {b.unit}, {b.share:.0%}"
        if b.kind in ("daily", "agent") and b.share >= STEP_DOWN_DAY:
            return f"{b.name} {figure} used"
        if b.kind == "minute" and b.share >= STEP_DOWN_MINUTE:
            return f"{b.name} window {figure} full"
    return None
