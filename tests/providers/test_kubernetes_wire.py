"""What the kubernetes provider puts on the wire, the same with every client major the bounds allow.

The provider sends the manifest as the API's own JSON, so the API server
(here the fake, validating fields as a real one does) is the only judge of a
manifest, and a client major that models bodies differently changes nothing.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import socket
import ssl
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client

from core.errors import InfrastructureError
from core.models import FlowRun, WorkPool
from core.ports import InfraPhase
from core.services.jobs import build_job
from core.states import StateType, new_state
from providers.kubernetes import build_request, make_provider
from providers.registry import REGISTRY
from tests.fakes.http_fake import QuietHandler, loopback_server
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.providers.test_kubernetes import PREFECT_STYLE, job, simple, submit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def cluster():
    with FakeKubeApiServer() as fake:
        fake.namespaces.add("flows")
        yield fake


def provider_for(cluster: FakeKubeApiServer, **settings: Any):
    configuration = client.Configuration(host=cluster.host)
    for name, value in settings.items():
        setattr(configuration, name, value)
    return make_provider(configuration=configuration)


def default_template_job():
    """The Job the dispatcher builds for a run of a kubernetes pool with the default template."""
    pool = WorkPool(
        id="pool-id",
        name="k8s",
        type="kubernetes",
        base_job_template=REGISTRY.default_template("kubernetes"),
        default_queue_id="queue-id",
        created=NOW,
        updated=NOW,
    )
    run = FlowRun(
        id="run-id",
        name="brave-otter",
        flow_id="flow-id",
        work_pool_id="pool-id",
        work_pool_name="k8s",
        work_queue_id="queue-id",
        work_queue_name="default",
        state=new_state(StateType.PENDING, at=NOW),
        next_scheduled_start_time=NOW,
        job_variables={"command": "python -m flows.etl"},
        created=NOW,
        updated=NOW,
    )
    return build_job(pool=pool, run=run, deployment=None, api_url="http://api", run_token="t")


def test_the_default_template_passes_strict_field_validation_with_its_counts_in_the_job_spec(
    cluster,
):
    cluster.field_validation = "Strict"  # refuse unknown fields, as kubectl's default does
    provider = provider_for(cluster)

    infra_id = submit(provider, default_template_job())

    sent = cluster.received[-1]
    assert (sent["spec"]["parallelism"], sent["spec"]["completions"]) == (1, 1)
    pod_spec = sent["spec"]["template"]["spec"]
    assert not {"parallelism", "completions"} & set(pod_spec)
    assert pod_spec["containers"][0]["image"] == "python:3.12-slim"
    assert cluster.warnings == []
    assert provider.status(infra_id).phase is InfraPhase.PENDING


def test_fields_the_api_server_ignores_are_sent_as_written_and_its_warnings_logged(cluster, caplog):
    provider = provider_for(cluster)  # Prefect's template keeps the counts in the pod spec

    with caplog.at_level(logging.WARNING, logger="providers.kubernetes.api"):
        infra_id = submit(provider, job(PREFECT_STYLE))

    assert cluster.received[-1]["spec"]["template"]["spec"]["parallelism"] == 1
    assert 'unknown field "spec.template.spec.parallelism"' in caplog.text
    assert 'unknown field "spec.template.spec.completions"' in caplog.text
    assert provider.status(infra_id).phase is InfraPhase.PENDING


def test_a_strict_refusal_is_terminal_and_names_the_field(cluster):
    cluster.field_validation = "Strict"
    provider = provider_for(cluster)

    with pytest.raises(InfrastructureError) as raised:
        submit(provider, job(PREFECT_STYLE))

    assert raised.value.retryable is False
    assert 'unknown field "spec.template.spec.parallelism"' in str(raised.value)
    assert cluster.created == 0


def test_the_bearer_token_is_read_through_the_refresh_hook_on_every_request(cluster):
    tokens = iter(["first", "second", "third"])

    def refresh(configuration: Any) -> None:
        configuration.api_key = {"authorization": next(tokens)}

    provider = provider_for(
        cluster,
        api_key={"authorization": "expired"},
        api_key_prefix={"authorization": "Bearer"},
        refresh_api_key_hook=refresh,
    )

    infra_id = submit(provider, job(simple()))
    provider.status(infra_id)

    assert cluster.authorizations == ["Bearer first", "Bearer second", "Bearer third"]


def test_a_kubeconfig_token_reaches_the_api_server(cluster, tmp_path):
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
        f"clusters: [{{name: fake, cluster: {{server: '{cluster.host}'}}}}]\n"
        "users: [{name: worker, user: {token: t0k3n}}]\n"
        "contexts: [{name: fake, context: {cluster: fake, user: worker}}]\n"
    )

    submit(make_provider(kubeconfig=str(kubeconfig)), job(simple()))

    assert cluster.authorizations == ["Bearer t0k3n"]


def test_a_job_id_is_escaped_into_the_path_never_interpreted(cluster):
    provider = provider_for(cluster)

    status = provider.status("default/flow?labelSelector=x/../../pods")

    assert status.phase is InfraPhase.CRASHED
    assert cluster.requests == [
        ("GET", "/apis/batch/v1/namespaces/default/jobs/flow%3FlabelSelector%3Dx%2F..%2F..%2Fpods")
    ]


def test_an_api_server_that_never_answers_is_a_retryable_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        configuration = client.Configuration(host=f"http://127.0.0.1:{silent.getsockname()[1]}")
        configuration.retries = 0
        provider = make_provider(configuration=configuration, request_timeout=0.3)

        with pytest.raises(InfrastructureError) as raised:
            provider.status("default/flow-abc")

    assert raised.value.retryable is True
    assert "timed out" in str(raised.value).lower()


class _HtmlProxy(QuietHandler):
    def handle_method(self, method: str) -> None:
        self.read_body()
        page = b"<html>502 Bad Gateway</html>"
        code = 200 if method == "GET" else 502
        self.send_response(code)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


def test_a_proxy_answering_html_is_retryable_and_quoted():
    server = loopback_server(_HtmlProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}"
        provider = make_provider(configuration=client.Configuration(host=host))
        with pytest.raises(InfrastructureError) as on_create:
            submit(provider, job(simple()))
        with pytest.raises(InfrastructureError) as on_read:
            provider.status("default/flow-abc")
    finally:
        server.shutdown()
        server.server_close()

    assert on_create.value.retryable is True
    assert "(502): <html>502 Bad Gateway</html>" in str(on_create.value)
    assert on_read.value.retryable is True
    assert "without a JSON object" in str(on_read.value)


def test_the_request_is_the_manifest_build_request_made(cluster):
    request = build_request(job(PREFECT_STYLE))

    provider_for(cluster).submit(request, idempotency_key="k")

    assert cluster.received == [request.manifest]


@pytest.mark.parametrize(
    "text",
    ["just text", "[1, 2]", "a: [", "clusters: x\ncontexts: 3\ncurrent-context: c"],
    ids=["text", "list", "broken-yaml", "wrong-shapes"],
)
def test_a_file_that_is_not_a_kubeconfig_is_a_terminal_error_naming_it(tmp_path, text):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(text + "\n")

    with pytest.raises(InfrastructureError) as raised:
        make_provider(kubeconfig=str(kubeconfig)).status("default/flow-abc")

    assert raised.value.retryable is False
    assert f"no usable configuration ({kubeconfig})" in str(raised.value)


def test_a_failed_job_whose_pod_left_no_exit_code_is_crashed_with_the_jobs_reason(cluster):
    provider = provider_for(cluster)
    infra_id = submit(provider, job(simple()))
    namespace, name = infra_id.split("/")
    cluster.finish(namespace, name, 1)
    for pod in cluster.pods_of(namespace, name):
        del pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"]

    status = provider.status(infra_id)

    assert (status.phase, status.exit_code) == (InfraPhase.CRASHED, None)
    assert status.reason.startswith("BackoffLimitExceeded")


# -- TLS: the official client's connection settings, taken over as they are --------------------


def _certificate(name: str, key: Any, issuer: tuple[Any, Any] | None = None, *, ca: bool = False):
    """A certificate for ``name`` (and 127.0.0.1), self-signed or signed by ``issuer``."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_cert, issuer_key = issuer or (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        address = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        builder = builder.add_extension(x509.SubjectAlternativeName([address]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def tls_cluster(tmp_path):
    """The fake API server behind TLS that requires a client certificate, and the PEMs."""
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("ca", "server", "worker")}
    ca = _certificate("fake-ca", keys["ca"], ca=True)
    pem: dict[str, bytes] = {"ca": ca.public_bytes(serialization.Encoding.PEM)}
    for name in ("server", "worker"):
        cert = _certificate(name, keys[name], (ca, keys["ca"]))
        pem[name] = cert.public_bytes(serialization.Encoding.PEM)
        pem[f"{name}-key"] = keys[name].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    for name, data in pem.items():
        (tmp_path / f"{name}.pem").write_bytes(data)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=tmp_path / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server-key.pem")
    fake = FakeKubeApiServer()
    fake._server.socket = context.wrap_socket(fake._server.socket, server_side=True)
    with fake:
        yield fake, fake.host.replace("http://", "https://"), pem


