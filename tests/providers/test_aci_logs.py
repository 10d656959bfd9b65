"""An ACI run's output through the official Azure SDK against the fake ARM server."""

from __future__ import annotations

from core.errors import InfrastructureError
from core.ports import log_source
from tests.fakes.arm_server import FakeArm
from tests.providers.contract import run
from tests.providers.test_aci import aci_job, credential, fake, provider  # noqa: F401 (fixtures)


def submitted(provider) -> str:  # noqa: F811
    return run(provider, aci_job())


def test_container_logs_are_read_on_from_the_last_line_seen(fake: FakeArm, provider):  # noqa: F811
    infra_id = submitted(provider)
    source = log_source(provider)
    assert source is not None
    assert source.read_logs(infra_id).lines == ()

    fake.start(infra_id)
    fake.print(infra_id, "pulling data", "ünïcode ☃")
    first = source.read_logs(infra_id)
    assert [line.message for line in first.lines] == ["pulling data", "ünïcode ☃"]
    fake.print(infra_id, "done")
    more = source.read_logs(infra_id, after=first.cursor)
    assert [line.message for line in more.lines] == ["done"]
    assert source.read_logs(infra_id, after=more.cursor).lines == ()


def test_a_deleted_group_has_no_more_output(fake: FakeArm, provider):  # noqa: F811
    infra_id = submitted(provider)
    fake.print(infra_id, "a")
    fake.remove(infra_id)
    chunk = provider.read_logs(infra_id, after="1")
    assert chunk.lines == () and chunk.cursor == "1"


def test_throttling_is_retryable_and_a_refusal_is_not(fake: FakeArm, provider):  # noqa: F811
    infra_id = submitted(provider)
    fake.fail_requests(status=429, code="TooManyRequests", message="slow down", times=1)
    try:
        provider.read_logs(infra_id)
    except InfrastructureError as exc:
        assert exc.retryable and "logs" in exc.detail
    else:
        raise AssertionError("expected a retryable error")
    fake.fail_requests(status=403, code="AuthorizationFailed", message="no access", times=2)
    try:
        provider.read_logs(infra_id)
    except InfrastructureError as exc:
        assert not exc.retryable and "no access" in exc.detail
    else:
        raise AssertionError("expected a terminal error")
