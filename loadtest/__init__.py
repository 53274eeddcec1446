"""Load-testing the streaming path: simulated devices and readers against a server."""
