"""The one place a request body is decoded and bounded, for Lambda and the
local server alike (``handlers.api.app.handle`` calls :func:`decode_body`
before routing).

The resolver answers a JSON body it cannot validate with a 422, but some
bodies broke it instead; each was a 500 found by fuzzing (issues 9 and 14):

* a content type other than JSON (``text/plain``, ``application/xml``, a
  ``multipart/form-data`` without a boundary) → 415; JSON is the only body
  the API reads.  Any ``+json`` type (``application/merge-patch+json``) is
  JSON: the event is handed on as ``application/json``, the one type the
  resolver's validation reads;
* JSON nested deeper than ``MAX_DEPTH`` levels → 422;
* a string holding a lone UTF-16 surrogate (``"\\ud800"``), valid JSON
  that no UTF-8 store or response can hold → 422;
* an integer longer than ``MAX_INT_DIGITS`` digits (Python refuses to even
  print one of 4,300), a number too large for a float (``1e400``), or the
  non-JSON constants ``NaN`` and ``Infinity`` → 422 naming the field;
* a body over ``MAX_BODY_BYTES`` → 413, on Lambda as on the local server
  (API Gateway itself would pass up to 10 MB).

Bounds that depend on the field (limits, priorities, datetimes) live in the
request schemas' shared types (``handlers.api.schemas.common``).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from typing import Any

from core.errors import InvalidInput, PushpoolError

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 100
JSON_TYPE = "application/json"


class UnsupportedMediaType(PushpoolError):
    status = 415


class BodyTooLarge(PushpoolError):
    status = 413


class _Unreadable:
    """A number the decoder refused, kept in place so its path can be named."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _content_type(event: dict[str, Any]) -> str:
    for name, value in (event.get("headers") or {}).items():
        if str(name).lower() == "content-type":
            return str(value).split(";", 1)[0].strip().lower()
    return ""


def _is_json(media_type: str) -> bool:
    return media_type in {"", JSON_TYPE} or media_type.endswith("+json")


def _text(event: dict[str, Any]) -> str:
    body = str(event["body"])
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("the request body is not UTF-8 JSON") from exc


def _integer(text: str) -> int | _Unreadable:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Unreadable(
            f"an integer of {digits} digits; integers may have at most {MAX_INT_DIGITS}"
        )
    return int(text)


def _float(text: str) -> float | _Unreadable:
    value = float(text)
    if math.isinf(value):
        return _Unreadable(f"{text[:40]} is too large for a number")
    return value


def _constant(text: str) -> _Unreadable:
    return _Unreadable(f"{text} is not a JSON number")


def _nodes(value: Any) -> Iterator[tuple[str, int, Any]]:
    """Every value in ``value`` with its dotted path and depth, without recursion."""
    stack: list[tuple[str, int, Any]] = [("", 1, value)]
    while stack:
        path, level, item = stack.pop()
        yield path, level, item
        if isinstance(item, dict):
            stack.extend((f"{path}.{k}" if path else str(k), level + 1, v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", level + 1, v) for i, v in enumerate(item))


def _check_value(value: Any) -> None:
    for path, level, item in _nodes(value):
        if level > MAX_DEPTH and isinstance(item, dict | list):
            raise InvalidInput(f"the request body nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, _Unreadable):
            raise InvalidInput(item.reason, path=path or "body")
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            "the request body holds a lone UTF-16 surrogate (such as \\ud800), "
            "which is not a character; send valid Unicode text"
        ) from exc


def _as_json_event(event: dict[str, Any], text: str) -> dict[str, Any]:
    """``event`` with its body as plain text typed ``application/json``."""
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    headers["content-type"] = JSON_TYPE
    return {**event, "headers": headers, "body": text, "isBase64Encoded": False}


def decode_body(event: dict[str, Any], *, limit: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The event the resolver may read, or the error a client can act on."""
    if not event.get("body"):  # whatever type it claims, no body is read as "no JSON"
        return _as_json_event(event, "") if _content_type(event) else event
    media_type = _content_type(event)
    if not _is_json(media_type):
        raise UnsupportedMediaType(
            f"the request body is {media_type!r}; send JSON with 'Content-Type: application/json'"
        )
    text = _text(event)
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        raise BodyTooLarge(f"the request body is larger than {limit} bytes")
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except RecursionError as exc:
        raise InvalidInput(f"the request body nests deeper than {MAX_DEPTH} levels") from exc
    except ValueError:
        return _as_json_event(event, text)  # the resolver answers malformed JSON with its 422
    _check_value(value)
    return _as_json_event(event, text)
