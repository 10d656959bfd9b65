"""A fake Kubernetes API server, for the official ``kubernetes`` client to talk to over HTTP.

It serves batch/v1 Jobs (create, read, delete) and core/v1 Pods (list by
label selector) with the API server's JSON shapes: defaulted Job specs,
``metadata.uid``/``resourceVersion``/``creationTimestamp``, the labels the
Job controller stamps on its pods, Job conditions, and ``Status`` objects
for errors (``AlreadyExists`` 409, ``NotFound`` 404, ``Invalid`` 422).
Unknown fields are judged by the request's ``fieldValidation`` as the real
server does (``kube_objects``): ``Strict`` refuses them (400), ``Warn`` (the
default; ``field_validation`` changes it for a test) drops them with a
``Warning`` header, ``Ignore`` drops them.  ``received`` keeps each Job body
as it arrived, ``warnings`` each warning sent, ``authorizations`` each
request's ``Authorization`` header.

Creating a Job also creates its first Pod, as the Job controller would.
What happens next is up to the test: ``run``, ``finish``, ``pull_backoff``,
``unschedulable``, ``vanish``.  Times come from an injectable clock so a
test can age a stuck pod past ``pod_watch_timeout_seconds``.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http_fake import QuietHandler, ServedFake, loopback_server
from tests.fakes.kube_objects import container_status, decoded, finished, pod_conditions

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "AlreadyExists",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_object(code: int, message: str, **details: Any) -> dict[str, Any]:
    """A ``v1.Status`` as the API server returns it for a failed request."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "Unknown"),
        "details": details,
        "code": code,
    }


