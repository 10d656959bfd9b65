"""The shared provider contract: one suite every provider must pass.

Each provider module keeps the same promises (design §5): ``build_request``
is pure, ``submit`` is idempotent on its key and creates exactly one
infrastructure per ``(run id, attempt)``, ``status`` maps every backend
state onto ``InfraStatus``, ``cancel`` stops the infrastructure, and errors
say honestly whether a retry can help.  Writing those promises once, as
tests parametrised by a *harness*, keeps seven providers from drifting
apart (kopf runs one storage suite over every storage class the same way).

How to plug a provider in::

    from tests.providers.contract import ProviderContract, ProviderHarness

    class EcsHarness(ProviderHarness):
        ...  # implement the abstract methods against moto / your fake

    class TestEcsContract(ProviderContract):
        @pytest.fixture
        def harness(self, ...) -> ProviderHarness:
            return EcsHarness(...)

The module is not named ``test_*`` so pytest collects the suite only where a
provider subclasses ``ProviderContract`` with a ``harness`` fixture.  A
harness that cannot produce a situation (a local process cannot be made to
"vanish" by its backend, say) calls ``pytest.skip(reason)`` from that method.
"""

from __future__ import annotations

import copy
import uuid
from abc import ABC, abstractmethod
from typing import Any

import pytest

from core.errors import InfrastructureError
from core.ports import InfraPhase, Job, Provider

TERMINAL_PHASES = frozenset({InfraPhase.EXITED, InfraPhase.CRASHED, InfraPhase.CANCELLED})


def make_job(
    configuration: dict[str, Any],
    *,
    run_id: str | None = None,
    attempt: int = 1,
    pool_type: str = "test",
    pool_name: str = "contract-pool",
    run_name: str = "contract-run",
) -> Job:
    """A ``Job`` as ``core.services.jobs.build_job`` hands it to a provider."""
    return Job(
        run_id=run_id or str(uuid.uuid4()),
        attempt=attempt,
        run_name=run_name,
        pool_name=pool_name,
        pool_type=pool_type,
        deployment_id="d-contract",
        configuration=copy.deepcopy(configuration),
    )


class ProviderHarness(ABC):
    """A provider wired to a backend the test controls.

    The backend is a local fake (Cloud Run, ARM), moto (ECS), a fake at the
    client seam (Modal) or the real thing (a local process).  Methods that
    take an ``infra_id`` receive what ``submit`` returned.
    """

    provider: Provider

    @abstractmethod
    def job(self, *, run_id: str, attempt: int = 1) -> Job:
        """A job this provider can run, configured as the pool's default template renders it."""

    @abstractmethod
    def infrastructure_count(self) -> int:
        """How many infrastructures (tasks, executions, groups, calls) the backend has started."""

    @abstractmethod
    def backend_requests(self) -> int:
        """How many requests (or side effects) the backend has seen so far."""

    @abstractmethod
    def start(self, infra_id: str) -> None:
        """Make the infrastructure run the flow."""

    @abstractmethod
    def exit(self, infra_id: str, code: int) -> None:
        """Make the flow's container or process stop with exit ``code``."""

    @abstractmethod
    def fail_to_start(self, infra_id: str) -> str:
        """Make the infrastructure fail before the flow starts (image pull error, say).

        Returns a fragment of the backend's explanation that the provider's
        ``InfraStatus.reason`` must carry to the user.
        """

    @abstractmethod
    def vanish(self, infra_id: str) -> None:
        """Make the infrastructure disappear from the backend without a trace."""

    @abstractmethod
    def fail_requests(self, *, retryable: bool, message: str) -> None:
        """Fail every following backend request until ``heal``.

        ``retryable``: throttling or a server error (HTTP 429/503, UNAVAILABLE).
        Otherwise a terminal API error (invalid argument, permission, quota)
        whose message contains ``message``.
        """

    @abstractmethod
    def heal(self) -> None:
        """Stop failing requests."""

    def settle(self, infra_id: str) -> None:  # noqa: B027 - optional hook, no-op by default
        """Let the backend finish asynchronous work on ``infra_id`` (a cancel, say)."""


