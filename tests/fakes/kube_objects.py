"""Kubernetes object shapes for the fake API server: known Job fields, controller statuses.

A real API server decodes a request body against its schema (here API 1.33)
and, by the request's ``fieldValidation`` (``Strict``, ``Warn`` — the
default — or ``Ignore``), refuses unknown fields, drops them with a
``Warning`` header, or drops them silently (``decoded``).  The fake checks
the levels a pushpool manifest fills: the Job, its spec, the pod template,
the pod spec and its containers.

``pod_conditions``, ``container_status`` and ``finished`` are the status
blocks the kubelet and the Job controller write.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

JOB = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
JOB_SPEC = frozenset(
    {
        "activeDeadlineSeconds",
        "backoffLimit",
        "backoffLimitPerIndex",
        "completionMode",
        "completions",
        "managedBy",
        "manualSelector",
        "maxFailedIndexes",
        "parallelism",
        "podFailurePolicy",
        "podReplacementPolicy",
        "selector",
        "successPolicy",
        "suspend",
        "template",
        "ttlSecondsAfterFinished",
    }
)
POD_TEMPLATE = frozenset({"metadata", "spec"})
POD_SPEC = frozenset(
    {
        "activeDeadlineSeconds",
        "affinity",
        "automountServiceAccountToken",
        "containers",
        "dnsConfig",
        "dnsPolicy",
        "enableServiceLinks",
        "ephemeralContainers",
        "hostAliases",
        "hostIPC",
        "hostNetwork",
        "hostPID",
        "hostUsers",
        "hostname",
        "imagePullSecrets",
        "initContainers",
        "nodeName",
        "nodeSelector",
        "os",
        "overhead",
        "preemptionPolicy",
        "priority",
        "priorityClassName",
        "readinessGates",
        "resourceClaims",
        "resources",
        "restartPolicy",
        "runtimeClassName",
        "schedulerName",
        "schedulingGates",
        "securityContext",
        "serviceAccount",
        "serviceAccountName",
        "setHostnameAsFQDN",
        "shareProcessNamespace",
        "subdomain",
        "terminationGracePeriodSeconds",
        "tolerations",
        "topologySpreadConstraints",
        "volumes",
    }
)
CONTAINER = frozenset(
    {
        "args",
        "command",
        "env",
        "envFrom",
        "image",
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "name",
        "ports",
        "readinessProbe",
        "resizePolicy",
        "resources",
        "restartPolicy",
        "securityContext",
        "startupProbe",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "volumeMounts",
        "workingDir",
    }
)
VALIDATION_LEVELS = ("Ignore", "Warn", "Strict")


def unknown_fields(job: dict[str, Any]) -> list[tuple[dict[str, Any], str, str]]:
    """``(object, key, dotted path)`` of every field the schema does not know, in body order."""
    found: list[tuple[dict[str, Any], str, str]] = []

    def check(obj: Any, known: frozenset[str], path: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            return {}
        found.extend((obj, key, f"{path}{key}") for key in obj if key not in known)
        return obj

    spec = check(check(job, JOB, "").get("spec"), JOB_SPEC, "spec.")
    template = check(spec.get("template"), POD_TEMPLATE, "spec.template.")
    pod = check(template.get("spec"), POD_SPEC, "spec.template.spec.")
    for kind in ("initContainers", "containers"):
        for index, container in enumerate(pod.get(kind) or []):
            check(container, CONTAINER, f"spec.template.spec.{kind}[{index}].")
    return found


def decoded(body: dict[str, Any], level: str) -> tuple[dict[str, Any], str, list[str]]:
    """(body without unknown fields, why it is refused, warnings) under ``fieldValidation``."""
    if level not in VALIDATION_LEVELS:
        return body, f'fieldValidation: Unsupported value: "{level}"', []
    body = copy.deepcopy(body)
    unknown = unknown_fields(body)
    if unknown and level == "Strict":
        fields = ", ".join(f'unknown field "{path}"' for _, _, path in unknown)
        return (
            body,
            f'Job in version "v1" cannot be handled as a Job: strict decoding error: {fields}',
            [],
        )
    for obj, key, _ in unknown:
        del obj[key]
    return body, "", [f'unknown field "{path}"' for _, _, path in unknown if level == "Warn"]


def pod_conditions(now: str, *, ready: bool) -> list[dict[str, Any]]:
    flag = "True" if ready else "False"
    return [
        {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
        for kind, status in (
            ("Initialized", "True"),
            ("Ready", flag),
            ("ContainersReady", flag),
            ("PodScheduled", "True"),
        )
    ]


def container_status(pod: dict[str, Any], *, ready: bool, state: dict[str, Any]) -> dict[str, Any]:
    container = pod["spec"]["containers"][0]
    pulled = "waiting" not in state
    return {
        "name": container["name"],
        "image": container["image"],
        "imageID": f"docker.io/{container['image']}@sha256:{'2' * 64}" if pulled else "",
        "ready": ready,
        "restartCount": 0,
        "started": "running" in state,
        "state": state,
        "lastState": {},
        **({"containerID": "containerd://" + uuid.uuid4().hex} if pulled else {}),
    }


def finished(job: dict[str, Any], now: str, *, succeeded: bool) -> dict[str, Any]:
    if succeeded:
        conditions = [
            (
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ),
            ("Complete", "CompletionsReached", "Reached expected number of succeeded pods"),
        ]
    else:
        conditions = [
            (
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ),
            ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
        ]
    status: dict[str, Any] = {
        "startTime": job["status"].get("startTime"),
        "ready": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            {
                "type": kind,
                "status": "True",
                "lastProbeTime": now,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }
            for kind, reason, message in conditions
        ],
    }
    if succeeded:
        status |= {"succeeded": 1, "completionTime": now}
    else:
        status |= {"failed": 1}
    return status
