"""An ASGI app that serves the API by turning each HTTP request into an API
Gateway HTTP API (payload 2.0) event for the very resolver Lambda runs.

One mechanism for local and cloud: whatever passes through here is exactly
what API Gateway would hand the Lambda, so local tests exercise the cloud
code path.  The resolver is synchronous; it runs in a worker thread so the
event loop keeps accepting connections.  The app has its own pool of
``API_THREADS`` threads: the default executor has cpu + 4, which the parked
long-polls (at most ``MAX_WAITERS``) would fill on a small machine.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from handlers.api.app import handle
from handlers.api.body import MAX_BODY_BYTES
from handlers.bootstrap import Container
from handlers.wakeups import MAX_WAITERS

# Every parked long-poll holds one; the rest serve everything else.
API_THREADS = MAX_WAITERS + 16

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


def _headers(scope: Scope) -> tuple[dict[str, str], list[str]]:
    """Headers as API Gateway passes them: lower-case, repeats comma-joined,
    cookies apart."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for raw_name, raw_value in scope.get("headers", []):
        key, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers, cookies


def to_event(scope: Scope, body: bytes) -> dict[str, Any]:
    """The API Gateway v2 event for one ASGI HTTP request."""
    headers, cookies = _headers(scope)
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope.get("path", "/")
    query = scope.get("query_string", b"").decode("latin-1")
    params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = f"{params[key]},{value}" if key in params else value
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    client = scope.get("client") or ("127.0.0.1", 0)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "local",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": scope.get("method", "GET"),
                "path": scope.get("path", "/"),
                "protocol": f"HTTP/{scope.get('http_version', '1.1')}",
                "sourceIp": client[0],
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if params:
        event["queryStringParameters"] = params
    if body:
        event["body"] = text
    return event


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    for raw_name, raw_value in scope.get("headers", []):
        if raw_name.lower() == b"content-length" and raw_value.isdigit() and int(raw_value) > limit:
            raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Send, response: dict[str, Any]) -> None:
    headers = [
        (str(k).lower().encode("latin-1"), str(v).encode("latin-1"))
        for k, v in (response.get("headers") or {}).items()
    ]
    for cookie in response.get("cookies") or []:
        headers.append((b"set-cookie", str(cookie).encode("latin-1")))
    body = response.get("body") or ""
    payload = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode("utf-8")
    await send(
        {"type": "http.response.start", "status": int(response["statusCode"]), "headers": headers}
    )
    await send({"type": "http.response.body", "body": payload})


class ApiApp:
    """The ASGI application: ``uvicorn.run(ApiApp(container))``."""

    def __init__(self, container: Container, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.container = container
        self.max_body_bytes = max_body_bytes
        self._executor = ThreadPoolExecutor(API_THREADS, thread_name_prefix="pushpool-api")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            body = await _read_body(scope, receive, self.max_body_bytes)
        except BodyTooLarge:
            detail = f"the request body is larger than {self.max_body_bytes} bytes"
            await _send(
                send,
                {
                    "statusCode": 413,
                    "headers": {"content-type": "application/json"},
                    "body": json.dumps({"detail": detail}),
                },
            )
            return
        event = to_event(scope, body)
        serve = functools.partial(handle, event, None, container=self.container)
        response = await asyncio.get_running_loop().run_in_executor(self._executor, serve)
        await _send(send, response)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
