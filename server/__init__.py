"""xiaozhi-ops server: device connections, dialogue, HTTP API, alerts, cases, MCP tools, scheduler."""