class FakeKubeApiServer(ServedFake):
    """Cluster state (jobs, pods) plus the HTTP server that exposes it."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.namespaces: set[str] = {"default"}
        self.jobs: dict[tuple[str, str], dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.pod_logs: dict[tuple[str, str], list[str]] = {}  # (namespace, pod) -> output lines
        self.created = 0
        self.requests: list[tuple[str, str]] = []
        self.authorizations: list[str | None] = []
        self.failure: tuple[int, str] | None = None
        self.field_validation = "Warn"
        self.received: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self._versions = itertools.count(1000)
        self._lock = threading.RLock()
        server = loopback_server(_Handler)
        server.fake = self  # type: ignore[attr-defined]
        self._serve_in_background(server, poll_interval=0.05)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what the test drives ------------------------------------------------------

    def pods_of(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        return [
            p
            for (ns, _), p in self.pods.items()
            if ns == namespace and p["metadata"]["labels"].get("job-name") == job_name
        ]

    def print(self, namespace: str, job_name: str, *lines: str) -> None:
        """The job's (newest) pod writes ``lines`` to its container's output."""
        with self._lock:
            pod = max(self.pods_of(namespace, job_name), key=lambda p: p["metadata"]["name"])
            self.pod_logs.setdefault((namespace, pod["metadata"]["name"]), []).extend(lines)

    def read_log(self, namespace: str, pod: str) -> tuple[int, Any]:
        """``GET .../pods/{pod}/log``: the container's output as plain text."""
        with self._lock:
            if (namespace, pod) not in self.pods:
                return 404, status_object(404, f'pods "{pod}" not found', name=pod, kind="pods")
            return 200, "".join(f"{line}\n" for line in self.pod_logs.get((namespace, pod), []))

    def run(self, namespace: str, job_name: str) -> None:
        """The pod is scheduled, the image pulled, the container running."""
        now = _stamp(self.clock())
        with self._lock:
            for pod in self.pods_of(namespace, job_name):
                pod["status"] |= {
                    "phase": "Running",
                    "startTime": now,
                    "conditions": pod_conditions(now, ready=True),
                    "containerStatuses": [
                        container_status(pod, ready=True, state={"running": {"startedAt": now}})
                    ],
                }
            self._job(namespace, job_name)["status"] |= {"active": 1, "ready": 1}

    def finish(self, namespace: str, job_name: str, exit_code: int, *, reason: str = "") -> None:
        """The container exits; the Job controller records Complete or Failed."""
        now = _stamp(self.clock())
        terminated = {
            "exitCode": exit_code,
            "reason": reason or ("Completed" if exit_code == 0 else "Error"),
            "startedAt": now,
            "finishedAt": now,
            "containerID": "containerd://" + uuid.uuid4().hex,
        }
        with self._lock:
            for pod in self.pods_of(namespace, job_name):
                pod["status"] |= {
                    "phase": "Succeeded" if exit_code == 0 else "Failed",
                    "conditions": pod_conditions(now, ready=False),
                    "containerStatuses": [
                        container_status(pod, ready=False, state={"terminated": terminated})
                    ],
                }
            job = self._job(namespace, job_name)
            if exit_code == 0:
                job["status"] = finished(job, now, succeeded=True)
            else:
                job["status"] = finished(job, now, succeeded=False)

    def pull_backoff(
        self, namespace: str, job_name: str, *, reason: str = "ImagePullBackOff"
    ) -> None:
        with self._lock:
            for pod in self.pods_of(namespace, job_name):
                image = pod["spec"]["containers"][0]["image"]
                message = f'Back-off pulling image "{image}"'
                if reason == "ErrImagePull":
                    message = f'failed to pull and unpack image "{image}": not found'
                pod["status"]["containerStatuses"] = [
                    container_status(
                        pod, ready=False, state={"waiting": {"reason": reason, "message": message}}
                    )
                ]

    def unschedulable(self, namespace: str, job_name: str, message: str) -> None:
        now = _stamp(self.clock())
        with self._lock:
            for pod in self.pods_of(namespace, job_name):
                pod["status"]["conditions"] = [
                    {
                        "type": "PodScheduled",
                        "status": "False",
                        "lastProbeTime": None,
                        "lastTransitionTime": now,
                        "reason": "Unschedulable",
                        "message": message,
                    }
                ]

    def vanish(self, namespace: str, job_name: str) -> None:
        with self._lock:
            self.jobs.pop((namespace, job_name), None)
            for pod in self.pods_of(namespace, job_name):
                del self.pods[(namespace, pod["metadata"]["name"])]

    def collect_garbage(self) -> None:
        """Finish foreground deletions: the garbage collector's work."""
        with self._lock:
            for (ns, name), job in list(self.jobs.items()):
                if job["metadata"].get("deletionTimestamp"):
                    self.vanish(ns, name)

    def fail_with(self, code: int, message: str) -> None:
        self.failure = (code, message)

    def heal(self) -> None:
        self.failure = None

    # -- the API server's behaviour --------------------------------------------------

    def _job(self, namespace: str, name: str) -> dict[str, Any]:
        return self.jobs[(namespace, name)]

    def create_job(
        self, namespace: str, body: dict[str, Any], *, field_validation: str | None = None
    ) -> tuple[int, Any, list[str]]:
        """(status, response, warnings) for a POST of ``body``."""
        self.received.append(copy.deepcopy(body))
        body, problem, warnings = decoded(body, field_validation or self.field_validation)
        if problem:
            return 400, status_object(400, problem), []
        self.warnings += warnings
        with self._lock:
            refused = self._refusal(namespace, body)
            if refused is not None:
                return refused[0], refused[1], warnings
            job = self._defaulted(namespace, body)
            self.jobs[(namespace, job["metadata"]["name"])] = job
            self.created += 1
            self._start_pod(namespace, job)
            return 201, job, warnings

    def _refusal(self, namespace: str, body: dict[str, Any]) -> tuple[int, Any] | None:
        """Why a decoded Job cannot be created: missing namespace, invalid, or already there."""
        name = (body.get("metadata") or {}).get("name") or ""
        if namespace not in self.namespaces:
            message = f'namespaces "{namespace}" not found'
            return 404, status_object(404, message, name=namespace, kind="namespaces")
        problem = _invalid_job(name, body)
        if problem:
            message = f'Job.batch "{name}" is invalid: {problem}'
            return 422, status_object(422, message, name=name, group="batch", kind="Job")
        if (namespace, name) in self.jobs:
            message = f'jobs.batch "{name}" already exists'
            return 409, status_object(409, message, name=name, group="batch", kind="jobs")
        return None

    def _defaulted(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        job = copy.deepcopy(body)
        uid = str(uuid.uuid4())
        name = job["metadata"]["name"]
        job["metadata"] |= {
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": str(next(self._versions)),
            "generation": 1,
            "creationTimestamp": _stamp(self.clock()),
        }
        job["metadata"].setdefault("labels", {})
        spec = job["spec"]
        for key, value in {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 6,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "manualSelector": False,
        }.items():
            spec.setdefault(key, value)
        controller = {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid}
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        meta = spec["template"].setdefault("metadata", {})
        meta["labels"] = {
            **(meta.get("labels") or {}),
            **controller,
            "batch.kubernetes.io/job-name": name,
            "job-name": name,
        }
        job["status"] = {
            "active": 1,
            "ready": 0,
            "startTime": job["metadata"]["creationTimestamp"],
            "uncountedTerminatedPods": {},
        }
        return job

    def _start_pod(self, namespace: str, job: dict[str, Any]) -> None:
        name = f"{job['metadata']['name']}-{uuid.uuid4().hex[:5]}"
        template = job["spec"]["template"]
        self.pods[(namespace, name)] = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "generateName": f"{job['metadata']['name']}-",
                "namespace": namespace,
                "uid": str(uuid.uuid4()),
                "resourceVersion": str(next(self._versions)),
                "creationTimestamp": _stamp(self.clock()),
                "labels": dict(template["metadata"]["labels"]),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job["metadata"]["name"],
                        "uid": job["metadata"]["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": copy.deepcopy(template["spec"]),
            "status": {"phase": "Pending", "qosClass": "BestEffort"},
        }

    def delete_job(self, namespace: str, name: str, policy: str) -> tuple[int, Any]:
        with self._lock:
            job = self.jobs.get((namespace, name))
            if job is None:
                return 404, status_object(
                    404, f'jobs.batch "{name}" not found', name=name, group="batch", kind="jobs"
                )
            if policy == "Foreground":
                job["metadata"] |= {
                    "deletionTimestamp": _stamp(self.clock()),
                    "deletionGracePeriodSeconds": 0,
                    "finalizers": ["foregroundDeletion"],
                }
                return 200, job
            self.vanish(namespace, name)
            return 200, {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": {
                    "name": name,
                    "group": "batch",
                    "kind": "jobs",
                    "uid": job["metadata"]["uid"],
                },
            }

    def list_pods(self, namespace: str, selector: str) -> tuple[int, Any]:
        match = _selector(selector)
        with self._lock:
            items = [
                copy.deepcopy(p)
                for (ns, _), p in self.pods.items()
                if ns == namespace and match(p["metadata"].get("labels") or {})
            ]
        return 200, {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(next(self._versions))},
            "items": items,
        }


