"""The one clock: every "now" patchpack reads (ledger entries, today's budget, this minute's
window, the dates of the commits `apply` makes) comes from :func:`now`.

``PATCHPACK_NOW`` moves it, so tests and replays never depend on the day they run:

- an instant fixes the clock: ``2027-12-03T10:00:00Z`` (any ISO 8601 form with a zone;
  no zone means UTC) or ``@1796292000`` (seconds since the epoch);
- a signed offset shifts the real clock: ``+365d``, ``-90m``, ``+2h``, ``+30s``, ``+1w``.
"""

from __future__ import annotations

import os
import re
import time
from datetime import datetime, timedelta, timezone

from patchpack.errors import BadInput

ENV = "PATCHPACK_NOW"
_OFFSET = re.compile(r"([+-])(\d{1,9})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def now() -> datetime:
    """The current instant, timezone-aware in UTC; BadInput when ``PATCHPACK_NOW`` is malformed."""
    real = datetime.fromtimestamp(time.time(), timezone.utc)
    text = os.environ.get(ENV, "").strip()
    return real if not text else _moved(real, text)


def _moved(real: datetime, text: str) -> datetime:
    offset = _OFFSET.fullmatch(text)
    if offset:
        sign, amount, unit = offset.groups()
        shift = timedelta(**{_UNITS[unit]: int(amount)})
        return real + shift if sign == "+" else real - shift
    try:
        if text.startswith("@"):
            return datetime.fromtimestamp(int(text[1:]), timezone.utc)
        fixed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise BadInput(
            f"{ENV}={text!r} is neither an instant nor an offset",
            hint=f"use e.g. `{ENV}=2027-12-03T10:00:00Z` or `{ENV}=+365d`, or unset it",
        ) from None
    if fixed.tzinfo is None:
        fixed = fixed.replace(tzinfo=timezone.utc)
    return fixed.astimezone(timezone.utc)
