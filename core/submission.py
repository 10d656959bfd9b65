"""The lifecycle's submit step, written once for every driver.

Three drivers submit claimed runs: the cloud's dispatch functions, the local
server's loops and the pull worker.  They differ in where a run's facts live
— the store, or the API behind a worker — and in how they retry (a
redelivered message, a loop's back-off, a thread's sleep), not in what the
step does.  So it is written here once, over two ports and no store (the
worker reaches no store and no service, see the import contracts):

* a :class:`~core.ports.Provider`, which starts and stops infrastructure;
* a :class:`Recorder`, which writes what happened to one claimed attempt.
  ``core.services.lifecycle.StoreRecorder`` is the store's; the worker's
  adapter reports through the API.  The claim type is the recorder's own (a
  ``FlowRun`` for the store, the worker's ledger entry for the API), so a
  record is always fenced to the attempt that was claimed.

* :func:`submit_claimed` — submit a claimed attempt's built request, record
  its infrastructure (stopping it when nobody would own it), or end the run
  CRASHED when the provider refuses it for good or the driver's last try
  failed; otherwise say the driver should try again (:class:`Retry`).
* :func:`submission_failed` — the same verdict for a failure met while
  preparing the submission (a provider that cannot be built).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol, TypeVar

from core.errors import InfrastructureError
from core.ports import Provider

ClaimT_contra = TypeVar("ClaimT_contra", contravariant=True)


class Recording(Enum):
    RECORDED = "recorded"
    CANCELLING = "cancelling"  # recorded, but the run was cancelled meanwhile


class Refused(Exception):
    """The attempt can no longer own infrastructure (reaped, deleted, moved on)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Recorder(Protocol[ClaimT_contra]):
    """Where the facts of one claimed attempt are written."""

    def record_submitted(self, claim: ClaimT_contra, infra_id: str) -> Recording:
        """Record the attempt's infrastructure; raise :class:`Refused` when it
        can no longer own any."""
        ...

    def record_crashed(self, claim: ClaimT_contra, message: str) -> bool:
        """End the attempt CRASHED with ``message``, freeing its slots; False
        when the attempt had already moved on (cancelled, reaped)."""
        ...


@dataclass(frozen=True)
class Started:
    infra_id: str
    note: str = ""  # set when the infrastructure was stopped again (nobody owns it)

    @property
    def owned(self) -> bool:
        return not self.note


@dataclass(frozen=True)
class Crashed:
    message: str
    detail: str  # the provider's error, as the message quotes it
    retryable: bool
    recorded: bool  # False: the attempt had moved on, and nothing was written


@dataclass(frozen=True)
class Retry:
    detail: str


Outcome = Started | Crashed | Retry


def submit_claimed(
    claim: ClaimT_contra,
    request: object,
    *,
    key: str,
    provider: Provider,
    recorder: Recorder[ClaimT_contra],
    final: bool,
    secret: str = "",
) -> Outcome:
    """Submit one claimed attempt and record the result.

    ``key`` is the attempt's idempotency key, so a submit repeated after an
    ambiguous failure adopts what the first one started.  ``final``: the
    driver will not try again, so a retryable failure crashes the run too.
    ``secret`` is blanked from error messages (issue 9: some APIs echo the
    request they refused).
    """
    try:
        infra_id = provider.submit(request, idempotency_key=key)
    except InfrastructureError as exc:
        return submission_failed(claim, exc, recorder=recorder, final=final, secret=secret)
    try:
        recording = recorder.record_submitted(claim, infra_id)
    except Refused as refused:
        return Started(infra_id, note=_stop(provider, infra_id, f"not recorded ({refused.detail})"))
    if recording is Recording.CANCELLING:
        return Started(
            infra_id, note=_stop(provider, infra_id, "the run was cancelled while submitting")
        )
    return Started(infra_id)


def submission_failed(
    claim: ClaimT_contra,
    exc: InfrastructureError,
    *,
    recorder: Recorder[ClaimT_contra],
    final: bool,
    secret: str = "",
) -> Crashed | Retry:
    """A retryable failure is tried again unless this was the last try; any
    other ends the run CRASHED with one line naming the error."""
    detail = redacted(exc.detail, secret)
    if exc.retryable and not final:
        return Retry(detail)
    prefix = "Submission kept failing" if exc.retryable else "Submission failed"
    message = f"{prefix}: {detail}"
    return Crashed(message, detail, exc.retryable, recorder.record_crashed(claim, message))


def redacted(detail: str, secret: str) -> str:
    return detail.replace(secret, "[run token]") if secret else detail


def _stop(provider: Provider, infra_id: str, why: str) -> str:
    """Stop infrastructure no slot accounts for; say what happened."""
    try:
        provider.cancel(infra_id)
    except InfrastructureError as exc:
        return f"{why}; stopping it failed: {exc.detail}"
    return f"{why}; stopped"
