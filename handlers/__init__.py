"""Entry points: Lambda handlers, the CLI, the local server, the pull worker, and bootstrap."""
