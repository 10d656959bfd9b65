"""Property tests with hostile values, on both stores (issue 14).

Schemathesis generates from the API's own schema, which does not say what
the stores can hold; these strategies aim where issue 14's 500s were:
integers far past 64 bits, datetimes at the ends of Python's range with and
without zones, any Unicode in names, and any content type.  For each value
the answer is either a success that stored exactly what was sent, or a 4xx
with a ``detail`` that left the store unchanged; never a 5xx.

CI runs a few derandomized examples per property; ``PUSHPOOL_FUZZ_EXAMPLES``
and ``PUSHPOOL_FUZZ_RANDOM=1`` make a longer, random hunt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.live import STORES, LiveApi, live_api, seed_deployment

EXAMPLES = int(os.environ.get("PUSHPOOL_FUZZ_EXAMPLES", "15"))
RANDOM = os.environ.get("PUSHPOOL_FUZZ_RANDOM", "") not in {"", "0"}
INT_MAX = 2**31 - 1

hostile = settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

boundaries = st.sampled_from(
    [-1, 0, 1, INT_MAX, INT_MAX + 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]
)
integers = st.one_of(boundaries, st.integers(min_value=-(2**80), max_value=2**80))
json_values = st.one_of(
    integers,
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.one_of(
    st.datetimes(timezones=st.one_of(st.none(), offsets)),
    st.sampled_from(
        [
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
            datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))),
            datetime(1900, 1, 1, tzinfo=UTC),
            datetime(8999, 12, 31, tzinfo=UTC),
            datetime(2030, 1, 1),
        ]
    ),
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/merge-patch+json",
            "application/problem+json",
            "APPLICATION/JSON; charset=utf-8",
            "text/plain",
            "application/xml",
            "multipart/form-data",
            "application/x-www-form-urlencoded",
            "",
        ]
    ),
    st.from_regex(r"\A[a-z]{1,8}/[a-z.+-]{1,12}\Z"),
)


@pytest.fixture(scope="module", params=STORES)
def live(request: pytest.FixtureRequest) -> Iterator[LiveApi]:
    with live_api(request.param) as api:
        seed_deployment(api, "prop")
        yield api


def answer(live: LiveApi, send: Any) -> httpx.Response:
    """Send; a 4xx must explain itself and change nothing; a 5xx is a failure."""
    before = live.snapshot()
    response = send()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["detail"].strip(), response.text
        assert live.snapshot() == before, f"refused but changed the store: {response.text}"
    return response


@hostile
@given(value=json_values)
def test_a_pool_limit_is_stored_exactly_or_refused(
    live: LiveApi, admin: httpx.Client, value: Any
) -> None:
    body = json.dumps({"concurrency_limit": value}).encode()
    response = answer(
        live,
        lambda: admin.patch(
            "/work_pools/prop", content=body, headers={"content-type": "application/json"}
        ),
    )
    acceptable = value is None or (type(value) is int and 0 <= value <= INT_MAX)
    assert (response.status_code == 204) == acceptable, (value, response.text)
    if acceptable:
        assert admin.get("/work_pools/prop").json()["concurrency_limit"] == value


@hostile
@given(priority=json_values, limit=json_values)
def test_a_queue_priority_and_limit_are_stored_exactly_or_refused(
    live: LiveApi, admin: httpx.Client, priority: Any, limit: Any
) -> None:
    body = json.dumps({"priority": priority, "concurrency_limit": limit}).encode()
    response = answer(
        live,
        lambda: admin.patch(
            "/work_pools/prop/queues/default",
            content=body,
            headers={"content-type": "application/json"},
        ),
    )
    good_priority = priority is None or (type(priority) is int and 1 <= priority <= INT_MAX)
    good_limit = limit is None or (type(limit) is int and 0 <= limit <= INT_MAX)
    assert (response.status_code == 204) == (good_priority and good_limit), response.text
    if response.status_code == 204:
        queue = admin.get("/work_pools/prop/queues/default").json()
        assert queue["concurrency_limit"] == limit
        if priority is not None:
            assert queue["priority"] == priority


@hostile
@given(offset=integers, limit=st.one_of(st.integers(min_value=0, max_value=1000), integers))
def test_a_run_filter_page_is_read_or_refused(
    live: LiveApi, admin: httpx.Client, offset: int, limit: int
) -> None:
    body = json.dumps({"offset": offset, "limit": limit}).encode()
    response = answer(
        live,
        lambda: admin.post(
            "/flow_runs/filter", content=body, headers={"content-type": "application/json"}
        ),
    )
    acceptable = 0 <= offset <= INT_MAX and 0 <= limit <= 1000
    assert (response.status_code == 200) == acceptable, response.text


@hostile
@given(moment=moments)
def test_a_scheduled_time_is_kept_or_refused(
    live: LiveApi, admin: httpx.Client, moment: datetime
) -> None:
    state = {"type": "SCHEDULED", "state_details": {"scheduled_time": moment.isoformat()}}
    deployment = live.deployment_id
    response = answer(
        live,
        lambda: admin.post(f"/deployments/{deployment}/create_flow_run", json={"state": state}),
    )
    in_range = False
    if moment.tzinfo is not None:
        try:
            utc = moment.astimezone(UTC)
            in_range = datetime(1900, 1, 1, tzinfo=UTC) <= utc < datetime(9000, 1, 1, tzinfo=UTC)
        except OverflowError:
            in_range = False
    assert (response.status_code == 201) == in_range, (moment, response.text)
    if in_range:
        stored = datetime.fromisoformat(response.json()["expected_start_time"])
        assert stored == moment


@hostile
@given(name=st.text(max_size=24))
def test_any_unicode_pool_name_is_created_as_sent_or_refused(
    live: LiveApi, admin: httpx.Client, name: str
) -> None:
    response = answer(live, lambda: admin.post("/work_pools/", json={"name": name}))
    if response.status_code == 201:
        created = response.json()["name"]
        assert created.isprintable()
        assert not set(created) & set("/\\%&><")
        assert admin.delete(f"/work_pools/{quote(created, safe='')}").is_success


@hostile
@given(media_type=content_types)
def test_a_body_of_any_content_type_is_read_as_json_or_refused_with_415(
    live: LiveApi, admin: httpx.Client, media_type: str
) -> None:
    response = answer(
        live,
        lambda: admin.post(
            "/flows/", content=b'{"name": "typed-flow"}', headers={"content-type": media_type}
        ),
    )
    bare = media_type.split(";", 1)[0].strip().lower()
    is_json = bare in {"", "application/json"} or bare.endswith("+json")
    assert response.status_code == (201 if is_json else 415) or (
        is_json and response.status_code == 200
    ), (media_type, response.text)
