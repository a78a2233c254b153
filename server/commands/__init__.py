"""Sub-commands of the `xiaozhi-ops` CLI, one module each, registered in server.cli."""
