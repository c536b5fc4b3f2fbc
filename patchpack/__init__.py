"""patchpack: micro-patches, diff-driven context and a token ledger, kept in git."""

__version__ = "0.1.0"
