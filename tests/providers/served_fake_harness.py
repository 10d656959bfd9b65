"""The contract harness for providers tested against a served fake cloud API.

Cloud Run, Vertex AI and ACI are each tested with the official client over
HTTP against a loopback fake (``tests/fakes/*_server.py``), and those fakes
share one control surface: ``start``, ``finish``, ``fail_to_start``,
``remove``, ``fail_requests``, ``heal`` and ``state.requests``.  So their
harnesses differ only in what a subclass states here: the job to run, what
counts as one infrastructure, the backend's pull-failure message and the
error codes of a retryable and of a terminal fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from core.ports import Provider
from tests.providers.contract import ProviderHarness


class ServedFakeHarness(ProviderHarness):
    """``fake`` is the served fake; ``provider`` talks to it through the official client."""

    pull_failure: ClassVar[tuple[str, str]]
    """The fake's image-pull error, and the fragment the user must see of it."""
    retryable_fault: ClassVar[Mapping[str, Any]]
    """``fail_requests`` arguments for throttling or a server error."""
    terminal_fault: ClassVar[Mapping[str, Any]]
    """``fail_requests`` arguments for an API error no retry can fix."""

    def __init__(self, fake: Any, provider: Provider) -> None:
        self.fake = fake
        self.provider = provider

    def backend_requests(self) -> int:
        return len(self.fake.state.requests)

    def start(self, infra_id: str) -> None:
        self.fake.start(infra_id)

    def exit(self, infra_id: str, code: int) -> None:
        self.fake.finish(infra_id, code)

    def fail_to_start(self, infra_id: str) -> str:
        message, fragment = self.pull_failure
        self.fake.fail_to_start(infra_id, message)
        return fragment

    def vanish(self, infra_id: str) -> None:
        self.fake.remove(infra_id)

    def fail_requests(self, *, retryable: bool, message: str) -> None:
        fault = self.retryable_fault if retryable else self.terminal_fault
        self.fake.fail_requests(**fault, message=message)

    def heal(self) -> None:
        self.fake.heal()
