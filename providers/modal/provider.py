"""``ModalProvider``: spawn calls once per attempt, run sandboxes by name, read, cancel.

See the package docstring for how a repeated submit finds its call or sandbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from core.ports import InfraPhase, InfraStatus, Job, LogChunk
from providers.modal.errors import Gone, ModalError, translated
from providers.modal.logs import read_output
from providers.modal.request import FunctionRequest, ModalRequest, SandboxRequest, build_request
from providers.modal.seam import ModalClient
from providers.modal.status import CANCELLED_TAG, call_status, sandbox_status
from providers.shared import dns_name

log = logging.getLogger(__name__)


def is_sandbox(infra_id: str) -> bool:
    return infra_id.startswith("sb-")


class ModalProvider:
    """``core.ports.Provider`` for Modal function calls and sandboxes."""

    emits_events = False
    supports_polling = True
    supports_logs = True  # what Modal stored of the call's or sandbox's output (logs.py)

    def __init__(
        self, client: ModalClient, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.client = client
        self._clock = clock

    def build_request(self, job: Job) -> ModalRequest:
        return build_request(job)

    def submit(self, request: ModalRequest, *, idempotency_key: str) -> str:
        with translated("submit to Modal", not_found_is_terminal=True):
            if isinstance(request, SandboxRequest):
                name = dns_name(idempotency_key)
                found = self.client.find_sandbox(request, name)
                return found or self.client.create_sandbox(request, name)
            return self._spawn_once(request, idempotency_key)

    def _spawn_once(self, request: FunctionRequest, key: str) -> str:
        recorded = self.client.recorded_call(key)
        if recorded is not None:
            return recorded
        call_id = self.client.spawn(request)
        try:
            winner = self.client.record_call(key, call_id)
        except ModalError:
            self._cancel_quietly(call_id)  # unrecorded, a retry would spawn it again
            raise
        if winner != call_id:
            self._cancel_quietly(call_id)  # a concurrent submit recorded its call first
        return winner

    def _cancel_quietly(self, call_id: str) -> None:
        try:
            self.client.cancel_call(call_id)
        except ModalError as error:
            log.warning("could not cancel duplicate Modal call %s: %s", call_id, error)

    def status(self, infra_id: str) -> InfraStatus:
        try:
            with translated("read the Modal call or sandbox"):
                if is_sandbox(infra_id):
                    return sandbox_status(self.client.sandbox_state(infra_id))
                return call_status(self.client.call_state(infra_id))
        except Gone:
            return InfraStatus(phase=InfraPhase.CRASHED, reason=f"Modal no longer knows {infra_id}")

    def cancel(self, infra_id: str) -> None:
        try:
            with translated("cancel the Modal call or sandbox"):
                if is_sandbox(infra_id):
                    if self.client.sandbox_state(infra_id).returncode is None:
                        self.client.tag_sandbox(infra_id, {CANCELLED_TAG: "true"})
                        self.client.terminate_sandbox(infra_id)
                else:
                    self.client.cancel_call(infra_id)
        except Gone:
            return  # nothing left to stop

    def read_logs(self, infra_id: str, *, after: str | None = None) -> LogChunk:
        try:
            with translated("read the Modal logs"):
                return read_output(self.client, infra_id, after=after, now=self._clock())
        except Gone:
            return LogChunk(cursor=after)  # nothing more will ever be read
