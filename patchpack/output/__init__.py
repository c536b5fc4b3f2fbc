"""Capped command output: run a command, show a bounded summary, keep the full log."""
