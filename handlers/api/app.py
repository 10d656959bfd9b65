"""The resolver, its error mapping, authentication, and the Lambda entry point.

Every answer that is not a success is JSON ``{"detail": ...}`` saying what to
fix, with the status the project's errors carry (``core.errors``).  Anything
else that escapes a route is a bug: it is logged with its traceback and
answered with a plain 500 that leaks nothing.

Requests are served concurrently (``handlers.api.resolver``): no lock is
held around a request, so a slow one never stalls health checks, polls or
claims; the store's conditional writes are what keep limits safe.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError

from core.errors import PushpoolError, Unauthorized
from core.services.auth import ANONYMOUS_ADMIN, Principal, authenticate
from handlers.api.body import decode_body
from handlers.api.request import request_scope
from handlers.api.resolver import ThreadSafeResolver
from handlers.api.routes import (
    deployments,
    flow_runs,
    logs,
    pool_types,
    prefect_compat,
    run_details,
    scheduled,
    tokens,
    ui,
    work_pools,
    work_queues,
    workers,
)
from handlers.aws import logs as lambda_logs
from handlers.aws.observability import traced_handler
from handlers.bootstrap import Container, bootstrap
from pushpool.defaults import DEFAULT_API_URL

log = logging.getLogger("pushpool.api")

PREFIX = "/api"
INTERNAL_ERROR = "internal error; the server log has the details"
PUBLIC = {("GET", "/api/health"), ("GET", "/api/docs"), ("GET", "/api/openapi.json")}
TITLE = "pushpool"
DESCRIPTION = (
    "Work pools, work queues, deployments and flow runs, shaped like Prefect's REST API. "
    "Every route but /api/health needs 'Authorization: Bearer <token>'."
)

resolver = ThreadSafeResolver(enable_validation=True)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
        headers=headers,
    )


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
    kind = error.get("type", "")
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if kind == "extra_forbidden":
        return f"{where}: unknown field; remove it"
    if kind == "missing" and where == "body":
        return "a JSON request body is required"
    return f"{where}: {error.get('msg', 'invalid')}"


def _error(error: Mapping[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in error.items() if k in {"loc", "msg", "type"}}
    if error.get("type") == "unknown_key":  # the key's own path, not its object's
        shown["loc"] = (*error.get("loc", ()), error["ctx"]["key"])
    return shown


def _errors(exc: RequestValidationError | ValidationError) -> list[dict[str, Any]]:
    return [_error(e) for e in exc.errors()]


def invalid_detail(exc: RequestValidationError | ValidationError, *, default: str) -> str:
    """The one-line ``detail`` of a 422 (also ``--with-worker``'s in-process API's)."""
    return "; ".join(dict.fromkeys(_describe(e) for e in _errors(exc))) or default


@resolver.exception_handler(RequestValidationError)
def _invalid_request(exc: RequestValidationError) -> Response[Any]:
    detail = invalid_detail(exc, default="invalid request")
    return _json(422, {"detail": detail, "errors": _errors(exc)})


@resolver.exception_handler(ValidationError)
def _invalid_value(exc: ValidationError) -> Response[Any]:
    detail = invalid_detail(exc, default="invalid value")
    return _json(422, {"detail": detail, "errors": _errors(exc)})


@resolver.exception_handler(PushpoolError)
def _domain_error(exc: PushpoolError) -> Response[Any]:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    body: dict[str, Any] = {"detail": exc.detail}
    if exc.retryable:
        body["retryable"] = True
    return _json(exc.status, body, headers)


@resolver.exception_handler(Exception)
def _bug(exc: Exception) -> Response[Any]:
    log.exception("unhandled error in the API", exc_info=exc)
    return _json(500, {"detail": INTERNAL_ERROR})


@resolver.not_found
def _no_route(exc: Exception) -> Response[Any]:
    event = resolver.current_event
    detail = f"no route {event.http_method} {event.path}; see {PREFIX}/docs"
    if not event.path.startswith(f"{PREFIX}/"):
        # The usual cause: an API URL set without its /api suffix.
        detail += (
            f". The API is served under {PREFIX}: does your API URL end in {PREFIX}? "
            f"(e.g. pushpool config set api-url {DEFAULT_API_URL})"
        )
    return _json(404, {"detail": detail})


@resolver.get(f"{PREFIX}/health", summary="Health check", tags=["Root"])
def health() -> bool:
    return True


def _openapi_json() -> str:
    # Powertools' OpenAPI models are a third of this module's import: they
    # are loaded by the two routes that need them, not at cold start (issue 16).
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer  # noqa: PLC0415

    return resolver.get_openapi_json_schema(
        title=TITLE,
        version="0.1.0",
        description=DESCRIPTION,
        security_schemes={"bearer": HTTPBearer()},
        security=[{"bearer": []}],
    )


@resolver.get(f"{PREFIX}/openapi.json", include_in_schema=False)
def openapi_document() -> Response[Any]:
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=_openapi_json()
    )


@resolver.get(f"{PREFIX}/docs", include_in_schema=False)
def swagger_ui() -> Response[str]:
    """Swagger UI with its script and style inline, as Powertools' ``enable_swagger``
    serves it, whose set-up would load the OpenAPI models at import."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui as assets  # noqa: PLC0415

    folder = Path(assets.__file__).parent
    html = assets.generate_swagger_html(
        _openapi_json().replace("</", "<\\/"),  # no "</script>" inside the page's script
        (folder / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (folder / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",
        None,
    )
    return Response(status_code=200, content_type="text/html", body=html)


for module in (
    work_pools,
    work_queues,
    workers,
    scheduled,
    deployments,
    flow_runs,
    tokens,
    pool_types,
    prefect_compat,
    run_details,
    logs,
):
    resolver.include_router(module.router, prefix=PREFIX)
resolver.include_router(ui.router)  # the web UI's static files, outside /api
resolver.prepare()


def _route_of(event: dict[str, Any]) -> tuple[str, str]:
    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or event.get("httpMethod") or "GET").upper()
    path = str(event.get("rawPath") or http.get("path") or "/")
    return method, path.rstrip("/") or "/"


def _is_public(method: str, path: str) -> bool:
    """Health, the API's docs, and every GET outside /api (the UI's static files)."""
    outside_api = path != PREFIX and not path.startswith(f"{PREFIX}/")
    return (method, path) in PUBLIC or (method == "GET" and outside_api)


def _principal(event: dict[str, Any], container: Container) -> Principal:
    if not container.settings.auth or _is_public(*_route_of(event)):
        return ANONYMOUS_ADMIN
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    key = container.settings.run_token_key
    return authenticate(
        container.store,
        headers.get("authorization"),
        now=container.clock(),
        signing_key=key if key is not None else _signing_key(container),
    )


def _signing_key(container: Container) -> bytes | None:
    try:
        return container.signing_key
    except PushpoolError:
        return None


def handle(event: dict[str, Any], context: Any = None, *, container: Container) -> dict[str, Any]:
    """Serve one API Gateway v2 event with ``container``'s store and settings."""
    try:
        event = decode_body(event)
        principal = _principal(event, container)
    except PushpoolError as exc:
        return _early_answer(exc)
    with request_scope(container, principal):
        return resolver.resolve(event, context)


def _early_answer(exc: PushpoolError) -> dict[str, Any]:
    """An error answer in API Gateway v2 form, for requests refused before routing."""
    headers = {"Content-Type": content_types.APPLICATION_JSON}
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return {
        "statusCode": exc.status,
        "headers": headers,
        "body": json.dumps({"detail": exc.detail}),
        "isBase64Encoded": False,
        "cookies": [],
    }


@traced_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point (API Gateway HTTP API, payload format 2.0)."""
    lambda_logs.configure()
    container = bootstrap()
    try:
        container.seed_admin_token()  # the stack's admin-token parameter, once per cold start
    except PushpoolError as exc:
        log.warning("the admin token parameter could not be used: %s", exc)
    return handle(event, context, container=container)
