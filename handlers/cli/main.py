"""``pushpool`` console entry point: import every command module, run the app."""

from __future__ import annotations

# Command modules register themselves on the groups in ``app``; one import each.
import handlers.cli.common
import handlers.cli.demo
import handlers.cli.deployments
import handlers.cli.flow_run_logs
import handlers.cli.flow_runs
import handlers.cli.server
import handlers.cli.store
import handlers.cli.templates
import handlers.cli.tokens
import handlers.cli.work_pools
import handlers.cli.work_queues
import handlers.cli.worker  # noqa: F401
from handlers.cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
