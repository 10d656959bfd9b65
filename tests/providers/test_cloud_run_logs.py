"""A Cloud Run run's output: Cloud Logging entries of its execution, read over
REST with google-auth's session against the fake (which serves both APIs)."""

from __future__ import annotations

import pytest

from core.errors import InfrastructureError
from core.ports import log_source
from providers.cloud_run.logs import parse_time
from tests.fakes.cloud_run_server import FakeCloudRun
from tests.providers.contract import run
from tests.providers.test_cloud_run import cloud_run_job, fake, provider  # noqa: F401


def test_entries_of_the_execution_are_read_on_from_the_last_one_seen(fake: FakeCloudRun, provider):  # noqa: F811
    execution = run(provider, cloud_run_job())
    other = run(provider, cloud_run_job(run_id="another-run"))
    source = log_source(provider)
    assert source is not None
    assert source.read_logs(execution).lines == ()

    fake.print(execution, "extract", "ünïcode ☃")
    fake.print(other, "not mine")
    fake.print(execution, "transform failed", severity="ERROR")
    first = source.read_logs(execution)
    assert [(x.message, x.level) for x in first.lines] == [
        ("extract", 20), ("ünïcode ☃", 20), ("transform failed", 40)
    ]  # fmt: skip
    fake.print(execution, "load")
    more = source.read_logs(execution, after=first.cursor)
    assert [x.message for x in more.lines] == ["load"]
    assert source.read_logs(execution, after=more.cursor).lines == ()
    sent = [r for r in fake.state.requests if r.path == "entries:list"][-1].body
    assert 'labels."run.googleapis.com/execution_name"' in sent["filter"]
    assert sent["resourceNames"] == [f"projects/{execution.split('/')[1]}"]


def test_a_refusal_is_terminal_and_unavailability_retryable(fake: FakeCloudRun, provider):  # noqa: F811
    execution = run(provider, cloud_run_job())
    fake.fail_requests(code=403, status="PERMISSION_DENIED", message="logging.viewer needed",
                       times=1, only="entries:list")  # fmt: skip
    with pytest.raises(InfrastructureError) as refused:
        provider.read_logs(execution)
    assert not refused.value.retryable and "logging.viewer" in refused.value.detail
    fake.fail_requests(code=503, status="UNAVAILABLE", message="try later", times=1,
                       only="entries:list")  # fmt: skip
    with pytest.raises(InfrastructureError) as unavailable:
        provider.read_logs(execution)
    assert unavailable.value.retryable


def test_nanosecond_timestamps_parse():
    moment = parse_time("2026-12-04T12:00:01.123456789Z")
    assert (moment.second, moment.microsecond) == (1, 123456)
    assert parse_time("2026-12-04T12:00:01Z").microsecond == 0
