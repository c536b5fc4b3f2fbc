"""The micro-patch rule: measure a diff, judge it against the limits, the hooks that enforce it."""
