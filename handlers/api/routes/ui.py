"""The web UI's static files, served by the same resolver as the API.

One Lambda answers ``GET /`` and ``GET /{proxy+}`` behind API Gateway (see
template.yaml) and ``pushpool server`` runs the same code locally, so the UI
needs no bucket, CDN or second server.  The UI is plain ES modules and CSS
(``handlers/ui``); its pages are hash routes (``/#/pools/x``), so ``/`` is the
only HTML document and deep links never reach the server.

Static files need no token (they hold no data) and are sent with a strict
Content-Security-Policy: the UI keeps an API token in session storage, so no
script but its own may run on the page.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from core.errors import NotFound
from handlers.api.request import name

router = APIGatewayHttpRouter()

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class StaticFile:
    body: str
    content_type: str
    etag: str


@cache
def static_file(relative: str) -> StaticFile:
    """A file of ``handlers/ui`` (read once per process), or ``NotFound``."""
    suffix = relative[relative.rfind(".") :] if "." in relative else ""
    content_type = CONTENT_TYPES.get(suffix)
    unsafe = ".." in relative or relative.startswith("/") or not relative.isprintable()
    if content_type is None or unsafe:
        raise NotFound(f"no UI file {relative!r}")
    path = resources.files("handlers").joinpath("ui", *relative.split("/"))
    try:
        body = path.read_text("utf-8")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        raise NotFound(f"no UI file {relative!r}") from exc
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:20] + '"'
    return StaticFile(body=body, content_type=content_type, etag=etag)


def _serve(relative: str) -> Response[str | None]:
    found = static_file(relative)
    headers = {
        **SECURITY_HEADERS,
        "ETag": found.etag,
        "Cache-Control": "no-cache",
        "Vary": "Accept-Encoding",
    }
    if_none_match = router.current_event.headers.get("if-none-match", "")
    if found.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers, body=None)
    return Response(
        status_code=200, content_type=found.content_type, body=found.body, headers=headers
    )


@router.get("/", include_in_schema=False, compress=True)
def index() -> Response[str | None]:
    return _serve("index.html")


@router.get("/assets/<file_name>", include_in_schema=False, compress=True)
def asset(file_name: str) -> Response[str | None]:
    return _serve(f"assets/{name(file_name)}")
