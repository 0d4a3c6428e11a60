"""The local HTTP API (`scops-tui serve`): keys and users, the usage log, the ASGI app and its server."""