def run(provider: Provider, job: Job) -> str:
    """Build then submit, as the dispatcher does; the infrastructure id."""
    return provider.submit(provider.build_request(job), idempotency_key=job.idempotency_key)


def submit(harness: ProviderHarness, job: Job) -> str:
    return run(harness.provider, job)


def new_run_id() -> str:
    return str(uuid.uuid4())


class ProviderContract:
    """The promises of design §5.  Subclass with a ``harness`` fixture."""

    # -- build_request ------------------------------------------------------------

    def test_build_request_is_deterministic(self, harness: ProviderHarness) -> None:
        run_id = new_run_id()
        first = harness.provider.build_request(harness.job(run_id=run_id))
        second = harness.provider.build_request(harness.job(run_id=run_id))
        assert first == second

    def test_build_request_calls_no_backend_and_leaves_the_job_unchanged(
        self, harness: ProviderHarness
    ) -> None:
        job = harness.job(run_id=new_run_id())
        configuration_before = copy.deepcopy(job.configuration)
        requests_before = harness.backend_requests()

        harness.provider.build_request(job)

        assert harness.backend_requests() == requests_before
        assert harness.infrastructure_count() == 0
        assert job.configuration == configuration_before

    def test_declares_its_capabilities(self, harness: ProviderHarness) -> None:
        assert isinstance(harness.provider.emits_events, bool)
        assert isinstance(harness.provider.supports_polling, bool)
        assert harness.provider.emits_events or harness.provider.supports_polling

    # -- submit and idempotency ------------------------------------------------------

    def test_submit_returns_an_id_whose_status_is_pending_or_running(
        self, harness: ProviderHarness
    ) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))

        assert isinstance(infra_id, str) and infra_id
        assert harness.infrastructure_count() == 1
        assert harness.provider.status(infra_id).phase in {InfraPhase.PENDING, InfraPhase.RUNNING}

    def test_resubmitting_with_the_same_key_returns_the_same_id_and_creates_nothing(
        self, harness: ProviderHarness
    ) -> None:
        job = harness.job(run_id=new_run_id())
        first = submit(harness, job)
        second = submit(harness, job)

        assert second == first
        assert harness.infrastructure_count() == 1

    def test_resubmitting_after_the_infrastructure_started_still_creates_nothing(
        self, harness: ProviderHarness
    ) -> None:
        job = harness.job(run_id=new_run_id())
        infra_id = submit(harness, job)
        harness.start(infra_id)

        assert submit(harness, job) == infra_id
        assert harness.infrastructure_count() == 1
        assert harness.provider.status(infra_id).phase is InfraPhase.RUNNING

    def test_a_new_attempt_of_the_same_run_gets_new_infrastructure(
        self, harness: ProviderHarness
    ) -> None:
        run_id = new_run_id()
        first = submit(harness, harness.job(run_id=run_id, attempt=1))
        second = submit(harness, harness.job(run_id=run_id, attempt=2))

        assert second != first
        assert harness.infrastructure_count() == 2

    # -- status through every state ------------------------------------------------------

    def test_status_follows_the_infrastructure_from_pending_to_running_to_exit_zero(
        self, harness: ProviderHarness
    ) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))
        assert harness.provider.status(infra_id).phase in {InfraPhase.PENDING, InfraPhase.RUNNING}

        harness.start(infra_id)
        assert harness.provider.status(infra_id).phase is InfraPhase.RUNNING

        harness.exit(infra_id, 0)
        status = harness.provider.status(infra_id)
        assert (status.phase, status.exit_code) == (InfraPhase.EXITED, 0)

    def test_a_non_zero_exit_reports_its_code(self, harness: ProviderHarness) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))
        harness.start(infra_id)
        harness.exit(infra_id, 3)

        status = harness.provider.status(infra_id)
        assert status.phase is InfraPhase.EXITED
        assert status.exit_code == 3

    def test_infrastructure_that_fails_to_start_is_crashed_with_the_backend_reason(
        self, harness: ProviderHarness
    ) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))
        fragment = harness.fail_to_start(infra_id)

        status = harness.provider.status(infra_id)
        assert status.phase is InfraPhase.CRASHED
        assert fragment in status.reason

    def test_infrastructure_that_vanishes_is_crashed_with_a_reason(
        self, harness: ProviderHarness
    ) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))
        harness.start(infra_id)
        harness.vanish(infra_id)

        status = harness.provider.status(infra_id)
        assert status.phase is InfraPhase.CRASHED
        assert status.reason

    def test_a_terminal_status_never_turns_back_into_a_live_one(
        self, harness: ProviderHarness
    ) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))
        harness.start(infra_id)
        harness.exit(infra_id, 0)

        first = harness.provider.status(infra_id)
        again = harness.provider.status(infra_id)
        assert first.phase is InfraPhase.EXITED
        assert again.phase in TERMINAL_PHASES

    # -- cancel ------------------------------------------------------------------------------

    def test_cancelling_pending_infrastructure_ends_cancelled(
        self, harness: ProviderHarness
    ) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))

        harness.provider.cancel(infra_id)
        harness.settle(infra_id)

        assert harness.provider.status(infra_id).phase is InfraPhase.CANCELLED

    def test_cancelling_running_infrastructure_ends_cancelled(
        self, harness: ProviderHarness
    ) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))
        harness.start(infra_id)

        harness.provider.cancel(infra_id)
        harness.settle(infra_id)

        assert harness.provider.status(infra_id).phase is InfraPhase.CANCELLED

    def test_cancel_is_harmless_when_repeated_or_when_nothing_is_left_to_stop(
        self, harness: ProviderHarness
    ) -> None:
        cancelled = submit(harness, harness.job(run_id=new_run_id()))
        harness.provider.cancel(cancelled)
        harness.provider.cancel(cancelled)

        finished = submit(harness, harness.job(run_id=new_run_id()))
        harness.start(finished)
        harness.exit(finished, 0)
        harness.provider.cancel(finished)

        gone = submit(harness, harness.job(run_id=new_run_id()))
        harness.vanish(gone)
        harness.provider.cancel(gone)

    # -- errors ------------------------------------------------------------------------------

    def test_a_throttled_or_unavailable_backend_raises_a_retryable_error(
        self, harness: ProviderHarness
    ) -> None:
        job = harness.job(run_id=new_run_id())
        harness.fail_requests(retryable=True, message="backend is busy")

        with pytest.raises(InfrastructureError) as raised:
            submit(harness, job)
        assert raised.value.retryable is True

    def test_after_a_retryable_failure_the_retry_creates_exactly_one_infrastructure(
        self, harness: ProviderHarness
    ) -> None:
        job = harness.job(run_id=new_run_id())
        harness.fail_requests(retryable=True, message="backend is busy")
        with pytest.raises(InfrastructureError):
            submit(harness, job)

        harness.heal()
        infra_id = submit(harness, job)

        assert submit(harness, job) == infra_id
        assert harness.infrastructure_count() == 1

    def test_status_during_an_outage_raises_retryable_instead_of_guessing(
        self, harness: ProviderHarness
    ) -> None:
        infra_id = submit(harness, harness.job(run_id=new_run_id()))
        harness.start(infra_id)
        harness.fail_requests(retryable=True, message="backend is busy")

        with pytest.raises(InfrastructureError) as raised:
            harness.provider.status(infra_id)
        assert raised.value.retryable is True

        harness.heal()
        assert harness.provider.status(infra_id).phase is InfraPhase.RUNNING

    def test_a_rejected_request_raises_a_terminal_error_with_the_backend_message(
        self, harness: ProviderHarness
    ) -> None:
        message = "quota exceeded for resource cpus in region test-1"
        harness.fail_requests(retryable=False, message=message)

        with pytest.raises(InfrastructureError) as raised:
            submit(harness, harness.job(run_id=new_run_id()))
        assert raised.value.retryable is False
        assert message in str(raised.value)