def _invalid_job(name: str, body: dict[str, Any]) -> str:
    if body.get("apiVersion") != "batch/v1" or body.get("kind") != "Job":
        return f"kind: Invalid value: {body.get('kind')!r}: must be batch/v1 Job"
    if not name or len(name) > 63 or not DNS1123_SUBDOMAIN.fullmatch(name):
        return (
            f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist '
            "of lower case alphanumeric characters, '-' or '.', and must start and end with an "
            "alphanumeric character"
        )
    pod_spec = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    if not pod_spec.get("containers"):
        return "spec.template.spec.containers: Required value"
    if pod_spec.get("restartPolicy") not in {"Never", "OnFailure"}:
        return (
            f'spec.template.spec.restartPolicy: Unsupported value: "{pod_spec.get("restartPolicy")}": '
            'supported values: "OnFailure", "Never"'
        )
    for index, container in enumerate(pod_spec["containers"]):
        if not container.get("name") or not container.get("image"):
            return f"spec.template.spec.containers[{index}].image: Required value"
    return ""


def _selector(text: str) -> Callable[[dict[str, str]], bool]:
    """Equality-based label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a``, ``!a``."""
    tests: list[Callable[[dict[str, str]], bool]] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            tests.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif "=" in term:
            key, value = re.split("==?", term, maxsplit=1)
            tests.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif term.startswith("!"):
            tests.append(lambda labels, k=term[1:]: k not in labels)
        else:
            tests.append(lambda labels, k=term: k in labels)
    return lambda labels: all(test(labels) for test in tests)


class _Handler(QuietHandler):
    def handle_method(self, method: str) -> None:
        fake: FakeKubeApiServer = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw = self.read_body()
        body = json.loads(raw) if raw else {}
        fake.requests.append((method, url.path))
        fake.authorizations.append(self.headers.get("Authorization"))
        if fake.failure is not None:
            code, message = fake.failure
            return self._send(code, status_object(code, message))
        jobs = re.fullmatch(r"/apis/batch/v1/namespaces/([^/]+)/jobs(?:/([^/]+))?", url.path)
        pods = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", url.path)
        log = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", url.path)
        if log and method == "GET":
            code, answer = fake.read_log(log.group(1), log.group(2))
            return self._send_text(code, answer) if code == 200 else self._send(code, answer)
        if jobs and method == "POST" and not jobs.group(2):
            return self._send(
                *fake.create_job(jobs.group(1), body, field_validation=query.get("fieldValidation"))
            )
        if jobs and jobs.group(2) and method == "GET":
            job = fake.jobs.get((jobs.group(1), jobs.group(2)))
            if job is None:
                name = jobs.group(2)
                return self._send(
                    404,
                    status_object(
                        404, f'jobs.batch "{name}" not found', name=name, group="batch", kind="jobs"
                    ),
                )
            return self._send(200, job)
        if jobs and jobs.group(2) and method == "DELETE":
            policy = (
                query.get("propagationPolicy")
                or (body or {}).get("propagationPolicy")
                or "Background"
            )
            return self._send(*fake.delete_job(jobs.group(1), jobs.group(2), policy))
        if pods and method == "GET":
            return self._send(*fake.list_pods(pods.group(1), query.get("labelSelector", "")))
        self._send(404, status_object(404, "the server could not find the requested resource"))

    def _send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, code: int, payload: Any, warnings: list[str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        for warning in warnings or []:
            self.send_header("Warning", f"299 - {json.dumps(warning)}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
