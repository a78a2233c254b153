"""Device connections: transport (WebSocket, hello, auth, framing), downlink pacing, device MCP, dialogue."""
