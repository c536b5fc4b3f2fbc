"""The agents' side: the guard, the prompt and cadence, integrations, status and the MCP server."""