def _kubeconfig(path: Any, server: str, pem: dict[str, bytes], *, with_ca: bool) -> str:
    user = {
        "client-certificate-data": base64.b64encode(pem["worker"]).decode(),
        "client-key-data": base64.b64encode(pem["worker-key"]).decode(),
    }
    cluster: dict[str, Any] = {"server": server}
    if with_ca:
        cluster["certificate-authority-data"] = base64.b64encode(pem["ca"]).decode()
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "tls", "cluster": cluster}],
                "users": [{"name": "worker", "user": user}],
                "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "worker"}}],
                "current-context": "tls",
            }
        )
    )
    return str(path)


def test_a_kubeconfigs_ca_and_client_certificate_open_a_tls_connection(tls_cluster, tmp_path):
    cluster, server, pem = tls_cluster
    provider = make_provider(kubeconfig=_kubeconfig(tmp_path / "kc", server, pem, with_ca=True))

    infra_id = submit(provider, job(simple()))

    assert provider.status(infra_id).phase is InfraPhase.PENDING
    assert cluster.created == 1


def test_a_server_certificate_nobody_vouches_for_is_a_terminal_error(tls_cluster, tmp_path):
    cluster, server, pem = tls_cluster
    provider = make_provider(kubeconfig=_kubeconfig(tmp_path / "kc", server, pem, with_ca=False))

    with pytest.raises(InfrastructureError) as raised:
        submit(provider, job(simple()))

    assert raised.value.retryable is False
    assert "certificate" in str(raised.value)
    assert cluster.created == 0
