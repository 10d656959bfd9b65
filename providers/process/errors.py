"""What the operating system says when a child cannot be started or signalled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import InfrastructureError


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn an ``OSError`` into ``InfrastructureError``, honestly classified.

    A missing program, directory or permission needs a person; anything else
    (EAGAIN: too many processes right now) may pass on a retry.
    """
    try:
        yield
    except OSError as exc:
        missing = isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError)
        raise InfrastructureError(f"cannot {action}: {exc}", retryable=not missing) from exc
