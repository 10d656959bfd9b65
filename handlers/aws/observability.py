"""Metrics (CloudWatch EMF) and traces (X-Ray) of the Lambda functions.

Metrics are written as Embedded Metric Format lines on stdout, so CloudWatch
turns log lines into metrics with no API call and no extra latency; the
alarms and the dashboard in ``template.yaml`` and ``infra/`` read them.
Namespace ``pushpool``, dimension ``function`` (dispatch, tick, infra_events):

* ``RunsAdmitted``, ``RunsSubmitted``, ``RunsCrashed``, ``ClaimConflicts``
  (Count) per dispatch pass;
* ``DispatchLatency`` (Milliseconds): from a run's scheduled time to its
  submission, once per submitted run (alarms use its p99);
* ``ProviderErrors`` (Count) with an ``ErrorType`` dimension, ``retryable``
  or ``terminal``;
* ``RunsCrashedByInfrastructure`` (Count): an infrastructure event ended a
  run CRASHED;
* ``TickCompleted`` (Count): one per tick; its absence is "tick not running".

``TracedProvider`` puts each provider call (submit, status, cancel,
read_logs) in its own X-Ray subsegment.  Powertools' Tracer imports the
X-Ray SDK (and with it botocore) when it is built, even when tracing is off,
which was half of every function's cold start (issue 16); so it is built
only where Powertools would trace: on Lambda, unless
``POWERTOOLS_TRACE_DISABLED`` says otherwise.  Elsewhere ``traced_handler``
and ``TracedProvider`` pass calls straight through.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from core.ports import LogSource, Provider
from core.services.dispatch import DispatchReport

NAMESPACE = "pushpool"

metrics = Metrics(namespace=NAMESPACE)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracing_enabled() -> bool:
    """Powertools' own rule (``Tracer._is_tracer_disabled``): trace on Lambda,
    not under SAM local or Chalice, unless ``POWERTOOLS_TRACE_DISABLED``."""
    if resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false")):
        return False
    on_lambda = bool(os.getenv("LAMBDA_TASK_ROOT"))
    emulated = bool(os.getenv("AWS_SAM_LOCAL") or os.getenv("AWS_CHALICE_CLI_MODE"))
    return on_lambda and not emulated


tracer: Tracer | None = Tracer() if tracing_enabled() else None


def traced_handler(handler: Handler) -> Handler:
    """``handler`` as an X-Ray segment where tracing is on; else itself."""
    if tracer is None:
        return handler
    traced = tracer.capture_lambda_handler(handler, capture_response=False)
    return functools.wraps(handler)(traced)  # type: ignore[return-value]


def record_dispatch(report: DispatchReport, *, now: datetime) -> None:
    """The metrics of one dispatch pass."""
    metrics.add_metric(name="RunsAdmitted", unit=MetricUnit.Count, value=report.admitted)
    metrics.add_metric(name="RunsSubmitted", unit=MetricUnit.Count, value=len(report.submitted))
    metrics.add_metric(name="RunsCrashed", unit=MetricUnit.Count, value=len(report.crashed))
    metrics.add_metric(name="ClaimConflicts", unit=MetricUnit.Count, value=report.claim_conflicts)
    for submitted in report.submitted:
        if submitted.due is not None:
            late_ms = max((now - submitted.due).total_seconds() * 1000, 0.0)
            metrics.add_metric(name="DispatchLatency", unit=MetricUnit.Milliseconds, value=late_ms)
    retryable = len(report.retry) + sum(1 for c in report.crashed if c.retryable)
    terminal = sum(1 for c in report.crashed if not c.retryable)
    for kind, count in (("retryable", retryable), ("terminal", terminal)):
        if count:
            provider_errors(kind, count)


def provider_errors(kind: str, count: int = 1) -> None:
    """``ProviderErrors`` with its own ``ErrorType`` dimension (a separate EMF line)."""
    with single_metric(
        name="ProviderErrors",
        unit=MetricUnit.Count,
        value=count,
        namespace=NAMESPACE,
        default_dimensions=metrics.default_dimensions,
    ) as metric:
        metric.add_dimension(name="ErrorType", value=kind)


def record_infrastructure_crash() -> None:
    """A run its infrastructure crashed (OOM-killed, failed to start, vanished)."""
    metrics.add_metric(name="RunsCrashedByInfrastructure", unit=MetricUnit.Count, value=1)


def record_tick() -> None:
    metrics.add_metric(name="TickCompleted", unit=MetricUnit.Count, value=1)


class TracedProvider:
    """A provider whose calls are X-Ray subsegments; everything else passes through."""

    def __init__(self, provider: Provider, pool_type: str) -> None:
        self._provider = provider
        self._type = pool_type

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)

    def _traced(self, call: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if tracer is None:
            return fn(*args, **kwargs)
        with tracer.provider.in_subsegment(f"## {self._type}.{call}") as segment:
            segment.put_annotation(key="pool_type", value=self._type)
            return fn(*args, **kwargs)

    def build_request(self, job: Any) -> Any:
        return self._provider.build_request(job)

    def submit(self, request: Any, *, idempotency_key: str) -> str:
        submit = self._provider.submit
        return str(self._traced("submit", submit, request, idempotency_key=idempotency_key))

    def status(self, infra_id: str) -> Any:
        return self._traced("status", self._provider.status, infra_id)

    def cancel(self, infra_id: str) -> None:
        self._traced("cancel", self._provider.cancel, infra_id)

    def read_logs(self, infra_id: str, *, after: str | None = None) -> Any:
        # Only reached when the wrapped provider declares ``supports_logs`` (core.ports.log_source).
        source = cast(LogSource, self._provider)
        return self._traced("read_logs", source.read_logs, infra_id, after=after)
