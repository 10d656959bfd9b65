"""``pushpool`` console entry point: import every command module, run the app."""

from __future__ import annotations

# Command modules register themselves on the groups in ``app``; one import each.
import handlers.cli.templates  # noqa: F401
from handlers.cli.app import app


def main() -> None:
    app()


if __name__ == "__main__":
    main()
