"""The token ledger: spend entries in git notes, their cache, and the budgets they are held to."""
