"""Modal's failures -> ``InfrastructureError``.

``sdk_client`` turns the SDK's exceptions into ``ModalError`` (the seam's
one error, which fakes raise too); ``translated`` turns that into
``InfrastructureError``, or into ``Gone`` where an unknown call or sandbox
has an answer of its own (status: crashed; cancel: nothing to do).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.errors import InfrastructureError


class ModalError(Exception):
    """A Modal call failed; says whether a retry can help and whether the object is gone."""

    def __init__(self, message: str, *, retryable: bool, not_found: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.not_found = not_found


class Gone(Exception):
    """The call or sandbox is unknown to Modal (status and cancel handle it)."""


@contextmanager
def translated(action: str, *, not_found_is_terminal: bool = False) -> Iterator[None]:
    try:
        yield
    except ModalError as exc:
        if exc.not_found and not not_found_is_terminal:
            raise Gone(str(exc)) from exc
        raise InfrastructureError(
            f"Modal: could not {action}: {exc}", retryable=exc.retryable
        ) from exc
