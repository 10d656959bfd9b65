"""A Kubernetes run's output: its pod's log through the official client and the fake API server."""

from __future__ import annotations

from core.ports import log_source
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.providers.test_kubernetes import (  # noqa: F401 (fixtures)
    cluster,
    job,
    provider,
    simple,
    submit,
)


def test_the_pods_log_is_read_on_from_the_last_line_seen(cluster: FakeKubeApiServer, provider):  # noqa: F811
    infra_id = submit(provider, job(simple()))
    source = log_source(provider)
    assert source is not None
    namespace, name = infra_id.split("/")
    assert source.read_logs(infra_id).lines == ()  # no output yet

    cluster.run(namespace, name)
    cluster.print(namespace, name, "hello from the pod", "ünïcode ☃")
    first = source.read_logs(infra_id)
    assert [line.message for line in first.lines] == ["hello from the pod", "ünïcode ☃"]
    cluster.print(namespace, name, "bye")
    more = source.read_logs(infra_id, after=first.cursor)
    assert [line.message for line in more.lines] == ["bye"]
    assert source.read_logs(infra_id, after=more.cursor).lines == ()
    assert ("GET", f"/api/v1/namespaces/{namespace}/pods/{first.cursor.split(':')[0]}/log") in (
        cluster.requests
    )
