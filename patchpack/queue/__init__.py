"""The micro-patch queue: kept in git refs, filled by add and split, landed by apply."""
